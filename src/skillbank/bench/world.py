"""`skillbank bench world` (being built; see its issue)."""

from skillbank.errors import SkillbankError


def command() -> None:
    raise SkillbankError("bench world is not built yet")
