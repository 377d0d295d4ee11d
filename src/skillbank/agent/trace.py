"""Traces: each episode's turns as JSONL in a run directory, plus the run's config and
summary.

Layout: ``<runs_dir>/<run_id>/config.json``, ``episodes.jsonl`` (one episode per line,
appended as each task ends, so a crashed run keeps what it finished) and
``summary.json`` (written last: its absence marks an unfinished run). A run that stops on
an error or Ctrl-C gets ``failed.json`` instead (the error, or ``interrupted``), so it is
listed as failed rather than as a run still going.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillbank.agent.operations import Operation
from skillbank.bounded import bounded_jsonable
from skillbank.errors import ConfigError, NotFoundError, ValidationError
from skillbank.redact import redact, redact_text


@dataclass(frozen=True)
class TurnTrace:
    index: int
    prompt_tokens: int
    completion_tokens: int
    prompt_chars: int
    reply: str
    code: str | None
    ok: bool | None  # None: no code ran
    observation: str
    error: str | None
    api_calls: tuple[dict[str, Any], ...]
    operations: tuple[Operation, ...]
    policy_latency_s: float
    exec_duration_s: float
    #: Calls of preloaded skills, as the sandbox's parent saw them pass between workers
    #: (`SkillCallRecord` as dicts): what the RL reward's "used" is decided from.
    skill_calls: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class EpisodeTrace:
    episode_id: str
    run_id: str
    task_id: str
    scenario_id: str
    index_in_scenario: int
    instruction: str
    retrieved: tuple[str, ...]  # refs name@version offered by retrieval
    loaded: tuple[str, ...]  # names that preloaded cleanly (the rest were dropped)
    dropped: tuple[str, ...]
    turns: tuple[TurnTrace, ...]
    stop_reason: str  # completed | max_steps | token_budget | repeated
    self_reported: str | None  # the status complete_task was called with, if it was
    saved: tuple[str, ...]  # refs of the versions this episode saved
    prompt_tokens: int
    completion_tokens: int
    duration_s: float
    success: bool | None = None  # the world's grade, filled in by the runner afterwards
    grade_fraction: float | None = None
    save_errors: tuple[str, ...] = ()  # candidates that were not storable skills, and why
    grade_tests: tuple[dict[str, Any], ...] | None = None  # per-check results, when recorded
    system_prompt: str | None = None  # as the policy saw it, injected skills included
    start_message: str | None = None  # the first user message (the task)

    @property
    def steps(self) -> int:
        return len(self.turns)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def operations(self) -> list[Operation]:
        return [op for t in self.turns for op in t.operations]

    def to_dict(self) -> dict[str, Any]:
        # Turns hold agent data (code, output, API arguments): converted with bounds,
        # so no shape the agent chose can stop a run from writing its trace.
        return {**bounded_jsonable(self, **_TRACE_LIMITS), "steps": self.steps, "tokens": self.tokens}


#: Traces keep what the sandbox returned (already capped in size); these limits only
#: stop pathological shapes: nesting, and work beyond any real episode.
_TRACE_LIMITS = {"max_depth": 48, "max_items": 100_000, "max_str": 8 << 20, "max_nodes": 20_000_000}


def new_run_id() -> str:
    """Sortable by time, unique across processes."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


class RunWriter:
    """Writes one run directory."""

    def __init__(self, runs_dir: str | Path, run_id: str):
        _check_run_id(run_id)
        self.dir = Path(runs_dir) / run_id
        if self.dir.exists():
            raise ValidationError(f"run directory {self.dir} already exists; pick another run id")
        try:
            self.dir.mkdir(parents=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the run directory {str(self.dir)!r}: {exc.strerror}") from None

    def write_config(self, config: dict[str, Any]) -> None:
        # A library or model URL may hold a password: never written (issue 27).
        _write_json(self.dir / "config.json", redact(config))

    def append_episode(self, episode: EpisodeTrace) -> None:
        with open(self.dir / "episodes.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(episode.to_dict(), default=_default) + "\n")

    def write_summary(self, summary: dict[str, Any]) -> None:
        _write_json(self.dir / "summary.json", summary)


def mark_failed(run_dir: str | Path, error: BaseException | str, *, interrupted: bool = False) -> None:
    """Record in `run_dir` that its run stopped early (error or Ctrl-C). Best effort:
    it must never hide the original error."""
    path = Path(run_dir)
    if not (path / "config.json").exists() or (path / "summary.json").exists():
        return
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    try:
        _write_json(path / "failed.json", {
            "status": "interrupted" if interrupted else "failed",
            "error": redact_text(" ".join(str(message).split())[:2000]),
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        })
    except OSError:
        pass


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_default) + "\n", encoding="utf-8")
    tmp.replace(path)


