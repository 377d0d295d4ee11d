"""One task, played to the end: retrieve, preload, prompt, then turns of
reply → code → sandbox → observation until the task is completed, the step limit or the
token budget. Operations are detected on every block; saves happen once, at the end."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict
from typing import Protocol

from skillbank.agent.config import AgentConfig
from skillbank.agent.library import RunLibrary
from skillbank.agent.operations import (
    BlockAnalysis,
    Operation,
    OperationKind,
    OperationTracker,
    analyze_block,
    format_failure,
)
from skillbank.agent.prompt import PromptSkill, extract_code, render_observation, render_start, render_system
from skillbank.agent.trace import EpisodeTrace, TurnTrace
from skillbank.errors import ValidationError
from skillbank.llm.base import Completion, EpisodeInfo, Message, Policy
from skillbank.sandbox.types import ApiHost, ExecutionResult
from skillbank.skill import extract_function, parse_skill
from skillbank.store.base import EventType, Provenance, StoredVersion
from skillbank.worlds.base import Task, TaskEnv


class Session(Protocol):
    """A task's sandbox shell (`skillbank.sandbox` pool sessions have this shape)."""

    def preload(self, skills: Mapping[str, str], refs: Mapping[str, str] | None = None
                ) -> dict[str, ExecutionResult]: ...

    def run(self, code: str) -> ExecutionResult: ...


#: Opens a task's session: `(host, task_id) -> context manager of a Session`.
SessionFactory = Callable[[ApiHost, str], AbstractContextManager[Session]]


def _self_reported(result: ExecutionResult) -> str | None:
    """The status of a successful `supervisor.complete_task` call in this block."""
    for call in result.api_calls:
        if call.app == "supervisor" and call.api == "complete_task" and call.ok:
            return str(call.arguments.get("status", "success"))
    return None


def _executed_part(code: str, analysis: BlockAnalysis, result: ExecutionResult) -> str:
    """The statements of a block that ran to completion, as source text: later saves cut
    functions (and their helpers) out of the episode's executed code."""
    if analysis.syntax_error is not None or result.static_errors:
        return ""
    if result.ok:
        return code
    lines = [f.lineno for f in result.frames if f.function == "<module>" and f.filename.startswith("<block")]
    if not lines:
        return ""
    done = [s for s in analysis.statements if s.last_line < lines[-1]]
    return "\n".join(code.splitlines()[: done[-1].last_line]) + "\n" if done else ""


