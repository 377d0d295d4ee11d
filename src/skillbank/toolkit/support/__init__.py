"""`support`: the seed's support-desk example as a world, written with `skillbank.toolkit`
only (copy it to bring your own tools).

Three apps (`desk`, `payments`, `policy`; see `tools.py`), a seeded desk of customers,
orders, payments, refunds and tickets (`data.py`), and 12 scenarios x 3 tasks over
train / dev / test with state-based grading, money guards and expert solutions
(`scenarios.py`). ``skillbank run --world support`` plays it.
"""

from __future__ import annotations

import random

from skillbank.toolkit import ToolkitWorld
from skillbank.toolkit.support.data import DeskData
from skillbank.toolkit.support.scenarios import BUILDERS
from skillbank.toolkit.support.tools import desk, payments, policy

SPLITS = ("train", "dev", "test")


def make_world(seed: int = 0) -> ToolkitWorld:
    """The support world; the seed picks the background customers, names and items."""
    data = DeskData(random.Random(f"support:{seed}"))
    data.background()
    scenarios = [build(data) for build in BUILDERS]
    return ToolkitWorld(
        "support",
        [desk, payments, policy],
        data=data.tables,
        scenarios=scenarios,
        splits=SPLITS,
        supervisor={"name": "Sam Rivera", "role": "support agent, refunds desk", "email": "sam.rivera@desk.example"},
        seed=seed,
    )


__all__ = ["SPLITS", "make_world"]
