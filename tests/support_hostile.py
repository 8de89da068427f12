"""A hostile attribution API on 127.0.0.1 for `unmo health`'s tests: a raw-socket HTTP server that
answers each bearer with a chosen misbehaviour (a gzip bomb, brackets nested 200,000 deep, a body
dripped a byte at a time, megabytes of headers, a chunked body that never ends, a lying
Content-Length, invalid UTF-8, a connection reset …). Raw sockets, not http.server, so that it can
break HTTP the way a broken or malicious server does."""

from __future__ import annotations

import functools
import json
import socket
import socketserver
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from support_health import HEALTHY_BODY

# What the bombs inflate to: 960 MiB of zeros, from under 1 MiB on the wire (so that it is the
# inflation, not the Content-Length, that unmo must stop).
BOMB_INFLATED = 960 << 20


@functools.cache
def gzip_bomb() -> bytes:
    """A valid gzip member of 960 MiB of zeros in 0.95 MiB. Built from one 1 MiB deflate block
    repeated after full flushes (each block then compresses to the same bytes), so it takes a
    fraction of a second instead of compressing a gigabyte."""
    block, _, crc, count = _deflate_blocks()
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + block * count + _final_block()
            + struct.pack("<II", crc, BOMB_INFLATED & 0xFFFFFFFF))


@functools.cache
def deflate_bomb() -> bytes:
    """The same zeros as a zlib stream (HTTP's `deflate`)."""
    block, _, _, count = _deflate_blocks()
    adler = 1
    zeros = bytes(1 << 20)
    for _ in range(count):
        adler = zlib.adler32(zeros, adler)
    return b"\x78\xda" + block * count + _final_block() + struct.pack(">I", adler)


@functools.cache
def _deflate_blocks() -> tuple[bytes, int, int, int]:
    zeros = bytes(1 << 20)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    count = BOMB_INFLATED // len(zeros)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    return block, len(zeros), crc, count


def _final_block() -> bytes:
    return zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)


DEEP = 200_000  # 400 KB of brackets: far past Python's recursion limit


