"""Framing between the parent and a worker: a 4-byte big-endian length, then JSON.

One frame per message and one round trip per API call keep the hot path to two small
`send`/`recv` pairs. The parent treats every frame as hostile: its socket is
non-blocking and every send and receive has a deadline (a worker that stops reading
cannot hold the parent in `sendall`); a frame's length is checked against a limit
before its body is read, and its nesting before it is decoded (counting brackets
outside strings, so the decoder never recurses deeper than the limit); a short read,
a frame too large or too deep, or any decoding failure is a :class:`ProtocolError`
that ends the worker.

Frames from the parent to a worker may instead carry `marshal` data (the length's top
bit set): decoding a page of API results that way costs a fraction of `json.loads`.
Only a worker's channel accepts such frames, because `marshal` must never read
untrusted bytes; the parent's channel refuses them like any oversized frame.
"""

from __future__ import annotations

import itertools
import json
import marshal
import re
import select
import socket
import struct
import time
from typing import Any

_HEADER = struct.Struct(">I")
_TRUSTED = 0x8000_0000  # length flag: the body is marshal data from the parent

#: Nesting allowed in a frame from a worker: the frame itself takes two levels, the rest
#: is the agent's data (API arguments), far shallower in any real call and far below the
#: depth at which a recursive consumer in the host would fail.
MAX_FRAME_DEPTH = 40

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed frame."""


class PeerClosed(Exception):
    """The peer closed the connection (for a worker: it died)."""


class Timeout(Exception):
    """No complete frame before the deadline."""


def encode(message: Any) -> bytes:
    """A JSON frame; NaN and the infinities are refused (ValueError): they are not JSON."""
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    return _HEADER.pack(len(body)) + body


def nesting_exceeds(body: bytes, max_depth: int) -> bool:
    """Whether the JSON text `body` nests containers deeper than `max_depth`.

    The usual frame costs two counts of opening brackets (`memchr` scans for large
    frames): fewer of them than the limit cannot nest deeper than it. Otherwise strings are cut out and the brackets'
    running depth is taken in C (`itertools.accumulate`).
    """
    if len(body) < 8192:
        opens = body.count(b"[") + body.count(b"{")
    else:
        opens = _count_upto(body, b"[", max_depth + 1)
        opens += _count_upto(body, b"{", max_depth + 1 - opens)
    if opens <= max_depth:
        return False
    if b'"' in body:
        body = _JSON_STRING.sub(b"", body)
    brackets = body.translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0) > max_depth


def _count_upto(body: bytes, char: bytes, cap: int) -> int:
    # bytes.find is memchr; bytes.count of one byte is a plain loop, ~30x slower.
    found, pos = 0, -1
    while found < cap:
        pos = body.find(char, pos + 1)
        if pos < 0:
            break
        found += 1
    return found


def decode(body: bytes, max_depth: int = MAX_FRAME_DEPTH) -> Any:
    """A frame body from an untrusted peer; any failure is a ProtocolError."""
    if nesting_exceeds(body, max_depth):
        raise ProtocolError(f"frame nests deeper than {max_depth} levels")
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ProtocolError(f"frame is not JSON: {str(exc)[:200]}") from None


def _refuse_constant(name: str) -> Any:
    # Python's decoder accepts NaN, Infinity and -Infinity; strict JSON has no such
    # values, and a host that passed them on would write invalid JSON (`--json` output).
    raise ValueError(f"{name} is not a JSON value")


def encode_trusted(message: Any) -> bytes:
    """A parent-to-worker frame in `marshal` form (ValueError if it can't be marshalled)."""
    body = marshal.dumps(message)
    return _HEADER.pack(len(body) | _TRUSTED) + body


class Channel:
    """One end of a socketpair with a receive buffer, so a frame usually costs one
    `recv`.

    The parent's end is non-blocking (`nonblocking=True`): it polls until the
    deadline before each receive, and before each send the socket has no room for.
    The worker's end blocks, with no deadline: the parent times it.
    """

    __slots__ = ("_accept_trusted", "_buf", "_in", "_nonblocking", "_out", "last_size", "sock")

    def __init__(self, sock: socket.socket, *, accept_trusted: bool = False, nonblocking: bool = False):
        self.sock = sock
        self._buf = bytearray()
        self._in: select.poll | None = None
        self._out: select.poll | None = None
        self._accept_trusted = accept_trusted
        self._nonblocking = nonblocking
        self.last_size = 0  # bytes of the last frame received, header included
        if nonblocking:
            sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, message: Any, *, deadline: float | None = None) -> None:
        self.send_raw(encode(message), deadline=deadline)

    def send_raw(self, data: bytes, *, deadline: float | None = None) -> None:
        if not self._nonblocking:
            self.sock.sendall(data)
            return
        view = memoryview(data)
        while view:
            try:
                sent = self.sock.send(view)
            except BlockingIOError:
                sent = 0
            except (ConnectionResetError, BrokenPipeError) as exc:
                raise PeerClosed() from exc
            view = view[sent:]
            if view:
                if self._out is None:
                    self._out = select.poll()
                    self._out.register(self.sock.fileno(), select.POLLOUT)
                self._wait(self._out, deadline)

    def close(self) -> None:
        self.sock.close()

    @staticmethod
    def _wait(poller: select.poll, deadline: float | None) -> None:
        if deadline is None:
            poller.poll()
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poller.poll(max(1, int(remaining * 1000 + 0.999))):
            raise Timeout()

    def recv(self, *, deadline: float | None = None, max_bytes: int = 1 << 26, max_depth: int = MAX_FRAME_DEPTH) -> Any:
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
                    self.last_size = end
                    if trusted:
                        return marshal.loads(body)
                    return decode(body, max_depth)
            if self._nonblocking or deadline is not None:
                # Poll first: the peer has usually not answered yet, and a failed
                # non-blocking recv costs more than the poll it would save.
                if self._in is None:
                    self._in = select.poll()
                    self._in.register(self.sock.fileno(), select.POLLIN)
                self._wait(self._in, deadline)
                try:
                    chunk = self.sock.recv(1 << 16, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    continue
                except (ConnectionResetError, BrokenPipeError) as exc:
                    raise PeerClosed() from exc
            else:
                try:
                    chunk = self.sock.recv(1 << 16)
                except (ConnectionResetError, BrokenPipeError) as exc:
                    raise PeerClosed() from exc
            if not chunk:
                raise PeerClosed()
            buf += chunk
