"""Tokenising SFT records with the loss mask: the whole record is tokenised once (as the
model reads it at run time, BOS first), and a token carries loss when its characters lie
inside an assistant reply or the end-of-turn marker that closes it (`render_record`'s
spans). Everything else, system prompt, task, observations, role headers, is labelled
-100 and ignored by the loss."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from skillbank.errors import ValidationError
from skillbank.llm.base import Message
from skillbank.train.sft_data import render_record

IGNORE_INDEX = -100


@dataclass(frozen=True)
class EncodedExample:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]  # the token id where it carries loss, else IGNORE_INDEX

    @property
    def loss_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def encode_messages(messages: Sequence[Message], tokenizer: Any) -> EncodedExample:
    """Token ids of the rendered record and their labels (needs a fast tokenizer, for
    character offsets)."""
    text, spans = render_record(messages)
    try:
        enc = tokenizer(text, return_offsets_mapping=True)
    except NotImplementedError:
        raise ValidationError("SFT needs a fast tokenizer (one that returns character offsets)") from None
    ids = list(enc["input_ids"])
    labels = []
    span_i = 0
    for token_id, (start, end) in zip(ids, enc["offset_mapping"]):
        while span_i < len(spans) and spans[span_i][1] <= start:
            span_i += 1
        inside = end > start and span_i < len(spans) and spans[span_i][0] <= start and end <= spans[span_i][1]
        labels.append(token_id if inside else IGNORE_INDEX)
    return EncodedExample(tuple(ids), tuple(labels))
