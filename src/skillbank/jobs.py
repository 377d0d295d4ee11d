"""The main job as an application: a `RunSpec` in, a `JobSummary` out.

`run_job` is what `skillbank run` does once its flags are read: it checks everything
before anything starts (split, retrieval mode, namespace, the runs directory, the
policy's options by their flag names), so bad input fails in one line without leaving a
run behind; then it wires the world, the policy, the retriever, the library, a sandbox
pool and governance once, plays the split, and closes them all. A run that fails or is
interrupted after it started keeps its directory, marked ``failed.json`` (see
`skillbank runs ls`).

Faces report progress through a `RunObserver`; `run_on` is the same run over a world,
policy, store and sandbox pool the caller already holds (the governance benchmark shares
them between runs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import platform
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from skillbank import __version__
from skillbank.agent.config import (
    DEFAULT_LIBRARY,
    DEFAULT_RUNS_DIR,
    AgentConfig,
    RunConfig,
)
from skillbank.agent.library import Retriever
from skillbank.agent.loop import Session
from skillbank.agent.operations import OperationKind
from skillbank.agent.runner import (
    ProgressCallback,
    RunSummary,
    ordered_tasks,
    run_split,
)
from skillbank.agent.trace import EpisodeTrace, mark_failed, new_run_id
from skillbank.errors import ConfigError, ValidationError
from skillbank.llm.base import (
    BatchingPolicy,
    ClosablePolicy,
    Completion,
    DecodingReport,
    EpisodeInfo,
    Message,
    Policy,
)
from skillbank.llm.model_files import ADAPTER_NONE
from skillbank.sandbox import SandboxConfig, SandboxPool
from skillbank.sandbox.types import ApiHost
from skillbank.store.base import LibraryStore
from skillbank.worlds.base import World

EXPERT_NOTE = ("The scripted expert policy is playing (the world's reference solutions, not a model): "
               "its scores check the loop, they are not a model's.")
#: Said after `EXPERT_NOTE` on the apps world only: the shipped adapter was trained and
#: measured there, and says nothing about another world.
APPS_LOCAL_NOTE = "The shipped local model (--policy local) solves no dev task yet."
LOCAL_BASE_NOTE = ("The local policy is the Gemma 3 270M base model without a fine-tuned adapter: it has never "
                   "seen the agent's format, so a score near zero is expected.")

POLICIES = ("expert", "local", "openai", "replay")
#: Which policies each policy-specific option applies to, by its `skillbank run` flag.
POLICY_FLAGS: dict[str, tuple[str, ...]] = {
    "--model-path": ("local",),
    "--adapter": ("local",),
    "--base-url": ("openai",),
    "--model": ("openai",),
    "--responses": ("replay",),
    "--temperature": ("local", "openai"),
    "--max-tokens": ("local", "openai"),
    "--dtype": ("local",),
    "--vocab": ("local",),
    "--batching": ("local",),
    "--speculate": ("local",),
}

#: Replies per task unless --max-steps says otherwise: SAGE's 40, but 8 for the local
#: 270M model, which after SFT finishes its tasks in 1-3 replies or not at all (and each
#: further reply re-reads a prompt that grows by an observation).
DEFAULT_MAX_STEPS = 40
LOCAL_MAX_STEPS = 8


@dataclass(frozen=True)
class RunSpec:
    """Every option of `skillbank run`; the defaults are the command's.

    Attributes:
        split: the world's split to play (apps: train, dev, test_normal, test_challenge;
            support: train, dev, test).
        world: apps, support, appworld, or your own ``package.module:make_world``.
        policy: one of `POLICIES`: expert (scripted), local, openai or replay.
        retrieval: same-scenario, query-ngram, query-embedding, skill-embedding or none.
        top_k: skills retrieved per task.
        with_skills: False plays with an empty library and saves nothing (the ablation).
        limit: play at most this many tasks (in scenario order); None plays them all.
        library: the library, a SQLite path or URL.
        runs_dir: where run directories (traces) are written.
        namespace: the library namespace read and written.
        max_steps: replies per task; None: `DEFAULT_MAX_STEPS`, or `LOCAL_MAX_STEPS`
            for the local policy.
        seed: the world seed, also the model's sampling seed (local; openai sends it as
            ``seed``); 'random' draws one (training seeds for train, held-out
            evaluation seeds for the other splits).
        model_path, adapter_path, dtype, vocab, batching, speculate: the local policy's
            options (None: its defaults).
        base_url, model: the openai policy's server and model.
        temperature, max_tokens: sampling options of the local and openai policies.
        responses: the replay policy's JSONL file of recorded replies.
        governance: on (grade, red-team, promote, canary and roll back as the run goes),
            off (save candidates only) or trust (promote every save, for comparison).
        policy_file: the governance policy TOML (None: the shipped policy).
        fault_rate, fault_seed: the expert's probability of writing a realistically
            buggy variant of a skill, and the seed of that injection.
    """

    split: str = "dev"
    world: str = "apps"
    policy: str = "expert"
    retrieval: str = "same-scenario"
    top_k: int = 5
    with_skills: bool = True
    limit: int | None = None
    library: str = DEFAULT_LIBRARY
    runs_dir: str = DEFAULT_RUNS_DIR
    namespace: str = "default"
    max_steps: int | None = None
    seed: str | int = "0"
    model_path: str | None = None
    adapter_path: str | None = None
    base_url: str | None = None
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    batching: str | None = None
    speculate: int | None = None
    vocab: str | None = None
    dtype: str | None = None
    responses: str | None = None
    governance: str = "on"
    policy_file: str | None = None
    fault_rate: float = 0.0
    fault_seed: int = 0

    def policy_flags(self) -> dict[str, Any]:
        """The policy-specific options by their flag names (see `POLICY_FLAGS`)."""
        return {
            "--model-path": self.model_path, "--adapter": self.adapter_path, "--base-url": self.base_url,
            "--model": self.model, "--responses": self.responses, "--temperature": self.temperature,
            "--max-tokens": self.max_tokens, "--dtype": self.dtype, "--vocab": self.vocab,
            "--batching": self.batching, "--speculate": self.speculate,
        }

    def run_config(self, run_id: str | None = None) -> RunConfig:
        """The runner's settings (raises on a `top_k` or `limit` below 1)."""
        return RunConfig(split=self.split, policy=self.policy, retrieval=self.retrieval, top_k=self.top_k,
                         with_skills=self.with_skills, limit=self.limit, namespace=self.namespace,
                         runs_dir=self.runs_dir, run_id=run_id, agent=AgentConfig(max_steps=self.steps))

    @property
    def steps(self) -> int:
        """`max_steps`, or the policy's default."""
        if self.max_steps is not None:
            return self.max_steps
        return LOCAL_MAX_STEPS if self.policy == "local" else DEFAULT_MAX_STEPS

    @property
    def governed(self) -> bool:
        """Whether governance runs beside the run (never with the no-skills ablation)."""
        return self.governance != "off" and self.with_skills

    def note(self) -> str | None:
        """What the summary should say about the policy's scores, if anything."""
        if self.policy == "expert":
            return f"{EXPERT_NOTE} {APPS_LOCAL_NOTE}" if self.world == "apps" else EXPERT_NOTE
        # Only an explicit --adapter none is the base model: None (unset) is the shipped adapter.
        base_model = self.adapter_path is not None and self.adapter_path.lower() == ADAPTER_NONE
        if self.policy == "local" and base_model and self.model_path is None:
            return LOCAL_BASE_NOTE
        return None


