"""Credentials out of what skillbank records: URLs with a password (a PostgreSQL
library URL, a model server's base URL) are written as ``scheme://user:***@host/...``,
and query parameters that carry a secret (``?password=...``, ``sslpassword``, tokens,
keys) as ``***``. Used where a run records its configuration and where the server
hands a run back, so nothing secret leaves through a run.

Only the standard library.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
# scheme://userinfo@ : userinfo up to the first '@' that precedes the host part.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?#@\s]*)@")
_SECRET_PARAM = re.compile(
    r"(?P<key>[?&;](?:[A-Za-z_]*(?:pass(?:word|wd)?|secret|token|api[_-]?key|access[_-]?key|credentials?)[A-Za-z_]*)=)"
    r"(?P<value>[^&;#\s\"']*)",
    re.IGNORECASE,
)
_MAX_DEPTH = 32


def redact_text(text: str) -> str:
    """`text` with every credential of every URL in it masked."""
    if "://" not in text and "=" not in text:
        return text

    def userinfo(m: re.Match[str]) -> str:
        user, sep, _password = m.group("userinfo").partition(":")
        if not sep:  # a lone user part may itself be a token (https://TOKEN@host)
            return f"{m.group('scheme')}{MASK}@"
        return f"{m.group('scheme')}{user}:{MASK}@"

    text = _USERINFO.sub(userinfo, text)
    if "://" in text:
        text = _SECRET_PARAM.sub(lambda m: m.group("key") + MASK, text)
    return text


def redact(value: Any, _depth: int = 0) -> Any:
    """A copy of a JSON-like value with `redact_text` applied to every string in it
    (keys included); deeper than 32 levels is left as a marker."""
    if isinstance(value, str):
        return redact_text(value)
    if _depth >= _MAX_DEPTH:
        return "…[nested too deep]" if isinstance(value, (dict, list, tuple)) else value
    if isinstance(value, dict):
        return {redact(k, _depth + 1) if isinstance(k, str) else k: redact(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, _depth + 1) for v in value]
    return value


__all__ = ["MASK", "redact", "redact_text"]
