"""What the policy reads: the system prompt (task, supervisor, APIs, retrieved skills,
the four operations, the output format), observations of executed blocks, and the
extraction of the one code block a reply must hold."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from skillbank.agent.config import AgentConfig
from skillbank.sandbox.types import ExecutionResult
from skillbank.worlds.base import Task


@dataclass(frozen=True)
class PromptSkill:
    """A retrieved skill as the prompt shows it."""

    name: str
    signature: str
    docstring: str | None
    source: str


_SYSTEM = """\
You are a careful coding agent with a library of reusable Python skills. You solve the
task below by writing Python, one code block per reply, which runs in a stateful shell:
variables and functions persist between your replies.

# Task
{instruction}

# Supervisor (the person you act for)
{supervisor}

# Environment
- Call app APIs as `apis.<app>.<api>(**kwargs)`; they return JSON-like values or raise.
- Read the docs before guessing: `apis.api_docs.show_app_descriptions()`,
  `apis.api_docs.show_api_descriptions(app_name=...)`,
  `apis.api_docs.show_api_doc(app_name=..., api_name=...)`.
- Most apps need a login: passwords are in `apis.supervisor.show_account_passwords()`.
  List APIs are paginated: loop over pages until one comes back empty.
- `print(...)` what you need to see; the value of a final bare expression is shown too.
- Finish with `apis.supervisor.complete_task(answer=...)` (leave out `answer` when the
  task asks for none), or `apis.supervisor.complete_task(status="fail")` if it cannot be
  done. Nothing runs after the task is completed.

# Skill library
{skills}

# The four skill operations
1. Use: call a library skill by name; it is already defined in your shell.
2. Create: write a reusable top-level function for a step you would repeat (several API
   calls, a loop over pages, parsing) and call it in the same code block.
3. Update: if a skill fails, rewrite it from the error, keeping its name, and call it
   again in the same block.
4. Save: a function that runs without error in a task you complete successfully is
   saved to the library for later tasks. Give it a docstring and clear parameters.
Plain API calls are fine where a function would be pointless.

# Output format
Reason in a sentence or two, then write exactly one fenced block:
```python
# your code
```
"""

_NO_SKILLS = "(no skills were retrieved for this task)"


def render_skill(skill: PromptSkill, config: AgentConfig) -> str:
    if len(skill.source.strip().splitlines()) <= config.inline_source_max_lines:
        return f"```python\n{skill.source.strip()}\n```"
    doc = f'\n    """{skill.docstring.strip()}"""' if skill.docstring else ""
    return f"```python\n{skill.signature}:{doc}\n    ...  # source omitted (long); the function is defined\n```"


def render_system(task: Task, skills: Sequence[PromptSkill], config: AgentConfig) -> str:
    supervisor = "\n".join(f"- {k}: {v}" for k, v in task.supervisor.items()) or "(none given)"
    if skills:
        listed = "\n\n".join(render_skill(s, config) for s in skills)
        body = "These skills are defined in your shell already; call them directly.\n\n" + listed
    else:
        body = _NO_SKILLS
    return _SYSTEM.format(instruction=task.instruction.strip(), supervisor=supervisor, skills=body)


def render_start(task: Task, skills: Sequence[PromptSkill] = ()) -> str:
    """The first user message: the task again, and which library skills are defined (or
    that none are), right where the first reply is written: whether to use a skill or
    to create one is decided there, and a small model reads its last lines best."""
    names = ", ".join(f"`{s.name}`" for s in skills)
    library = f"Library skills defined in your shell: {names}." if skills else "No library skill fits this task."
    return f"Begin. Task: {task.instruction.strip()}\n{library}\nWrite your first code block."


_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class ExtractedCode:
    code: str | None
    blocks_found: int
    problem: str | None  # what the model is told when `code` is None


def extract_code(reply: str) -> ExtractedCode:
    """The first fenced block of `reply` (an unclosed last fence counts: generation may
    stop at a length limit mid-block)."""
    blocks = [m.group(1) for m in _FENCE.finditer(reply)]
    non_empty = [b for b in blocks if b.strip()]
    if not non_empty:
        problem = (
            "Your reply had a code block but it was empty." if blocks
            else "Your reply had no code block, so nothing ran."
        )
        return ExtractedCode(None, len(blocks), problem + " Reply with one ```python fenced block of code.")
    return ExtractedCode(non_empty[0], len(non_empty), None)


def _clip(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    head = limit * 2 // 3
    tail = limit - head
    dropped = len(text) - head - tail
    return f"{text[:head]}\n... [{dropped} characters cut] ...\n{text[len(text) - tail:]}", True


def render_observation(result: ExecutionResult, config: AgentConfig, *, extra_blocks: int = 0) -> str:
    """The observation sent back after a block ran: output, value, errors, all clipped."""
    parts: list[str] = []
    if result.static_errors:
        kind = f" ({result.error_type})" if result.error_type else ""
        parts.append(f"The code was not run{kind}:\n" + "\n".join(f"- {e}" for e in result.static_errors))
    if result.stdout:
        out, cut = _clip(result.stdout, config.max_stdout_chars)
        parts.append("Output:\n" + out + ("\n[output truncated]" if cut or result.stdout_truncated else ""))
    elif result.stdout_truncated:
        parts.append("Output: [truncated]")
    if result.result_repr is not None:
        value, _ = _clip(result.result_repr, config.max_result_chars)
        parts.append("Value:\n" + value)
    if result.killed:
        parts.append(f"The execution was stopped ({result.killed}).")
    if not result.ok and not result.static_errors:
        error = f"{result.error_type or 'Error'}: {result.error_message or ''}".rstrip(": ")
        if result.traceback:
            lines = result.traceback.rstrip().splitlines()
            kept = lines[-config.max_traceback_lines:]
            prefix = "[traceback start cut]\n" if len(lines) > len(kept) else ""
            parts.append("Error:\n" + prefix + "\n".join(kept))
            if error not in result.traceback:
                parts.append(error)
        else:
            parts.append("Error: " + error)
    if not parts:
        parts.append("Executed without output.")
    if extra_blocks:
        parts.append(f"Note: only the first of your {extra_blocks + 1} code blocks ran; write one block per reply.")
    return "\n\n".join(parts)
