"""Skill references: ``name``, ``name@3`` (a version number) or ``name@promoted`` (an alias).

A stored version writes its own reference as ``name@N`` (:func:`format_ref`); what a
person or a client types may also name an alias or ``latest``, or give the name alone.
Every reader parses them here, so a bad reference is refused everywhere with the same
message, before any library is looked at.
"""

from __future__ import annotations

import re

from skillbank.errors import ValidationError

# A version number, or an alias name as the store allows one (a letter, then letters,
# digits, '_', '.', '-'); ``latest`` has the alias shape.
_VERSION_RE = re.compile(r"[0-9]+|[A-Za-z][A-Za-z0-9_.-]{0,63}")


def format_ref(name: str, version: int | str) -> str:
    """``name@version``: how a version (or an alias of a name) is written."""
    return f"{name}@{version}"


def _is_version(text: str) -> bool:
    return bool(_VERSION_RE.fullmatch(text)) and not (text.isdigit() and int(text) < 1)


def check_version(ref: str, what: str = "version") -> str:
    """A version number, an alias name or ``latest``; anything else is refused here
    rather than looked up as an alias that cannot exist."""
    if not _is_version(ref):
        raise ValidationError(
            f"invalid {what} {ref!r}: use a version number (1, 2, ...), an alias name or 'latest'"
        )
    return ref


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``name``, ``name@3`` or ``name@promoted`` → (name, version or alias, None for the
    name alone)."""
    name, _, version = ref.partition("@")
    if not name or ref.endswith("@"):
        raise ValidationError(f"invalid skill reference {ref!r}: use NAME, NAME@VERSION or NAME@ALIAS")
    if version and not _is_version(version):
        raise ValidationError(
            f"invalid skill reference {ref!r}: {version!r} is not a version number (1, 2, ...), an alias name or 'latest'"
        )
    return name, version or None


def parse_version_ref(ref: str) -> tuple[str, int]:
    """``name@3`` → (name, 3): the reference of one stored version, as
    :func:`format_ref` writes it (no alias, no bare name)."""
    name, version = parse_ref(ref)
    if version is None or not version.isdigit():
        raise ValidationError(f"invalid version reference {ref!r}: use NAME@VERSION (a number)")
    return name, int(version)


__all__ = ["check_version", "format_ref", "parse_ref", "parse_version_ref"]
