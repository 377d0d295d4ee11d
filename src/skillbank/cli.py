"""The `skillbank` command line: the library's functions, one command each.

Command groups live in `skillbank.commands.*`; this module assembles them and owns the
error policy: a :class:`~skillbank.errors.SkillbankError` (or a usage error) prints one
line naming the problem and exits non-zero; a Python traceback appears only with
``--debug`` (or ``SKILLBANK_DEBUG=1``).
"""

from __future__ import annotations

import os
import sys
import traceback

import typer

from skillbank.commands import bench, runs, sandbox, skills, world
from skillbank.commands import demo, main_job
from skillbank.commands import data, train
from skillbank.errors import SkillbankError

# Typer >= 0.29 vendors its own click; older Typer uses the click package. Catch both.
try:  # pragma: no cover - depends on the installed Typer
    from typer._click.exceptions import ClickException as _TyperClickException
except ImportError:  # pragma: no cover
    _TyperClickException = None
try:  # pragma: no cover
    import click as _click

    _CLICK_ERRORS: tuple[type, ...] = (_click.ClickException,)
    _EXITS: tuple[type, ...] = (typer.Exit, _click.exceptions.Exit)
    _ABORTS: tuple[type, ...] = (typer.Abort, _click.exceptions.Abort)
except ImportError:  # pragma: no cover
    _CLICK_ERRORS, _EXITS, _ABORTS = (), (typer.Exit,), (typer.Abort,)
if _TyperClickException is not None:
    _CLICK_ERRORS = (*_CLICK_ERRORS, _TyperClickException)

app = typer.Typer(
    name="skillbank",
    help=(
        "Executable skill libraries for self-improving LLM agents.\n\n"
        "Global flag: --debug shows Python tracebacks for errors."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(skills.app, name="skills", help="Add, list, show, diff, alias, export and import skill versions.")
app.add_typer(sandbox.app, name="sandbox", help="Run code in the hardened sandbox.")
app.add_typer(world.app, name="world", help="Explore the built-in apps world: apps, API docs, tasks, expert solutions.")
app.add_typer(runs.app, name="runs", help="List and inspect agent runs (traces).")
app.add_typer(bench.app, name="bench", help="Benchmarks; each prints one JSON object.")
app.add_typer(data.app, name="data", help="Build training data (SFT records from expert episodes).")
app.add_typer(train.app, name="train", help="Train the local policy (LoRA SFT).")
app.command("doctor", help="Show which sandbox isolation layers this machine supports.")(sandbox.doctor)
app.command("run", help="The main job: run the skill-library agent over a split.")(main_job.run)
app.command("demo", help="A short tour of the skill library (create, update, history, diff, events).")(demo.demo)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("SKILLBANK_DEBUG", "") not in ("", "0")
    args = [a for a in args if a != "--debug"]
    try:
        rv = app(args=args, prog_name="skillbank", standalone_mode=False)
    except _EXITS as exc:
        return getattr(exc, "exit_code", 0)
    except _CLICK_ERRORS as exc:
        exc.show()
        return exc.exit_code
    except _ABORTS:
        sys.stderr.write("aborted\n")
        return 130
    except SkillbankError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"error: {_one_line(exc)}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if debug:
            traceback.print_exc()
        sys.stderr.write(
            f"internal error: {type(exc).__name__}: {_one_line(exc)} (rerun with --debug for the traceback)\n"
        )
        return 2
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
