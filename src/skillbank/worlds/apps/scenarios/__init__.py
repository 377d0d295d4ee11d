"""Scenario modules of the apps world; each exposes `SCENARIOS: list[ScenarioDef]`."""
