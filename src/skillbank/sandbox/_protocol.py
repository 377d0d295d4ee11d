"""Framing between the parent and a worker: a 4-byte big-endian length, then JSON.

One frame per message and one round trip per API call keep the hot path to two small
`send`/`recv` pairs. The parent treats every frame as hostile: a length above its
limit, a short read or undecodable JSON ends the worker.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from typing import Any

_HEADER = struct.Struct(">I")


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed frame."""


class PeerClosed(Exception):
    """The peer closed the connection (for a worker: it died)."""


class Timeout(Exception):
    """No complete frame before the deadline."""


def encode(message: Any) -> bytes:
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return _HEADER.pack(len(body)) + body


def send(sock: socket.socket, message: Any) -> None:
    sock.sendall(encode(message))


def _recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout()
            sock.settimeout(remaining)
        try:
            k = sock.recv_into(view[got:], n - got)
        except TimeoutError as exc:
            raise Timeout() from exc
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise PeerClosed() from exc
        if k == 0:
            raise PeerClosed()
        got += k
    return bytes(buf)


def recv(sock: socket.socket, *, deadline: float | None = None, max_bytes: int = 1 << 26) -> Any:
    (length,) = _HEADER.unpack(_recv_exact(sock, _HEADER.size, deadline))
    if length > max_bytes:
        raise ProtocolError(f"frame of {length} bytes exceeds the limit of {max_bytes}")
    body = _recv_exact(sock, length, deadline)
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ProtocolError(f"frame is not JSON: {exc}") from exc
