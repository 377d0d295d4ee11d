"""Framing between the parent and a worker: a 4-byte big-endian length, then JSON.

One frame per message and one round trip per API call keep the hot path to two small
`send`/`recv` pairs. The parent treats every frame as hostile: a length above its
limit, a short read or undecodable JSON ends the worker.

Frames from the parent to a worker may instead carry `marshal` data (the length's top
bit set): decoding a page of API results that way costs a fraction of `json.loads`.
Only a worker's channel accepts such frames, because `marshal` must never read
untrusted bytes; the parent's channel refuses them like any oversized frame.
"""

from __future__ import annotations

import json
import marshal
import select
import socket
import struct
import time
from typing import Any

_HEADER = struct.Struct(">I")
_TRUSTED = 0x8000_0000  # length flag: the body is marshal data from the parent


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed frame."""


class PeerClosed(Exception):
    """The peer closed the connection (for a worker: it died)."""


class Timeout(Exception):
    """No complete frame before the deadline."""


def encode(message: Any) -> bytes:
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return _HEADER.pack(len(body)) + body


def encode_trusted(message: Any) -> bytes:
    """A parent-to-worker frame in `marshal` form (ValueError if it can't be marshalled)."""
    body = marshal.dumps(message)
    return _HEADER.pack(len(body) | _TRUSTED) + body


class Channel:
    """One end of a socketpair with a receive buffer, so a frame usually costs one
    `recv` (and, with a deadline, one `poll`)."""

    __slots__ = ("sock", "_buf", "_poller", "_accept_trusted")

    def __init__(self, sock: socket.socket, *, accept_trusted: bool = False):
        self.sock = sock
        self._buf = bytearray()
        self._poller: select.poll | None = None
        self._accept_trusted = accept_trusted

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, message: Any) -> None:
        self.sock.sendall(encode(message))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()

    def recv(self, *, deadline: float | None = None, max_bytes: int = 1 << 26) -> Any:
        buf = self._buf
        while True:
            if len(buf) >= 4:
                length = int.from_bytes(buf[:4], "big")
                trusted = False
                if length & _TRUSTED and self._accept_trusted:
                    length &= ~_TRUSTED
                    trusted = True
                if length > max_bytes:
                    raise ProtocolError(f"frame of {length} bytes exceeds the limit of {max_bytes}")
                end = 4 + length
                if len(buf) >= end:
                    body = bytes(buf[4:end])
                    del buf[:end]
                    if trusted:
                        return marshal.loads(body)
                    try:
                        return json.loads(body)
                    except ValueError as exc:
                        raise ProtocolError(f"frame is not JSON: {exc}") from exc
            if deadline is not None:
                if self._poller is None:
                    self._poller = select.poll()
                    self._poller.register(self.sock.fileno(), select.POLLIN)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._poller.poll(max(1, int(remaining * 1000 + 0.999))):
                    raise Timeout()
            try:
                chunk = self.sock.recv(1 << 16)
            except (ConnectionResetError, BrokenPipeError) as exc:
                raise PeerClosed() from exc
            if not chunk:
                raise PeerClosed()
            buf += chunk
