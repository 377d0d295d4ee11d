"""`skillbank run`: the main job (being built; see its issue)."""

from skillbank.errors import SkillbankError


def run() -> None:
    raise SkillbankError("run is not built yet")
