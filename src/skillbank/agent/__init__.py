"""The skill-library agent: retrieve, prompt, run turns, detect operations, trace.

Public API::

    from skillbank.agent import AgentConfig, RunConfig, RunLibrary, SkillAgent, run_split

    library = RunLibrary(store, make_retriever("same-scenario"), run_id="r1")
    episode = SkillAgent(policy, library, sessions).play(world.start(task_id))
    summary = run_split(world, policy, store, sessions, retriever, RunConfig(split="dev"))
"""

from skillbank.agent.config import AgentConfig, RunConfig
from skillbank.agent.library import RunLibrary
from skillbank.agent.loop import SessionFactory, SkillAgent
from skillbank.agent.operations import Operation, OperationKind, OperationTracker, analyze_block
from skillbank.agent.runner import RunSummary, ordered_tasks, run_split
from skillbank.agent.trace import EpisodeTrace, TurnTrace, list_runs, load_run

__all__ = [
    "AgentConfig",
    "EpisodeTrace",
    "Operation",
    "OperationKind",
    "OperationTracker",
    "RunConfig",
    "RunLibrary",
    "RunSummary",
    "SessionFactory",
    "SkillAgent",
    "TurnTrace",
    "analyze_block",
    "list_runs",
    "load_run",
    "ordered_tasks",
    "run_split",
]