def _default(obj: Any) -> Any:
    # Traces hold plain values, str-enums and the odd record or path from a config.
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return bounded_jsonable(obj, **_TRACE_LIMITS)
    if isinstance(obj, (Path, dt.datetime)):
        return str(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return bounded_jsonable(obj, **_TRACE_LIMITS)
    raise TypeError(f"cannot write {type(obj).__name__} to a trace")


def _check_run_id(run_id: str) -> None:
    if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith("."):
        raise ValidationError(f"invalid run id {run_id!r}: use letters, digits, '-' and '_'")


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    path: Path
    config: dict[str, Any]
    summary: dict[str, Any] | None  # None: the run did not finish
    episodes: int
    failure: dict[str, Any] | None = None  # failed.json: why the run stopped early

    @property
    def status(self) -> str:
        """finished, failed, interrupted, or unfinished (running, or killed outright)."""
        if self.summary is not None:
            return "finished"
        if self.failure is not None:
            return str(self.failure.get("status", "failed"))
        return "unfinished"


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip())


def list_runs(runs_dir: str | Path) -> list[RunRecord]:
    """Runs in `runs_dir`, newest first. A missing directory holds no runs."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    runs = []
    for d in root.iterdir():
        if d.is_dir() and (d / "config.json").exists():
            runs.append(RunRecord(d.name, d, _read_json(d / "config.json") or {},
                                  _read_json(d / "summary.json"), _count_lines(d / "episodes.jsonl"),
                                  _read_json(d / "failed.json")))
    return sorted(runs, key=lambda r: r.run_id, reverse=True)


def _latest_offset(run_id: str) -> int | None:
    """``latest`` -> 0, ``latest~N`` -> N; anything else -> None (an id or a prefix)."""
    if run_id == "latest":
        return 0
    head, sep, n = run_id.partition("~")
    if head == "latest" and sep and n.isdigit():
        return int(n)
    return None


def pick_run(runs: list[RunRecord], run_id: str, *, where: str, hint: str = "") -> RunRecord:
    """The one run of `runs` (newest first) that `run_id` names: ``latest``, ``latest~N``,
    an id or a unique prefix of one; a clear error naming `where` otherwise."""
    back = _latest_offset(run_id)
    if back is not None:
        matches = runs[back:back + 1]
        if not matches and runs:
            raise NotFoundError(f"no run {run_id!r}: {where} holds {len(runs)} run(s), so latest~{len(runs) - 1} "
                                "is the oldest")
    else:
        matches = [r for r in runs if r.run_id == run_id] or [r for r in runs if r.run_id.startswith(run_id)]
    if not matches:
        raise NotFoundError(f"no run {run_id!r} in {where}{hint}")
    if len(matches) > 1:
        raise ValidationError(f"run id prefix {run_id!r} is ambiguous: {', '.join(r.run_id for r in matches[:5])}")
    return matches[0]


def load_run(runs_dir: str | Path, run_id: str) -> tuple[RunRecord, list[dict[str, Any]]]:
    """A run's record and its episodes (as plain dicts). `run_id` may be a unique prefix
    or ``latest``, or ``latest~N`` (the run N before the latest)."""
    record = pick_run(list_runs(runs_dir), run_id, where=str(runs_dir), hint=" (see `skillbank runs ls`)")
    episodes = []
    path = record.path / "episodes.jsonl"
    if path.exists():
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        episodes.append(json.loads(line))
                    except json.JSONDecodeError:
                        raise ValidationError(f"{path} line {n} is not valid JSON") from None
    return record, episodes