def _head(status: int = 200, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _whole(status: int, body: bytes, **headers: str) -> bytes:
    fields = {"Content-Type": "application/json", "Content-Length": str(len(body)),
              "Connection": "close"}
    fields |= {k.replace("_", "-"): v for k, v in headers.items()}
    return _head(status, fields) + body


HEALTHY = json.dumps(HEALTHY_BODY).encode()


def _gzip(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


def _chunked(stream: socket.socket, pieces: Callable[[], bytes | None], **headers: str) -> None:
    fields = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    fields |= {k.replace("_", "-"): v for k, v in headers.items()}
    stream.sendall(_head(200, fields))
    while (piece := pieces()) is not None:
        stream.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
    stream.sendall(b"0\r\n\r\n")


def _slices(data: bytes, size: int) -> Callable[[], bytes | None]:
    offsets = iter(range(0, len(data), size))

    def next_piece() -> bytes | None:
        start = next(offsets, None)
        return None if start is None else data[start:start + size]

    return next_piece


def _drip(stream: socket.socket, data: bytes, every_s: float, stop: threading.Event) -> None:
    for index in range(len(data)):
        if stop.wait(every_s):
            return
        stream.sendall(data[index:index + 1])


def _reset(stream: socket.socket) -> None:
    # SO_LINGER 0: close() sends RST instead of FIN.
    stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# Each play writes one answer to the socket; the argument is the server (for its stop event).
Play = Callable[[socket.socket, "HostileServer"], None]

PLAYS: dict[str, Play] = {
    "healthy": lambda s, srv: s.sendall(_whole(200, HEALTHY)),
    "healthy-gzip": lambda s, srv: s.sendall(_whole(200, _gzip(HEALTHY),
                                                    Content_Encoding="gzip")),
    "healthy-chunked": lambda s, srv: _chunked(s, _slices(HEALTHY, 7)),
    "healthy-deflate": lambda s, srv: s.sendall(_whole(200, zlib.compress(HEALTHY),
                                                       Content_Encoding="deflate")),
    "healthy-raw-deflate": lambda s, srv: s.sendall(_whole(200, _raw_deflate(HEALTHY),
                                                           Content_Encoding="deflate")),
    "healthy-gzip-chunked": lambda s, srv: _chunked(s, _slices(_gzip(HEALTHY), 5),
                                                    Content_Encoding="x-gzip"),
    "gzip-bomb": lambda s, srv: s.sendall(_whole(200, gzip_bomb(), Content_Encoding="gzip")),
    "gzip-bomb-chunked": lambda s, srv: _chunked(s, _slices(gzip_bomb(), 32 * 1024),
                                                 Content_Encoding="gzip"),
    "deflate-bomb": lambda s, srv: s.sendall(_whole(200, deflate_bomb(),
                                                    Content_Encoding="deflate")),
    "double-gzip-bomb": lambda s, srv: s.sendall(_whole(200, _gzip(gzip_bomb()),
                                                        Content_Encoding="gzip, gzip")),
    "br": lambda s, srv: s.sendall(_whole(200, b"\x0b\x02\x80{}\x03", Content_Encoding="br")),
    "deep-array": lambda s, srv: s.sendall(_whole(200, b"[" * DEEP + b"]" * DEEP)),
    "deep-object": lambda s, srv: s.sendall(_whole(200, b'{"a":' * (DEEP // 2) + b"1"
                                                   + b"}" * (DEEP // 2))),
    "deep-401": lambda s, srv: s.sendall(_whole(401, b'{"error":' + b"[" * DEEP + b"]" * DEEP
                                                + b"}")),
    "deep-in-field": lambda s, srv: s.sendall(_whole(
        200, HEALTHY[:-1] + b', "extra": ' + b"[" * 1000 + b"]" * 1000 + b"}")),
    "slow-drip": lambda s, srv: (s.sendall(_head(200, {"Content-Length": "5000"})),
                                 _drip(s, HEALTHY.ljust(5000), srv.drip_s, srv.stopping)),
    "slow-headers": lambda s, srv: _drip(s, _whole(200, HEALTHY), srv.drip_s, srv.stopping),
    "huge-headers": lambda s, srv: s.sendall(
        _head(200, {f"X-Filler-{i}": "x" * 1000 for i in range(2000)}
              | {"Content-Length": str(len(HEALTHY))}) + HEALTHY),
    "endless-chunked": lambda s, srv: _chunked(s, lambda: None if srv.stopping.is_set()
                                               else b" " * 65536),
    "huge-length": lambda s, srv: (s.sendall(_head(200, {"Content-Length": str(1 << 40)})),
                                   _endless(s, srv)),
    "short-length": lambda s, srv: s.sendall(_head(200, {"Content-Length": "1000"})
                                             + HEALTHY[:100]),
    "long-body": lambda s, srv: s.sendall(_head(200, {"Content-Length": "20"}) + HEALTHY),
    "invalid-utf8": lambda s, srv: s.sendall(_whole(
        200, HEALTHY.replace(b'"1.0.0"', b'"1.0.\xff\xfe"'))),
    "array": lambda s, srv: s.sendall(_whole(200, b"[1, 2, 3]")),
    "string": lambda s, srv: s.sendall(_whole(200, b'"healthy"')),
    "null": lambda s, srv: s.sendall(_whole(200, b"null")),
    "huge-number": lambda s, srv: s.sendall(_whole(200, b"9" * 100_000)),
    "reset": lambda s, srv: _reset(s),
    "many-services": lambda s, srv: s.sendall(_whole(200, json.dumps(
        HEALTHY_BODY | {"services": {f"svc-{i}": "unhealthy" for i in range(20_000)}}).encode())),
    "analytics-huge-installs": lambda s, srv: s.sendall(_whole(200, json.dumps({
        "period": {}, "attribution_model": "last_click", "campaigns": [],
        "metrics": {"total_installs": 10 ** 30}}).encode())),
}


def _endless(stream: socket.socket, server: HostileServer) -> None:
    filler = b" " * 65536
    while not server.stopping.is_set():
        stream.sendall(filler)


@dataclass
class HostileServer:
    """Serves GET /v1/health and /v1/analytics/attribution: `plays` maps a bearer key to a play of
    PLAYS for /health (default "healthy"), `analytics_plays` likewise for analytics (default a
    documented answer with 42 installs). Counts requests per (key, path)."""

    plays: dict[str, str] = field(default_factory=dict)
    analytics_plays: dict[str, str] = field(default_factory=dict)
    drip_s: float = 0.2
    counts: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        gzip_bomb(), deflate_bomb()  # built once per session, before any client waits on them
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        hostile = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                hostile._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 128

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, stream: socket.socket) -> None:
        stream.settimeout(30)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = stream.recv(4096)
                if not data:
                    return
                head += data
            lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1].split("?", 1)[0]
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in lines[1:])}
            token = headers.get("authorization", "").removeprefix("Bearer ")
            with self._lock:
                self.counts[(token, path)] += 1
            if path == "/v1/analytics/attribution":
                name = self.analytics_plays.get(token)
                if name is None:
                    stream.sendall(_whole(200, json.dumps({
                        "period": {}, "attribution_model": "last_click", "campaigns": [],
                        "metrics": {"total_installs": 42}}).encode()))
                    return
            else:
                name = self.plays.get(token, "healthy")
            PLAYS[name](stream, self)
        except OSError:
            pass  # the client gave up (its cap or its deadline): nothing to answer to
        finally:
            time.sleep(0.01)  # let the answer leave before the close
            stream.close()

    def requests(self, key: str, path: str = "/v1/health") -> int:
        return self.counts[(key, path)]
