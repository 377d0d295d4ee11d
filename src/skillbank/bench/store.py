"""`skillbank bench store` (being built; see its issue)."""

from skillbank.errors import SkillbankError


def command() -> None:
    raise SkillbankError("bench store is not built yet")