@dataclass(frozen=True)
class RunProgress:
    """The run so far, after a task: tasks done of `total`, tasks passed, distinct skills
    used per task (summed), versions saved."""

    done: int
    total: int
    passed: int
    used: int
    saved: int


class RunObserver(Protocol):
    """What a face hears while `run_job` runs (a progress bar); every call comes from the
    run's threads, one at a time for `episode`."""

    def seed_resolved(self, seed: int) -> None:
        """The world seed, when it is not `RunSpec.seed` as written (e.g. 'random')."""
        ...

    def started(self, run_id: str, total: int) -> None:
        """Everything is wired; `total` tasks are about to be played."""
        ...

    def turn(self, task_id: str, turn: int) -> None:
        """The policy starts reply `turn` of a task (a slow model generates now)."""
        ...

    def episode(self, episode: EpisodeTrace, progress: RunProgress) -> None:
        """A task ended and was graded."""
        ...


@dataclass(frozen=True)
class JobSummary:
    """`run_job`'s result: the run's summary, the candidates that earned a save but were
    not storable skills, a note on what the scores mean (the expert's, say), and where
    the time went: `load_s` building the policy (loading a local model: minutes on a
    CPU), `wall_s` the whole job from its checks to the last close. The run's own
    ``duration_s`` counts the tasks only."""

    run: RunSummary
    unsaved_candidates: int
    note: str | None = None
    load_s: float = 0.0
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self.run)
        data["unsaved_candidates"] = self.unsaved_candidates
        data["load_s"] = round(self.load_s, 3)
        data["wall_s"] = round(self.wall_s, 3)
        if self.note:
            data["note"] = self.note
        return data


