"""`skillbank demo` (being built; see its issue)."""

from skillbank.errors import SkillbankError


def demo() -> None:
    raise SkillbankError("demo is not built yet")
