"""The floors bench_health.py prints beside `unmo health --all`: the same GET /health calls
(one per key, bearer auth, the whole body read and parsed as JSON) made by the bare clients,
against the same server in the same run, each in its own process:

    python benchmarks/health_floors.py CLIENT BASE_URL KEYS_FILE CONCURRENCY

CLIENT is one of
  httpx-per-worker  httpx as unmo uses it: CONCURRENCY workers, each with its own AsyncClient
                    holding one keep-alive connection, one SSL context shared by all;
  httpx-shared      one AsyncClient whose pool holds CONCURRENCY connections (unmo before);
  aiohttp           one ClientSession, a connector limited to CONCURRENCY (`bench` extra);
  streams           raw asyncio streams: one HTTP/1.1 keep-alive connection per worker,
                    Content-Length bodies only (what the sandbox sends).
Prints one JSON line: {"client", "seconds" (the calls alone, from the first to the last),
"ok" (answers with status 200)}. The libraries are imported before the clock starts (unmo's
duration_s, which it is compared with, starts after its imports too); making the clients and
the SSL context is timed, as unmo's is. A floor, not a client: none of unmo's protections."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx

try:
    import aiohttp  # the `bench` extra: pip install -e '.[bench]'
except ImportError:  # that floor is then skipped by bench_health.py
    aiohttp = None

HEADERS = {"Accept": "application/json", "User-Agent": "unmo-floor/1"}


async def _workers(keys: list[str], concurrency: int,
                   make_worker: Callable[[], Awaitable[Callable[[str], Awaitable[int]]]]
                   ) -> int:
    queue = iter(keys)
    statuses: dict[int, int] = {}

    async def worker() -> None:
        call = await make_worker()
        for key in queue:
            status = await call(key)
            statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(keys)))))
    if set(statuses) != {200}:
        print(f"answers by status: {statuses}", file=sys.stderr)
    return statuses.get(200, 0)


async def httpx_per_worker(base: str, keys: list[str], concurrency: int) -> int:
    ssl_context = httpx.create_ssl_context()  # one for all: each costs ~60 ms to make
    clients: list[httpx.AsyncClient] = []

    async def make_worker() -> Callable[[str], Awaitable[int]]:
        client = httpx.AsyncClient(
            base_url=base + "/", headers=HEADERS, verify=ssl_context,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
        clients.append(client)

        async def call(key: str) -> int:
            response = await client.get("health", headers={"Authorization": f"Bearer {key}"})
            json.loads(response.content)
            return response.status_code

        return call

    try:
        return await _workers(keys, concurrency, make_worker)
    finally:
        for client in clients:
            await client.aclose()


async def httpx_shared(base: str, keys: list[str], concurrency: int) -> int:
    async with httpx.AsyncClient(
            base_url=base + "/", headers=HEADERS,
            limits=httpx.Limits(max_connections=concurrency,
                                max_keepalive_connections=concurrency)) as client:

        async def make_worker() -> Callable[[str], Awaitable[int]]:
            async def call(key: str) -> int:
                response = await client.get("health",
                                            headers={"Authorization": f"Bearer {key}"})
                json.loads(response.content)
                return response.status_code

            return call

        return await _workers(keys, concurrency, make_worker)


async def aiohttp_client(base: str, keys: list[str], concurrency: int) -> int:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url=base + "/", headers=HEADERS,
                                     connector=connector) as session:

        async def make_worker() -> Callable[[str], Awaitable[int]]:
            async def call(key: str) -> int:
                async with session.get("health",
                                       headers={"Authorization": f"Bearer {key}"}) as response:
                    json.loads(await response.read())
                    return response.status

            return call

        return await _workers(keys, concurrency, make_worker)


async def streams(base: str, keys: list[str], concurrency: int) -> int:
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path.rstrip("/") + "/health"
    writers: list[asyncio.StreamWriter] = []

    async def make_worker() -> Callable[[str], Awaitable[int]]:
        reader, writer = await asyncio.open_connection(host, port)
        writers.append(writer)

        async def call(key: str) -> int:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: "
                         f"application/json\r\nAuthorization: Bearer {key}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            length = next(int(line.split(":", 1)[1]) for line in lines[1:]
                          if line.lower().startswith("content-length:"))
            json.loads(await reader.readexactly(length))
            return status

        return call

    try:
        return await _workers(keys, concurrency, make_worker)
    finally:
        for writer in writers:
            writer.close()


CLIENTS = {"httpx-per-worker": httpx_per_worker, "httpx-shared": httpx_shared,
           "aiohttp": aiohttp_client, "streams": streams}


def main() -> None:
    client, base, keys_file, concurrency = sys.argv[1:5]
    keys = json.loads(Path(keys_file).read_text())
    started = time.perf_counter()
    ok = asyncio.run(CLIENTS[client](base.rstrip("/"), keys, int(concurrency)))
    print(json.dumps({"client": client, "seconds": time.perf_counter() - started, "ok": ok}))


if __name__ == "__main__":
    main()