class RunInterrupted(BaseException):
    """The run was stopped from outside (Ctrl-C) after it started; its directory is marked
    interrupted and the message says how far it got. A BaseException, like the
    interruption it replaces."""


class Terminated(BaseException):
    """SIGTERM (as `timeout`, a service manager or ``kill`` send it), raised in the main
    thread by `sigterm_raises`. A BaseException, like Ctrl-C's interruption."""


class RunTerminated(RunInterrupted):
    """The run was stopped by SIGTERM after it started; its directory is marked failed
    ("terminated (SIGTERM)") and the message says how far it got."""


#: The exit status of a command stopped by SIGTERM, as a shell reports one killed by it.
SIGTERM_EXIT = 128 + signal.SIGTERM


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """While inside, SIGTERM raises `Terminated` in the main thread, so a run stops in
    order (closing its sandbox and model, marking its directory) instead of vanishing
    without a word. Elsewhere than the main thread it changes nothing (Python runs
    handlers there only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def policy_options(policy: str, flags: dict[str, Any], seed: int) -> dict[str, Any]:
    """The registry's options for `policy`, checked in terms of the CLI's flags."""
    if policy not in POLICIES:
        raise ValidationError(f"--policy: unknown policy {policy!r}; policies: {', '.join(POLICIES)}")
    for flag, value in flags.items():
        if value is not None and policy not in POLICY_FLAGS[flag]:
            raise ValidationError(f"{flag} applies to --policy {' or '.join(POLICY_FLAGS[flag])}, not {policy!r}")
    if policy == "replay":
        if flags["--responses"] is None:
            raise ValidationError("--policy replay needs --responses FILE (a JSONL file of recorded replies)")
        return {"path": flags["--responses"]}
    if policy == "openai":
        if flags["--model"] is None and not os.environ.get("SKILLBANK_OPENAI_MODEL"):
            raise ValidationError("--policy openai needs --model NAME (or SKILLBANK_OPENAI_MODEL)")
        options = {"base_url": flags["--base-url"], "model": flags["--model"], "seed": seed,
                   "temperature": flags["--temperature"], "max_tokens": flags["--max-tokens"]}
    elif policy == "local":
        options = {"model_path": flags["--model-path"], "adapter_path": flags["--adapter"], "seed": seed,
                   "temperature": flags["--temperature"], "max_new_tokens": flags["--max-tokens"],
                   "dtype": flags["--dtype"], "vocab": flags["--vocab"],
                   "batching": flags["--batching"], "speculate": flags["--speculate"]}
    else:
        return {}
    return {k: v for k, v in options.items() if v is not None}


def make_run_policy(name: str, world: World, options: dict[str, Any]) -> Policy:
    """The policy `name` from the registry's `options` (see `policy_options`) plus the
    expert's ``fault_rate`` and ``fault_seed``."""
    from skillbank.llm.registry import make_policy

    if name == "expert":
        if options.get("fault_rate"):
            from skillbank.llm.expert import ExpertPolicy

            return ExpertPolicy(world, fault_rate=options["fault_rate"], fault_seed=options.get("fault_seed") or 0)
        return make_policy(name, world=world)
    if options.get("fault_rate"):
        raise ValidationError("--fault-rate applies to the expert policy only")
    options = {k: v for k, v in options.items() if k not in ("fault_rate", "fault_seed")}
    return make_policy(name, **options)


def prepare_runs_dir(runs_dir: str) -> None:
    """Create `runs_dir` (and its parents) or fail in terms of ``--runs-dir``."""
    path = Path(runs_dir).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--runs-dir: cannot create {str(path)!r}: {exc.strerror}") from None
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"--runs-dir: {str(path)!r} is not a writable directory")


def concurrency(policy: Policy) -> int:
    """Episodes `policy` serves at once (`BatchingPolicy.max_concurrency`, else 1)."""
    return policy.max_concurrency if isinstance(policy, BatchingPolicy) else 1


