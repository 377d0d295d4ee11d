"""Scenarios (being written)."""

from skillbank.worlds.apps.scenario import ScenarioDef

SCENARIOS: list[ScenarioDef] = []
