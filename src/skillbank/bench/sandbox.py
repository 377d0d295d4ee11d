"""`skillbank bench sandbox` (being built; see its issue)."""

from skillbank.errors import SkillbankError


def command() -> None:
    raise SkillbankError("bench sandbox is not built yet")
