"""`skillbank sandbox …` (being built; see its issue)."""

import typer

app = typer.Typer(no_args_is_help=True)


def doctor() -> None:
    from skillbank.errors import SkillbankError

    raise SkillbankError("doctor is not built yet")
