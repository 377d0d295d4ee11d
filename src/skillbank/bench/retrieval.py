"""`skillbank bench retrieval` (being built; see its issue)."""

from skillbank.errors import SkillbankError


def command() -> None:
    raise SkillbankError("bench retrieval is not built yet")
