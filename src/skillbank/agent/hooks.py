"""What a loop beside the run (governance) may hook into `run_split`.

The runner knows nothing of governance: it calls these four hooks at fixed points, and
`skillbank.governance.run.GovernedRun` implements them. A run without governance passes
no hooks.
"""

from __future__ import annotations

from typing import Any, Protocol

from skillbank.agent.library import VersionChooser
from skillbank.agent.loop import SessionFactory
from skillbank.agent.trace import EpisodeTrace


class RunHooks(VersionChooser, Protocol):
    """The run's hooks, called by `run_split` in this order:

    - :meth:`wrap_sessions` once, before the first task: the session factory the agent
      uses (e.g. wrapped with a call recorder);
    - :meth:`choose_versions` (from `VersionChooser`) at every retrieval: which version
      of each retrieved name is served; it may drop versions, never add unseen ones;
    - :meth:`after_episode` after each task, once the world graded it and its trace was
      written (under the run's lock: never twice at once);
    - :meth:`summary` once, after the last task: what `RunSummary.governance` holds.
    """

    def wrap_sessions(self, factory: SessionFactory) -> SessionFactory: ...

    def after_episode(self, episode: EpisodeTrace) -> None: ...

    def summary(self) -> dict[str, Any]: ...
