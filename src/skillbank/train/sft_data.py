"""SFT data from expert experience: the scripted expert plays a split through the real
agent loop (real sandbox, real store, real retrieval), and every successful episode
becomes one chat record holding exactly the messages the agent rendered for the policy.

Why through the loop: the system prompt, the retrieved skills (their inline sources or
signatures), the observations (clipped as `skillbank.agent.prompt` clips them) and the
error notes are the agent's own text, so the model is trained on precisely what it reads
at run time. A record's prompt for its n-th reply is ``render_prompt(messages[:i])``
where message i is that reply; `record_turns` gives these pairs and the round-trip test
compares them with the prompts the agent actually sent.

Scenario chains run in order on one library per (seed, variant), so task 1 of a
scenario *creates* its skills and tasks 2-3 *use* them; the ``no-skills`` variant plays
every task with an empty library (the ablation), which yields more create episodes.
Identical records (same rendered text) are kept once.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import statistics
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from skillbank.errors import ValidationError
from skillbank.llm.base import Completion, EpisodeInfo, Message, Policy, Role
from skillbank.llm.template import render_prompt, render_reply
from skillbank.worlds.base import TRAIN_SEEDS

VARIANTS = ("skills", "no-skills")
RECORDS_FILE = "records.jsonl"
REPORT_FILE = "report.json"
#: Bound on one record line read back from disk (records are a few KB each).
MAX_RECORD_CHARS = 2_000_000


@dataclass(frozen=True)
class SftRecord:
    """One expert episode as chat messages (system, user, then assistant/user turns,
    ending with the assistant's last reply). Only assistant messages carry loss."""

    id: str
    seed: int
    split: str
    variant: str
    task_id: str
    scenario_id: str
    index_in_scenario: int
    operations: tuple[str, ...]
    messages: tuple[Message, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "seed": self.seed, "split": self.split, "variant": self.variant,
            "task_id": self.task_id, "scenario_id": self.scenario_id,
            "index_in_scenario": self.index_in_scenario, "operations": list(self.operations),
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
        }

    @classmethod
    def from_dict(cls, data: Any) -> SftRecord:
        if not isinstance(data, dict):
            raise ValidationError(f"an SFT record must be a JSON object, got {type(data).__name__}")
        try:
            # The role is checked below, once the record's other fields have parsed.
            messages = tuple(Message(cast(Role, str(m["role"])), str(m["content"])) for m in data["messages"])
            record = cls(
                id=str(data["id"]), seed=int(data["seed"]), split=str(data["split"]),
                variant=str(data["variant"]), task_id=str(data["task_id"]),
                scenario_id=str(data["scenario_id"]), index_in_scenario=int(data["index_in_scenario"]),
                operations=tuple(str(o) for o in data.get("operations", ())), messages=messages,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"malformed SFT record: {exc!r}") from None
        for m in messages:
            if m.role not in ("system", "user", "assistant"):
                raise ValidationError(f"SFT record {record.id}: unknown role {m.role!r}")
        if not messages or messages[-1].role != "assistant":
            raise ValidationError(f"SFT record {record.id}: must end with an assistant message")
        return record


def record_turns(messages: Sequence[Message]) -> list[tuple[str, str]]:
    """(prompt, reply) per assistant message: the prompt is what the policy was given
    for that reply, rendered as the local policy renders it."""
    return [(render_prompt(messages[:i]), m.content) for i, m in enumerate(messages) if m.role == "assistant"]


def render_record(messages: Sequence[Message]) -> tuple[str, list[tuple[int, int]]]:
    """The whole record as one training text and the character spans that carry loss:
    each assistant reply with the template's end-of-turn marker after it."""
    text, spans = "", []
    for message in messages:
        if message.role == "assistant":
            text += render_prompt([], add_generation_prompt=True)  # the open assistant header
            reply = render_reply(message.content)
            spans.append((len(text), len(text) + len(reply)))
            text += reply
        else:
            text += render_prompt([message], add_generation_prompt=False)
    return text, spans


class RecordingPolicy:
    """Wraps a policy and keeps, per episode, the messages of its last call and its
    reply: the agent only appends to its message list, so these are the whole episode."""

    def __init__(self, inner: Policy):
        self.inner = inner
        self.name = inner.name
        self.episodes: dict[str, list[Message]] = {}
        self.calls: dict[str, list[list[Message]]] = {}  # every prompt, for the round-trip check
        self._task: str | None = None

    def start_episode(self, info: EpisodeInfo) -> None:
        self._task = info.task.id
        self.episodes[self._task] = []
        self.calls[self._task] = []
        self.inner.start_episode(info)

    def generate(self, messages: Sequence[Message]) -> Completion:
        completion = self.inner.generate(messages)
        assert self._task is not None, "generate before start_episode"
        self.calls[self._task].append(list(messages))
        self.episodes[self._task] = [*messages, Message("assistant", completion.text)]
        return completion

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


def parse_seeds(text: str) -> list[int]:
    """``"0-9"``, ``"3"`` or ``"0-4,7,10-12"`` → the seeds, in order, each once."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise ValidationError(f"seeds must look like '0-9' or '0,3,5-7', got {text!r}") from None
    return list(dict.fromkeys(seeds))


def _record_id(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def build_sft_records(
    split: str,
    seeds: Iterable[int],
    *,
    variants: Sequence[str] = VARIANTS,
    limit: int | None = None,
    on_seed: Callable[[int, str, int], None] | None = None,
) -> tuple[list[SftRecord], dict[str, Any]]:
    """Play `split` with the expert at each seed (and variant) and collect the successful
    episodes as records, deduplicated. Returns (records, counts)."""
    from skillbank.agent.config import AgentConfig, RunConfig
    from skillbank.agent.runner import run_split
    from skillbank.llm.expert import ExpertPolicy
    from skillbank.retrieval import make_retriever
    from skillbank.sandbox import SandboxConfig, SandboxPool
    from skillbank.store import open_store
    from skillbank.worlds.apps import AppsWorld

    seeds = list(seeds)
    bad = [s for s in seeds if s not in TRAIN_SEEDS]
    if bad:
        raise ValidationError(
            f"training data draws from TRAIN_SEEDS ({TRAIN_SEEDS.start}-{TRAIN_SEEDS.stop - 1}); "
            f"not training seeds: {', '.join(map(str, bad[:5]))}"
        )
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise ValidationError(f"variants must be some of {', '.join(VARIANTS)}, got {', '.join(variants) or 'none'}")
    records: dict[str, SftRecord] = {}
    counts: dict[str, Any] = {"episodes": 0, "failed_episodes": 0, "duplicates": 0, "skipped_seeds": []}
    with tempfile.TemporaryDirectory(prefix="skillbank-sft-") as tmp, SandboxPool(SandboxConfig()) as pool:
        for seed in seeds:
            try:
                world = AppsWorld(seed=seed)
                world.tasks(split) if split in world.splits() else None
            except ValueError as exc:  # the world cannot build this seed: skip it, say so
                counts["skipped_seeds"].append({"seed": seed, "reason": str(exc)})
                continue
            if split not in world.splits():
                raise ValidationError(f"unknown split {split!r}; splits: {', '.join(world.splits())}")
            for variant in variants:
                with_skills = variant == "skills"
                policy = RecordingPolicy(ExpertPolicy(world))
                store = open_store(Path(tmp) / f"library-{seed}-{variant}.db")
                config = RunConfig(split=split, policy="expert", with_skills=with_skills, limit=limit,
                                   runs_dir=str(Path(tmp) / "runs"), agent=AgentConfig())
                retriever = make_retriever("same-scenario") if with_skills else None
                played: list[Any] = []
                try:
                    # run_split calls on_episode before it returns, so the lambda never sees a later `played`.
                    run_split(world, policy, store, lambda host, task_id: pool.session(host, task_id=task_id),
                              retriever, config,
                              on_episode=lambda ep, done, total: played.append(ep))  # noqa: B023
                finally:
                    store.close()
                for episode in played:
                    counts["episodes"] += 1
                    if not episode.success:
                        counts["failed_episodes"] += 1
                        continue
                    messages = tuple(policy.episodes[episode.task_id])
                    text, _ = render_record(messages)
                    rid = _record_id(text)
                    if rid in records:
                        counts["duplicates"] += 1
                        continue
                    records[rid] = SftRecord(
                        id=rid, seed=seed, split=split, variant=variant, task_id=episode.task_id,
                        scenario_id=episode.scenario_id, index_in_scenario=episode.index_in_scenario,
                        operations=tuple(sorted({op.kind.value for op in episode.operations()})),
                        messages=messages,
                    )
                if on_seed is not None:
                    on_seed(seed, variant, len(played))
    return list(records.values()), counts


def _stats(values: list[int]) -> dict[str, float]:
    if not values:
        return {"min": 0, "median": 0, "p90": 0, "max": 0, "mean": 0}
    ordered = sorted(values)
    return {
        "min": ordered[0], "median": statistics.median(ordered),
        "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], "max": ordered[-1],
        "mean": round(statistics.fmean(ordered), 1),
    }


def percentile(values: Sequence[int], q: float) -> int:
    """The smallest value at least `q` (in [0, 1]) of `values` do not exceed (nearest rank)."""
    if not values:
        raise ValidationError("no values to take a percentile of")
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def reply_limits(records: Sequence[SftRecord], count_tokens: Callable[[str], int], q: float = 0.99) -> dict[str, int]:
    """What a policy needs to finish a task the way the records do: the `q` percentile of
    their replies' token counts (``reply_tokens``: each assistant message's content, as
    the sampler must generate it, its closing fence included) and of their replies per
    record (``turns``). RL's budgets (`skillbank.rl.trainer.SageConfig`) must be at least
    these."""
    replies = [count_tokens(m.content) for r in records for m in r.messages if m.role == "assistant"]
    turns = [sum(1 for m in r.messages if m.role == "assistant") for r in records]
    return {"reply_tokens": percentile(replies, q), "turns": percentile(turns, q)}


def report(records: Sequence[SftRecord], counts: dict[str, Any], count_tokens: Callable[[str], int],
           *, tokenizer_name: str) -> dict[str, Any]:
    """Counts (records, replies, per operation, per variant and scenario position) and
    token lengths of whole records, of the replies that carry loss, and of observations."""
    totals: list[int] = []
    replies: list[int] = []
    observations: list[int] = []
    ops: dict[str, int] = {}
    for r in records:
        text, spans = render_record(r.messages)
        totals.append(count_tokens(text))
        replies.extend(count_tokens(text[a:b]) for a, b in spans)
        observations.extend(count_tokens(m.content) for m in r.messages[2:] if m.role == "user")
        for op in r.operations or ("none",):
            ops[op] = ops.get(op, 0) + 1
    by = lambda key: {str(k): sum(1 for r in records if key(r) == k) for k in sorted({key(r) for r in records})}
    return {
        **counts,
        "records": len(records),
        "replies": len(replies),
        "scenarios": len({(r.seed, r.scenario_id) for r in records}),
        "by_variant": by(lambda r: r.variant),
        "by_index_in_scenario": by(lambda r: r.index_in_scenario),
        "by_operation": ops,
        "tokenizer": tokenizer_name,
        "record_tokens": _stats(totals),
        "reply_tokens": _stats(replies),
        "observation_tokens": _stats(observations),
    }


def write_sft(records: Sequence[SftRecord], report_data: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``records.jsonl`` and ``report.json`` into `out_dir`, each atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, body in (
        (RECORDS_FILE, "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records)),
        (REPORT_FILE, json.dumps(report_data, indent=2) + "\n"),
    ):
        fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
        os.replace(tmp, out / name)
    return out / RECORDS_FILE


def read_sft(path: str | Path) -> list[SftRecord]:
    """Records from a ``records.jsonl`` file (or a directory holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / RECORDS_FILE
    if not p.is_file():
        raise ValidationError(f"no SFT records at {p}")
    records = []
    with p.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            if len(line) > MAX_RECORD_CHARS:
                raise ValidationError(f"{p}:{n}: record longer than {MAX_RECORD_CHARS} characters")
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValidationError(f"{p}:{n}: not JSON: {exc.msg}") from None
            records.append(SftRecord.from_dict(data))
    if not records:
        raise ValidationError(f"{p} holds no SFT records")
    return records