class WatchedPolicy:
    """The policy, reporting each turn as it starts (the progress line shows the
    current task and turn while a slow model generates). It passes the policy's
    optional members through: concurrency, streams and decoder figures."""

    def __init__(self, policy: Policy, on_turn: Callable[[str, int], None]):
        self._policy = policy
        self._on_turn = on_turn
        self.name = policy.name
        self._task = ""
        self._turn = 0

    @property
    def max_concurrency(self) -> int:
        return concurrency(self._policy)

    def stream(self) -> AbstractContextManager[None]:
        return self._policy.stream() if isinstance(self._policy, BatchingPolicy) else contextlib.nullcontext()

    def decoding_stats(self) -> dict[str, Any] | None:
        return self._policy.decoding_stats() if isinstance(self._policy, DecodingReport) else None

    def start_episode(self, info: EpisodeInfo) -> None:
        self._task, self._turn = info.task.id, 0
        self._policy.start_episode(info)

    def generate(self, messages: Sequence[Message]) -> Completion:
        self._turn += 1
        self._on_turn(self._task, self._turn)
        return self._policy.generate(messages)

    def count_tokens(self, text: str) -> int:
        return self._policy.count_tokens(text)


class _Tally:
    """The running counts behind `RunProgress` (and the summary's unsaved candidates)."""

    def __init__(self, observer: RunObserver | None):
        self.observer = observer
        self.done = self.passed = self.used = self.saved = self.unsaved = 0

    def on_episode(self, episode: EpisodeTrace, done: int, total: int) -> None:
        self.done = done
        self.passed += bool(episode.success)
        self.used += len({op.name for op in episode.operations() if op.kind is OperationKind.USE})
        self.saved += len(episode.saved)
        self.unsaved += len(episode.save_errors)
        if self.observer is not None:
            self.observer.episode(episode, RunProgress(done=done, total=total, passed=self.passed,
                                                       used=self.used, saved=self.saved))


@contextlib.contextmanager
def _governance(spec: RunSpec, world: World, store: LibraryStore, seed: int) -> Iterator[Any]:
    """The run's hooks (a `GovernedRun`) when `spec` is governed, else None; its harness
    is closed on the way out."""
    if not spec.governed:
        yield None
        return
    from skillbank.governance import Governance, GovernedRun, load_policy, open_harness

    if hasattr(store, "govern"):  # a served library (HttpLibraryStore): its evidence is its server's to write
        from skillbank.governance.run import ServedLibraryRun

        yield ServedLibraryRun()
        return
    gov_policy = load_policy(spec.policy_file)
    harness, close_harness = open_harness(timeout_s=gov_policy.redteam.timeout_s, world=world, seed=seed)
    try:
        yield GovernedRun(Governance(store, policy=gov_policy, namespace=spec.namespace, harness=harness),
                          seed=seed, mode=spec.governance)
    finally:
        close_harness()


def make_run_retriever(spec: RunSpec) -> Retriever | None:
    """The retriever of `spec.retrieval`; None plays without skills."""
    from skillbank.retrieval import make_retriever

    return make_retriever(spec.retrieval, top_k=spec.top_k) if spec.with_skills and spec.retrieval != "none" else None


def run_on(spec: RunSpec, *, world: World, policy: Policy, store: LibraryStore, retriever: Retriever | None,
           seed: int, pool: SandboxPool | None = None, run_id: str | None = None,
           record: dict[str, Any] | None = None, on_start: Callable[[int], None] | None = None,
           on_episode: ProgressCallback | None = None) -> RunSummary:
    """One run of `spec` over a world, policy, retriever and store the caller holds (and
    closes); governance (when `spec` is governed) is opened and closed here. `pool`: the
    sandbox pool to share (None: one of its own, a worker per scenario the policy plays
    at once). `record` joins the run's config.json; `on_start(total)` is called once
    the sandbox is up, `on_episode` after each task. Checks nothing `run_job` checks."""
    config = spec.run_config(run_id)
    with _governance(spec, world, store, seed) as governed, contextlib.ExitStack() as stack:
        # A batching policy plays several scenarios at once, each holding a sandbox worker.
        sandbox = pool if pool is not None else stack.enter_context(
            SandboxPool(SandboxConfig(workers=max(SandboxConfig().worker_count, concurrency(policy)))))
        if on_start is not None:
            on_start(len(ordered_tasks(world.tasks(spec.split), spec.limit)))

        def sessions(host: ApiHost, task_id: str) -> AbstractContextManager[Session]:
            return sandbox.session(host, task_id=task_id)

        return run_split(world, policy, store, sessions, retriever, config, on_episode=on_episode,
                         extra_config=record, hooks=governed)


