"""The `skillbank` command line: the library's functions, one command each.

Command groups live in `skillbank.commands.*`; this module assembles them and owns the
error policy: a :class:`~skillbank.errors.SkillbankError` (or a usage error) prints one
line naming the problem and exits non-zero; a Python traceback appears only with
``--debug`` (or ``SKILLBANK_DEBUG=1``).
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import traceback
from typing import Protocol, cast

import typer

from skillbank import __version__
from skillbank.commands import bench, demo, main_job, runs, sandbox, skills, world
from skillbank.commands import data as data_cmd
from skillbank.commands import governance as governance_cmd
from skillbank.commands import mcp as mcp_cmd
from skillbank.commands import policy as policy_cmd
from skillbank.commands import serve as serve_cmd
from skillbank.commands import train as train_cmd
from skillbank.console import Interrupted
from skillbank.errors import SkillbankError

# Typer >= 0.29 vendors its own click; older Typer uses the click package. Catch both.
_TYPER_CLICK_ERRORS: tuple[type[Exception], ...] = ()
try:  # pragma: no cover - depends on the installed Typer
    from typer._click.exceptions import ClickException as _TyperClickException

    _TYPER_CLICK_ERRORS = (_TyperClickException,)
except ImportError:  # pragma: no cover
    pass
try:  # pragma: no cover
    import click as _click

    _CLICK_ERRORS: tuple[type[Exception], ...] = (_click.ClickException, *_TYPER_CLICK_ERRORS)
    _EXITS: tuple[type[BaseException], ...] = (typer.Exit, _click.exceptions.Exit)
    _ABORTS: tuple[type[BaseException], ...] = (typer.Abort, _click.exceptions.Abort)
except ImportError:  # pragma: no cover
    _CLICK_ERRORS, _EXITS, _ABORTS = _TYPER_CLICK_ERRORS, (typer.Exit,), (typer.Abort,)


class _ClickError(Protocol):
    """What both Click exception classes (the package's and Typer's vendored copy) carry."""

    exit_code: int

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
# `skillbank skills` holds the library's commands and governance's (eval, redteam, promote, ...).
governance_cmd.register(skills.app)
app.add_typer(skills.app, name="skills", help="Add, list, show, diff, alias, remove, export and import skill versions.")
app.add_typer(sandbox.app, name="sandbox", help="Run code in the hardened sandbox.")
app.add_typer(world.app, name="world", help="Explore a world (apps, support or --world your.module:make_world): apps, API docs, tasks, expert solutions.")
app.add_typer(runs.app, name="runs", help="List, inspect and compare agent runs (traces).")
app.add_typer(bench.app, name="bench", help="Benchmarks: a summary table, or one JSON object with --json.")
app.add_typer(policy_cmd.app, name="policy", help="The governance policy in force (promotion gate, canary rule, red-team).")
app.add_typer(data_cmd.app, name="data", help="Build training data (SFT records from expert episodes).")
app.add_typer(train_cmd.app, name="train", help="Train the local policy: LoRA SFT on expert episodes, SAGE (GRPO over sequential rollouts).")
app.command("doctor", help="Check this machine: sandbox isolation layers, installed extras, offline models.")(sandbox.doctor)
app.command("run", help="The main job: run the skill-library agent over a split.")(main_job.run)
app.command("serve", help="Serve a library: REST API with scoped tokens, and the dashboard (the `web` extra).")(serve_cmd.serve)
app.command("report", help="Write a self-contained HTML report with plots for one run or two compared.")(serve_cmd.report)
app.add_typer(serve_cmd.tokens_app, name="tokens", help="Create, list and revoke API tokens (namespace + role).")
app.command("demo", help="A short tour of the skill library (create, update, history, diff, events).")(demo.demo)
app.command("mcp", help="Serve the library over MCP (stdio): search, show, run code in the sandbox, save candidates.")(mcp_cmd.mcp)


def _version_callback(value: bool) -> None:
    if value:
        sys.stdout.write(f"skillbank {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_version_callback, is_eager=True
    ),
) -> None:
    """Executable skill libraries for self-improving LLM agents."""


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


# Typer's coercion layer words its errors as pydantic does; say the same in ours.
_PYDANTIC_WORDING = (
    (re.compile(r"\b[Vv]alue error, "), ""),
    (re.compile(r"Input should be a valid integer(, [^.;]*)?"), "not an integer"),
    (re.compile(r"Input should be a valid number(, [^.;]*)?"), "not a number"),
    (re.compile(r"Input should be a valid boolean(, [^.;]*)?"), "not true or false"),
    (re.compile(r"Input should be greater than or equal to"), "must be at least"),
    (re.compile(r"Input should be less than or equal to"), "must be at most"),
    (re.compile(r"Input should be"), "must be"),
)


def _usage_message(exc: BaseException) -> str:
    """A Click/Typer usage error as one line in our words."""
    text = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    for pattern, ours in _PYDANTIC_WORDING:
        text = pattern.sub(ours, text)
    return _one_line(text)


def _usage_hint(exc: BaseException) -> str:
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return ""
    return f" (see `{ctx.command_path} --help`)"


def quiet_third_party_progress() -> None:
    """Keep Hugging Face's download/loading bars and advisory logging out of our
    output: progress is ours to show."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("SKILLBANK_DEBUG", "") not in ("", "0")
    args = [a for a in args if a != "--debug"]
    quiet_third_party_progress()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, _raise_interrupted)
    try:
        return _run(args, debug)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted()


def _interrupted_line(exc: BaseException) -> str:
    detail = _one_line(exc)
    return f"interrupted: {detail}\n" if detail else "interrupted\n"


def _run(args: list[str], debug: bool) -> int:
    try:
        rv = app(args=args, prog_name="skillbank", standalone_mode=False)
    except _EXITS as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # Typer turns Ctrl-C into Exit(130)
            sys.stderr.write(_interrupted_line(exc.__cause__))
        return getattr(exc, "exit_code", 0)
    except Interrupted as exc:
        sys.stderr.write(_interrupted_line(exc))
        return 130
    except _CLICK_ERRORS as exc:
        message = _usage_message(exc)
        if message:  # empty: Click already printed the help (a group called bare)
            sys.stderr.write(f"error: {message}{_usage_hint(exc)}\n")
        return cast(_ClickError, exc).exit_code  # one of _CLICK_ERRORS
    except _ABORTS:
        sys.stderr.write("aborted\n")
        return 130
    except SkillbankError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"error: {_one_line(exc)}\n")
        return exc.exit_code
    except KeyboardInterrupt as exc:
        sys.stderr.write(_interrupted_line(exc))
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if debug:
            traceback.print_exc()
        hint = "" if debug else " (rerun with --debug for the traceback)"
        sys.stderr.write(f"internal error: {type(exc).__name__}: {_one_line(exc)}{hint}\n")
        return 2
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