class SkillAgent:
    """The skill-library agent (SAGE §1). Stateless between tasks: the library is the
    store, so one agent plays a whole run."""

    def __init__(
        self,
        policy: Policy,
        library: RunLibrary,
        sessions: SessionFactory,
        config: AgentConfig | None = None,
    ):
        from skillbank.store.sql import check_namespace

        check_namespace(library.namespace)  # a bad namespace fails now, not save by save
        self.policy = policy
        self.library = library
        self.sessions = sessions
        self.config = config or AgentConfig()

    def play(self, env: TaskEnv, *, episode_id: str | None = None) -> EpisodeTrace:
        task = env.task
        episode_id = episode_id or uuid.uuid4().hex[:12]
        started = time.perf_counter()
        retrieved = self.library.retrieve(task)
        with self.sessions(env, task.id) as session:
            loaded, dropped = self._preload(session, retrieved)
            library = {v.name: v for v in loaded}
            refs: dict[str, frozenset[str]] = {}
            for v in loaded:
                refs.update(analyze_block(v.source).function_refs)
            tracker = OperationTracker(library, refs)
            self.policy.start_episode(EpisodeInfo(task=task, skill_names=tuple(library)))
            skills = [PromptSkill(v.name, v.signature, v.docstring, v.source) for v in loaded]
            system_prompt, start_message = render_system(task, skills, self.config), render_start(task, skills)
            messages = [Message("system", system_prompt), Message("user", start_message)]
            turns: list[TurnTrace] = []
            executed: list[str] = []
            status: str | None = None
            stop = "max_steps"
            prompt_total = completion_total = 0
            repeats, failed_reply = 0, None  # the last reply if it failed, and how often it came again
            for index in range(self.config.max_steps):
                completion = self.policy.generate(messages)
                prompt_total += completion.prompt_tokens
                completion_total += completion.completion_tokens
                turn, result, ran = self._turn(index, session, tracker, completion, messages, episode_id, task.id)
                turns.append(turn)
                messages += [Message("assistant", completion.text), Message("user", turn.observation)]
                if result is not None:
                    executed.append(ran)
                    status = _self_reported(result) or status
                if status is not None or env.completed:
                    stop = "completed"
                    break
                repeats = repeats + 1 if completion.text == failed_reply else 0
                failed_reply = completion.text if turn.ok is not True else None
                if self.config.max_repeats is not None and repeats >= self.config.max_repeats:
                    stop = "repeated"
                    break
                budget = self.config.token_budget
                if budget is not None and prompt_total + completion_total >= budget:
                    stop = "token_budget"
                    break
        saved, save_errors = self._save(tracker, status == "success", "\n".join(executed), task, episode_id)
        return EpisodeTrace(
            episode_id=episode_id,
            run_id=self.library.run_id,
            task_id=task.id,
            scenario_id=task.scenario_id,
            index_in_scenario=task.index_in_scenario,
            instruction=task.instruction,
            retrieved=tuple(v.ref for v in retrieved),
            loaded=tuple(library),
            dropped=tuple(dropped),
            turns=tuple(turns),
            stop_reason=stop,
            self_reported=status,
            saved=tuple(saved),
            save_errors=tuple(save_errors),
            system_prompt=system_prompt,
            start_message=start_message,
            prompt_tokens=prompt_total,
            completion_tokens=completion_total,
            duration_s=round(time.perf_counter() - started, 4),
        )

    # -- steps -----------------------------------------------------------------------

    def _preload(self, session: Session, versions: list[StoredVersion]) -> tuple[list[StoredVersion], list[str]]:
        """Define the retrieved skills in the shell; drop those that fail to load (as
        the paper's code does): a skill the shell cannot define would only mislead."""
        if not versions:
            return [], []
        results = session.preload({v.name: v.source for v in versions}, refs={v.name: v.ref for v in versions})
        loaded = [v for v in versions if (r := results.get(v.name)) is not None and r.ok]
        dropped = [v.ref for v in versions if v not in loaded]
        return loaded, dropped

    def _turn(self, index: int, session: Session, tracker: OperationTracker, completion: Completion,
              messages: list[Message], episode_id: str, task_id: str
              ) -> tuple[TurnTrace, ExecutionResult | None, str]:
        """Run the reply's code; returns the turn, the result (None: no code ran) and the
        part of the code that ran to completion."""
        make_turn = functools.partial(
            TurnTrace,
            index=index, prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens,
            prompt_chars=sum(len(m.content) for m in messages), policy_latency_s=completion.latency_s,
            reply=completion.text,
        )
        extracted = extract_code(completion.text)
        if extracted.code is None:
            turn = make_turn(code=None, ok=None, observation=extracted.problem or "", error="no_code",
                             api_calls=(), operations=(), exec_duration_s=0.0)
            return turn, None, ""
        result = session.run(extracted.code)
        analysis = analyze_block(extracted.code)
        ops = tracker.observe(index, analysis, result)
        self._record(ops, result, episode_id, task_id)
        error = None if result.ok else (
            "; ".join(result.static_errors) if result.static_errors
            else f"{result.error_type or 'Error'}: {result.error_message or result.killed or ''}"
        )
        turn = make_turn(
            code=extracted.code, ok=result.ok, error=error,
            observation=render_observation(result, self.config, extra_blocks=extracted.blocks_found - 1),
            api_calls=tuple(asdict(c) for c in result.api_calls), operations=tuple(ops),
            exec_duration_s=result.duration_s, skill_calls=tuple(asdict(c) for c in result.skill_calls),
        )
        return turn, result, _executed_part(extracted.code, analysis, result)

    def _record(self, ops: list[Operation], result: ExecutionResult, episode_id: str, task_id: str) -> None:
        """Per-call events and statistics for the library versions a block used.

        Create and update operations are not written here: the store writes `created`
        (and `updated`, with the failure log) when their version is saved, and an
        unsaved attempt lives in the run's trace, not in the library's history."""
        for op in ops:
            if op.kind is OperationKind.USE and op.version_id is not None and op.ok is not None:
                self.library.record_call(op.version_id, ok=op.ok, latency_s=result.duration_s)
                self.library.event(
                    EventType.CALLED.value if op.ok else EventType.FAILED.value,
                    name=op.name, version_id=op.version_id,
                    reason=None if op.ok else format_failure(result, max_lines=self.config.max_traceback_lines),
                    payload={"task_id": task_id, "episode_id": episode_id, "turn": op.turn},
                )

    def _save(self, tracker: OperationTracker, succeeded: bool, code: str, task: Task, episode_id: str
              ) -> tuple[list[str], list[str]]:
        """Save the tracker's candidates, cut with their helpers out of the episode's
        executed code (a helper defined in an earlier block travels along). Returns the
        saved refs and, per candidate that is not a storable skill, why not. Errors of
        the store itself are not caught: a save that fails must fail the run."""
        saved: list[str] = []
        problems: list[str] = []
        if not self.library.writable:
            return saved, problems
        for cand in tracker.save_candidates(succeeded):
            try:
                source = extract_function(code, cand.name)
                parse_skill(source)
            except ValidationError as exc:
                # Not a storable skill (e.g. it shadows a builtin): the task still counts,
                # the function just does not enter the library; the trace says why.
                problems.append(f"{cand.name}: {exc}")
                continue
            provenance = Provenance(
                created_by=self.library.actor, task_id=task.id, episode_id=episode_id,
                run_id=self.library.run_id, scenario_id=task.scenario_id, query=task.instruction,
                parent_version_id=cand.parent_version_id, failure_log=cand.failure_log,
            )
            version, created = self.library.save(source, provenance)
            # created False: another run saved this exact source first; the save still
            # happened from this episode's point of view (see RunLibrary).
            saved.append(version.ref)
            self.library.event(EventType.SAVED.value, name=version.name, version_id=version.id,
                               reason="ran without error in a task completed with status success",
                               payload={"task_id": task.id, "episode_id": episode_id, "new_version": created,
                                        "parent_version_id": cand.parent_version_id})
        return saved, problems
