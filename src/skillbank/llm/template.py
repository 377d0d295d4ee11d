"""The prompt and reply template of the local model: how messages become the model's
text and where a generated reply ends. It is the one contract between sampling
(`skillbank.llm.local`), SFT (`skillbank.train`) and RL (`skillbank.rl.trainer`): a model
is trained on exactly the text it is later prompted with.

**The prompt template.** The shipped model is the *base* model, so it has no chat template
of its own; we render messages as plain text, and the project's SFT teaches the format::

    <|system|>
    {system content}
    <|end|>
    <|user|>
    {user content}
    <|end|>
    <|assistant|>
    {the model writes here, and ends its turn with}
    <|end|>

Each message is its role header on a line, the content, a newline and `END_OF_TURN` on a
line. `render_prompt` ends with the open assistant header; a training target is the reply
followed by ``"\\n<|end|>\\n"`` (`render_reply`). The markers are plain text, not special
tokens, so the same text works for any tokenizer and for llama.cpp.

**Stopping.** Generation stops at the first of: the end-of-turn marker or any role
header (the model starting someone else's turn); the closing fence of the first code block
(an opening `` ``` `` or `` ```python `` line, then ``"\\n```"``), since the agent runs one
block per turn and everything after it is wasted tokens; the model's EOS token;
`max_new_tokens`. The reply keeps the closing fence and drops the turn markers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from skillbank.errors import ValidationError
from skillbank.llm.base import Message

END_OF_TURN = "<|end|>"
ROLE_HEADERS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
# Anything that means "this turn is over" when the model writes it.
TURN_MARKERS = (END_OF_TURN, *ROLE_HEADERS.values())

_OPEN_FENCE = re.compile(r"```[A-Za-z0-9_+.-]*[ \t]*\n")


def render_prompt(messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
    """The plain-text prompt for `messages` (template in the module docstring).

    With `add_generation_prompt` the text ends with the assistant header, where the model
    continues.
    """
    parts = []
    for message in messages:
        header = ROLE_HEADERS.get(message.role)
        if header is None:
            raise ValidationError(
                f"unknown message role {message.role!r}; expected one of {', '.join(ROLE_HEADERS)}"
            )
        parts.append(f"{header}\n{message.content}\n{END_OF_TURN}\n")
    if add_generation_prompt:
        parts.append(f"{ROLE_HEADERS['assistant']}\n")
    return "".join(parts)


def render_reply(text: str) -> str:
    """An assistant reply as the template closes it: the SFT target after `render_prompt`."""
    return f"{text}\n{END_OF_TURN}\n"


def find_stop(text: str) -> int | None:
    """Where a generated reply ends (an index into `text`), or None if it has not ended.

    A closing code fence is kept in the reply; a turn marker is not.
    """
    cuts = []
    for marker in TURN_MARKERS:
        i = text.find(marker)
        if i >= 0:
            # The newline before a marker is the template's, not the reply's.
            cuts.append(i - 1 if i > 0 and text[i - 1] == "\n" else i)
    opening = _OPEN_FENCE.search(text)
    if opening is not None:
        # Search from the newline that ends the opening line, so an empty block closes too.
        close = text.find("\n```", opening.end() - 1)
        if close >= 0:
            cuts.append(close + len("\n```"))
    return min(cuts) if cuts else None