def run_job(spec: RunSpec, *, observer: RunObserver | None = None,
            interrupts: tuple[type[BaseException], ...] = (KeyboardInterrupt,)) -> JobSummary:
    """Check `spec`, wire and play the run, close everything; returns its summary.

    Every check comes before anything starts (errors name the `skillbank run` flags).
    Once the run started, an exception marks its directory failed and propagates; one
    of `interrupts` (Ctrl-C, as the caller raises it) marks it interrupted and becomes
    `RunInterrupted`; `Terminated` (SIGTERM, under `sigterm_raises`) marks it failed
    with "terminated (SIGTERM)" and becomes `RunTerminated`.
    """
    from skillbank.llm.registry import describe_policy
    from skillbank.retrieval import RETRIEVAL_MODES
    from skillbank.store import open_store
    from skillbank.store.sql import check_namespace
    from skillbank.toolkit.loader import open_world
    from skillbank.worlds.base import seed_for

    started = time.perf_counter()
    # -- everything checked before anything starts --------------------------------------
    if spec.retrieval not in RETRIEVAL_MODES:
        raise ValidationError(f"--retrieval: unknown mode {spec.retrieval!r}; modes: {', '.join(RETRIEVAL_MODES)}")
    try:
        check_namespace(spec.namespace)
    except ValidationError as exc:
        raise ValidationError(f"--namespace: {exc}") from None
    seed = seed_for(spec.seed, spec.split)
    options = policy_options(spec.policy, spec.policy_flags(), seed)
    if str(seed) != str(spec.seed).strip() and observer is not None:
        observer.seed_resolved(seed)
    world = open_world(spec.world, seed=seed)
    if spec.split not in world.splits():
        raise ValidationError(f"--split: unknown split {spec.split!r}; splits: {', '.join(world.splits())}")
    from skillbank.governance.run import GOVERNANCE_MODES

    if spec.governance not in GOVERNANCE_MODES:
        raise ValidationError(f"--governance: unknown mode {spec.governance!r}; modes: {', '.join(GOVERNANCE_MODES)}")
    if not 0.0 <= spec.fault_rate <= 1.0:
        raise ValidationError(f"--fault-rate must be in [0, 1], got {spec.fault_rate}")
    prepare_runs_dir(spec.runs_dir)

    # -- wired once, closed in reverse ----------------------------------------------------
    run_id = new_run_id()
    spec.run_config(run_id)  # its own checks, here as well: before anything starts
    run_dir = Path(spec.runs_dir) / run_id
    tally = _Tally(observer)
    with contextlib.ExitStack() as stack:
        # First, so that a library the run cannot save into fails before a model loads
        # or a task plays.
        store = open_store(spec.library, writable=spec.with_skills)
        stack.callback(store.close)
        loading = time.perf_counter()
        policy = make_run_policy(spec.policy, world,
                                 {**options, "fault_rate": spec.fault_rate, "fault_seed": spec.fault_seed})
        load_s = time.perf_counter() - loading
        if isinstance(policy, ClosablePolicy):
            stack.callback(policy.close)
        retriever = make_run_retriever(spec)
        record = {
            "seed": seed,
            "world_spec": spec.world,
            "governance": spec.governance if spec.with_skills else "off",
            "policy_config": describe_policy(policy),
            "policy_load_s": round(load_s, 3),
            "skillbank_version": __version__,
            "python": platform.python_version(),
        }
        watched: Policy = policy
        on_start: Callable[[int], None] | None = None
        if observer is not None:
            watched = WatchedPolicy(policy, observer.turn)
            on_start = functools.partial(observer.started, run_id)
        try:
            summary = run_on(spec, world=world, policy=watched, store=store, retriever=retriever, seed=seed,
                             run_id=run_id, record=record, on_start=on_start, on_episode=tally.on_episode)
        except Terminated:
            mark_failed(run_dir, "terminated (SIGTERM)")
            raise RunTerminated(
                f"run {run_id} stopped after {tally.done} task(s); its trace is in {run_dir}"
            ) from None
        except interrupts:
            mark_failed(run_dir, "interrupted (Ctrl-C)", interrupted=True)
            raise RunInterrupted(
                f"run {run_id} stopped after {tally.done} task(s); its trace is in {run_dir}"
            ) from None
        except BaseException as exc:
            mark_failed(run_dir, exc)
            raise
    return JobSummary(run=summary, unsaved_candidates=tally.unsaved, note=spec.note(), load_s=load_s,
                      wall_s=time.perf_counter() - started)
