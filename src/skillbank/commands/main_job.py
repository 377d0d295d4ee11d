"""`skillbank run` (the main job) and `skillbank demo` (being built)."""

from skillbank.errors import SkillbankError


def run() -> None:
    raise SkillbankError("run is not built yet")


def demo() -> None:
    raise SkillbankError("demo is not built yet")
