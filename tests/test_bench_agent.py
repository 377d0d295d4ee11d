"""`skillbank bench agent`: shape of the result, the second run re-encodes nothing, and
the CLI prints one JSON object."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from skillbank.bench.agent import run_bench
from skillbank.cli import main


class FakeEmbedder:
    """384-dimensional hashed bag of words, so the bench runs without the model."""

    cache_key = "test/fake-384"

    def __init__(self) -> None:
        self.calls = 0

    def check_available(self) -> None:
        return None

    def load(self) -> None:
        return None

    def encode(self, texts):
        self.calls += len(texts)
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, int(hashlib.sha256(word.encode()).hexdigest(), 16) % 384] += 1.0
            out[row, 0] += 0.01
        return out


def test_rows_for_every_mode_and_size_with_baseline_and_second_run() -> None:
    result = run_bench(sizes=[60, 120], modes=["same-scenario", "query-ngram", "query-embedding"], tasks=3,
                       real_encode=7, baseline_samples=1, embedder=FakeEmbedder())  # type: ignore[arg-type]
    assert result["bench"] == "agent" and result["errors"] == {}
    rows = {(r["mode"], r["size"]): r for r in result["rows"]}
    assert set(rows) == {(m, s) for m in ("same-scenario", "query-ngram", "query-embedding") for s in (60, 120)}
    for (mode, size), row in rows.items():
        assert row["per_task"]["n"] == 3
        assert row["per_task"]["min_ms"] <= row["per_task"]["median_ms"] <= row["per_task"]["max_ms"]
        assert 0 < row["visible_versions"] < size
        if mode == "query-embedding":
            # exactly the versions left without a persisted vector were encoded, once
            assert row["vectors"]["real_model"] == 7 and row["first_task_encoded"] == 7
            assert row["second_run_encoded"] == 0
            assert "full_rebuild_per_task" not in row
        else:
            assert row["first_task_encoded"] == 0 and "meets_target" in row
            assert row["full_rebuild_per_task"]["n"] == 1 and row["speedup_vs_full_rebuild"] > 0
    assert set(result["library_build_ms"]) == {"60", "120"}
    assert "extrapolation" in result["embedding"]["note"]


def test_cli_prints_one_json_object(capsys) -> None:
    code = main(["bench", "agent", "--sizes", "50", "--modes", "same-scenario", "--tasks", "2", "--json"])
    assert code in (0, None)
    data = json.loads(capsys.readouterr().out)
    assert data["bench"] == "agent" and data["rows"][0]["size"] == 50
    assert all(k.endswith("_ms") or k == "n" for k in data["rows"][0]["per_task"])


def test_bad_arguments_are_one_line_errors(capsys) -> None:
    code = main(["bench", "agent", "--sizes", "ten", "--json"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and "--sizes" in err
    code = main(["bench", "agent", "--sizes", "100", "--modes", "bogus", "--json"])
    assert code == 1 and "bogus" in capsys.readouterr().err
