"""Settings of the skill-library agent (one task) and of a run (a split)."""

from __future__ import annotations

from dataclasses import dataclass, field

from skillbank.errors import ValidationError

DEFAULT_LIBRARY = "./.skillbank/library.db"
DEFAULT_RUNS_DIR = "./.skillbank/runs"


@dataclass
class AgentConfig:
    """How one episode (one task) is played.

    Attributes:
        max_steps: replies the policy may write per task (SAGE: up to 40). A reply
            without code counts as a step: it cost a generation.
        token_budget: prompt + completion tokens summed over the episode's turns (what a
            hosted model bills); the episode stops once it is spent. None: no budget.
        max_stdout_chars: printed output kept in an observation; longer output keeps its
            head and tail, because the head shows the shape and the tail the latest state.
        max_result_chars: characters of the block's last expression value kept.
        max_traceback_lines: traceback lines kept (the last ones: they name the error).
        inline_source_max_lines: a retrieved skill whose source has at most this many
            lines is shown in full; longer ones show signature and docstring only.
        actor: who the store's events name as the author of the agent's changes.
        max_repeats: the episode stops (``stop_reason`` ``"repeated"``) once the policy
            has written, this many times more, exactly the reply whose code failed (or
            held none) on the turn before: a greedy policy stuck in a loop would spend
            every remaining step on it. None: never stop for this.
    """

    max_steps: int = 40
    token_budget: int | None = 250_000
    max_stdout_chars: int = 3_000
    max_result_chars: int = 1_500
    max_traceback_lines: int = 12
    inline_source_max_lines: int = 25
    actor: str = "agent"
    max_repeats: int | None = 2

    def __post_init__(self) -> None:
        if self.max_repeats is not None and self.max_repeats < 1:
            raise ValidationError(f"max_repeats must be at least 1 or None, got {self.max_repeats}")
        if self.max_steps < 1:
            raise ValidationError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.token_budget is not None and self.token_budget < 1:
            raise ValidationError(f"token_budget must be positive or None, got {self.token_budget}")
        for name in ("max_stdout_chars", "max_result_chars", "max_traceback_lines", "inline_source_max_lines"):
            if getattr(self, name) < 0:
                raise ValidationError(f"{name} must not be negative, got {getattr(self, name)}")


@dataclass
class RunConfig:
    """One run of the agent over a split (`skillbank run`).

    Attributes:
        split: the world's split to play (tasks of each scenario in order).
        policy: the policy backend's name (for the record; the policy object is passed in).
        retrieval: retrieval mode (see `skillbank.retrieval.RETRIEVAL_MODES`).
        top_k: skills retrieved per task.
        with_skills: False plays every task with an empty library (the ablation) and
            saves nothing, so the library is left untouched.
        limit: play at most this many tasks (in scenario order); None plays them all.
        namespace: the library namespace read and written.
        runs_dir: where the run directory `<runs_dir>/<run_id>/` is written.
        run_id: None generates a fresh one; candidates saved in a run are retrieved only
            by that run, so repeated runs on one library do not see each other's.
        agent: per-episode settings.
    """

    split: str = "dev"
    policy: str = "expert"
    retrieval: str = "same-scenario"
    top_k: int = 5
    with_skills: bool = True
    limit: int | None = None
    namespace: str = "default"
    runs_dir: str = DEFAULT_RUNS_DIR
    run_id: str | None = None
    agent: AgentConfig = field(default_factory=AgentConfig)

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ValidationError(f"top_k must be at least 1, got {self.top_k}")
        if self.limit is not None and self.limit < 1:
            raise ValidationError(f"limit must be at least 1, got {self.limit}")
