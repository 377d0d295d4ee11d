"""`skillbank data …`: training data built from the built-in world."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from skillbank.console import console, emit, err_console
from skillbank.console import table as new_table
from skillbank.errors import ValidationError

app = typer.Typer(no_args_is_help=True)


def _token_counter() -> tuple[Any, str]:
    """The local model's tokenizer when the local extra and its converted checkpoint are
    at hand; else the shared estimate (1 token per 4 characters), named as such."""
    try:
        import transformers

        from skillbank.llm.model_files import ensure_checkpoint

        tokenizer = transformers.AutoTokenizer.from_pretrained(str(ensure_checkpoint()))
    except Exception:  # noqa: BLE001 - any failure falls back to the estimate, which the report names
        from skillbank.llm.base import estimate_tokens

        return estimate_tokens, "estimate (1 token per 4 characters; the local extra is not usable)"
    return (lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])), "gemma-3-270m"


def _render(data: dict[str, Any]) -> None:
    table = new_table(title=f"SFT data: {data['records']} records → {data['path']}", show_header=False)
    table.add_column("figure", style="bold")
    table.add_column("value", justify="right")
    table.add_row("episodes played / failed / duplicates",
                  f"{data['episodes']} / {data['failed_episodes']} / {data['duplicates']}")
    for skipped in data["skipped_seeds"]:
        table.add_row(f"seed {skipped['seed']} skipped", skipped["reason"])
    table.add_row("records / replies (carry loss)", f"{data['records']} / {data['replies']}")
    table.add_row("by variant", ", ".join(f"{k} {v}" for k, v in data["by_variant"].items()))
    table.add_row("by operation", ", ".join(f"{k} {v}" for k, v in data["by_operation"].items()))
    table.add_row("by task position", ", ".join(f"#{int(k) + 1}: {v}" for k, v in data["by_index_in_scenario"].items()))
    for key in ("record_tokens", "reply_tokens", "observation_tokens"):
        s = data[key]
        table.add_row(key.replace("_", " ") + " (min/median/p90/max)",
                      f"{s['min']} / {s['median']:.0f} / {s['p90']} / {s['max']}")
    table.add_row("tokenizer", data["tokenizer"])
    console.print(table)


@app.command("sft", help="Expert episodes played through the real agent loop, as chat records for SFT.")
def sft(
    out: Annotated[str, typer.Option("--out", help="Directory for records.jsonl and report.json.")],
    split: Annotated[str, typer.Option("--split", help="World split to play.")] = "train",
    seeds: Annotated[str, typer.Option("--seeds", help="World seeds, e.g. 0-9 or 0,3,5-7 (from TRAIN_SEEDS).")] = "0-9",
    variants: Annotated[str, typer.Option("--variants", help="skills, no-skills or both (comma-separated).")] = "skills,no-skills",
    limit: Annotated[int | None, typer.Option("--limit", help="Tasks per seed (in scenario order).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    from skillbank.train.sft_data import build_sft_records, parse_seeds, report, write_sft

    if split in ("dev", "test_normal", "test_challenge"):
        raise ValidationError(f"--split {split}: SFT data comes from the train split; {split} is held out for evaluation")
    seed_list = parse_seeds(seeds)
    variant_list = tuple(v.strip() for v in variants.split(",") if v.strip())
    with err_console.status("playing the expert…") as status:
        def on_seed(seed: int, variant: str, n: int) -> None:
            status.update(f"seed {seed} ({variant}): {n} episodes")

        records, counts = build_sft_records(split, seed_list, variants=variant_list, limit=limit,
                                            on_seed=None if as_json else on_seed)
    count, name = _token_counter()
    data = report(records, counts, count, tokenizer_name=name)
    data = {**data, "split": split, "seeds": seed_list, "variants": list(variant_list)}
    path = write_sft(records, data, out)
    emit({**data, "path": str(path)}, as_json, _render)
