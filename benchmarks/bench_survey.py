"""Figure: `unmo survey serve` sustains at least 200 answers per second at p95 under 50 ms on
127.0.0.1, with every answer stored exactly once.

Makes a temporary workspace with a few customers (`unmo onboard --from`, as a user would) and
N survey invitations (rows written through the project's models, tokens signed with the
workspace key: the setup `unmo survey send` does, without an SMTP server). Starts `unmo survey
serve --quiet` as its own process, opens every survey form first (GET, to get each form's CSRF
token, as a person's browser would), then posts the N answers as an open-loop load: answer i is
sent at start + i ÷ RATE whatever the answers before it are doing (httpx, a pool of keep-alive
connections), bounded in count (N) and time (--max-s). The load is sent by raw asyncio streams
(`--client raw`, the default: ~0.3 ms of CPU per answer) or httpx (`--client httpx`, ~6 ms): the
client shares the machine's cores with the server, so its own CPU is printed too.

Prints the achieved answers per second, the latency percentiles of the POSTs (nearest rank), the
errors, the server's own CPU time per answer (from /proc, so a busy machine still gives a fair
figure of what one answer costs), the client's, the load averages, and then counts the rows:
every answer must be one feedback row with source `survey`, each invitation answered exactly
once. Then two floors, measured in the same run: the same load against uvicorn + Starlette
serving one route that reads the body and answers a page (the HTTP stack alone), and the
answer's service alone (`record_answer` in this process, no HTTP), with the server's CPU per
answer as a ratio to each.

    python benchmarks/bench_survey.py [--answers N] [--rate R] [--customers C] [--workers W]
                                      [--client raw|httpx] [--max-s S] [--json]

UNMO_DATABASE_URL (an empty database) measures on that database instead of the workspace's SQLite
file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

GOAL_RATE = 200.0
GOAL_P95_MS = 50.0


def unmo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "unmo_cli", *args], env=env, text=True,
                          capture_output=True, check=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_workspace(root: Path, env: dict[str, str], customers: int, port: int) -> None:
    (root / "unmo.yaml").write_text(
        f"survey:\n  public_url: http://127.0.0.1:{port}\n  answers_per_minute: 100000000\n",
        encoding="utf-8")
    records = [{"name": f"Bench Customer {n:03d}", "contact_name": "Dana Lee",
                "contact_email": f"dana{n}@example.com", "industry": "gaming",
                "integration": "s2s", "events_per_day": 1000, "provider": "adjust",
                "mrr": 100} for n in range(customers)]
    batch = root / "customers.json"
    batch.write_text(json.dumps(records), encoding="utf-8")
    ran = unmo("onboard", "--from", str(batch), "--yes", env=env)
    if ran.returncode != 0:
        sys.exit(f"onboard --from failed: {ran.stderr.strip()[:500]}")


def make_invitations(root: Path, env: dict[str, str], answers: int) -> list[str]:
    """N open invitations spread over the customers; returns their signed tokens."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("UNMO_")})
    from unmo_cli import clock
    from unmo_cli.db import bulk_insert, open_database
    from unmo_cli.db.models import Customer, SurveyInvitation
    from unmo_cli.signing import new_nonce, signing_key, survey_token
    from unmo_cli.workspace import load_workspace

    ws = load_workspace()
    key = signing_key(ws)
    now = clock.now()
    expires = (now + timedelta(days=14)).replace(microsecond=0)
    db = open_database(ws)
    try:
        with db.session() as session:
            ids = [row[0] for row in session.execute(
                Customer.__table__.select().with_only_columns(Customer.__table__.c.id))]
            nonces = [new_nonce() for _ in range(answers)]
            bulk_insert(session, SurveyInvitation.__table__, [
                {"nonce": nonce, "customer_id": ids[n % len(ids)],
                 "created_at": clock.to_db(now), "expires_at": clock.to_db(expires),
                 "answers": 0} for n, nonce in enumerate(nonces)])
    finally:
        db.dispose()
    return [survey_token(key, nonce, expires) for nonce in nonces]


def count_rows(env: dict[str, str]) -> tuple[int, int, int, int]:
    """(feedback rows from the survey, invitations answered once, answered more than once,
    distinct feedback rows the invitations point at)."""
    from sqlalchemy import text

    from unmo_cli.db import connect
    from unmo_cli.workspace import load_workspace

    db = connect(load_workspace().database_url)
    try:
        with db.engine.connect() as connection:
            feedback = connection.execute(text(
                "SELECT count(*) FROM feedback WHERE source = 'survey'")).scalar()
            once = connection.execute(text(
                "SELECT count(*) FROM survey_invitations WHERE answers = 1")).scalar()
            more = connection.execute(text(
                "SELECT count(*) FROM survey_invitations WHERE answers > 1")).scalar()
            linked = connection.execute(text(
                "SELECT count(DISTINCT feedback_id) FROM survey_invitations "
                "WHERE feedback_id IS NOT NULL")).scalar()
    finally:
        db.dispose()
    return int(feedback or 0), int(once or 0), int(more or 0), int(linked or 0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` and every process under it (the workers of
    `--workers N`), from /proc: what the server itself spent, whatever else the machine runs."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    spent: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        spent[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(spent.get(member, 0.0) for member in tree)


def nearest_rank(values: list[float], percentile: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percentile / 100 * len(ordered)) - 1)]


async def open_forms(url: str, tokens: list[str]) -> list[str]:
    """Each survey form's CSRF token, fetched as a browser would (untimed)."""
    # keepalive_expiry under the server's 5 s, as in post_answers: httpx's default (5 s) raced
    # the server's close of an idle connection on a loaded machine (a ReadError).
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16, keepalive_expiry=2.0)
    found = re.compile(r'name="form_token" value="([^"]+)"')
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        gate = asyncio.Semaphore(16)

        async def one(token: str) -> str:
            async with gate:
                page = await client.get(f"/s/{token}")
            match = found.search(page.text)
            if page.status_code != 200 or match is None:
                sys.exit(f"GET /s/… answered {page.status_code}: {page.text[:300]}")
            return match.group(1)

        return list(await asyncio.gather(*(one(t) for t in tokens)))


async def post_answers(url: str, tokens: list[str], forms: list[str], rate: float,
                       max_s: float) -> tuple[list[float], dict[int, int], float]:
    """The open-loop load: latencies (ms) of the answers that got 200, status counts, and the
    seconds from the first send to the last answer."""
    rng = random.Random(13)
    errors: dict[str, int] = {}
    # Idle connections are dropped before the server's 5 s keep-alive ends, so that no answer
    # is sent on a connection the server is closing at that moment.
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256,
                          keepalive_expiry=2.0)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=max_s) as client:
        start = time.perf_counter()

        async def one(n: int) -> None:
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            satisfaction = rng.choices(range(1, 11), weights=[1, 1, 1, 1, 2, 3, 8, 20, 30, 33])[0]
            body = {"satisfaction": str(satisfaction), "nps": str(min(10, satisfaction + 1)),
                    "category": "support", "comment": "bench answer", "form_token": forms[n]}
            began = time.perf_counter()
            try:
                answer = await client.post(f"/s/{tokens[n]}", data=body)
                status = answer.status_code
            except httpx.HTTPError as exc:
                status = 0
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            took = (time.perf_counter() - began) * 1000
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200:
                latencies.append(took)

        try:
            await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(len(tokens)))),
                                   timeout=max_s)
        except TimeoutError:
            statuses[-1] = len(tokens) - sum(statuses.values())
        elapsed = time.perf_counter() - start
    if errors:
        print(f"  client errors: {errors}")
    return latencies, statuses, elapsed


class RawConnections:
    """HTTP/1.1 keep-alive connections on asyncio streams: the lightest client the standard
    library allows (a request is one write, an answer one header read and one body read), so
    that the load's own CPU, on the cores the server shares, is as small as it can be."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.gate = asyncio.Semaphore(limit)

    async def post(self, path: str, body: bytes) -> int:
        request = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                   "Content-Type: application/x-www-form-urlencoded\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        async with self.gate:
            # A connection idle for 2 s is dropped, not reused: the server closes one idle for
            # 5 s, and a POST sent as it does so would be lost (a POST is never sent twice).
            now = time.monotonic()
            while self.idle and now - self.idle[-1][2] > 2.0:
                self.idle.pop()[1].close()
            if self.idle:
                reader, writer, _ = self.idle.pop()
            else:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
            except BaseException:
                writer.close()
                raise
            if re.search(rb"(?i)\r\nconnection: *close", head):
                writer.close()
            else:
                self.idle.append((reader, writer, time.monotonic()))
            return status

    def close(self) -> None:
        for _, writer, _ in self.idle:
            writer.close()


async def post_answers_raw(url: str, tokens: list[str], forms: list[str], rate: float,
                           max_s: float) -> tuple[list[float], dict[int, int], float]:
    """post_answers' open-loop load, sent by RawConnections instead of httpx."""
    rng = random.Random(13)
    host, port = url.removeprefix("http://").rsplit(":", 1)
    pool = RawConnections(host, int(port), 256)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: dict[str, int] = {}
    start = time.perf_counter()

    async def one(n: int) -> None:
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        satisfaction = rng.choices(range(1, 11), weights=[1, 1, 1, 1, 2, 3, 8, 20, 30, 33])[0]
        body = urlencode({"satisfaction": str(satisfaction),
                          "nps": str(min(10, satisfaction + 1)), "category": "support",
                          "comment": "bench answer", "form_token": forms[n]}).encode()
        began = time.perf_counter()
        try:
            status = await pool.post(f"/s/{tokens[n]}", body)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            status = 0
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            latencies.append((time.perf_counter() - began) * 1000)

    try:
        await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(len(tokens)))),
                               timeout=max_s)
    except TimeoutError:
        statuses[-1] = len(tokens) - sum(statuses.values())
    elapsed = time.perf_counter() - start
    pool.close()
    if errors:
        print(f"  client errors: {errors}")
    return latencies, statuses, elapsed


# The HTTP floor: the same server stack (uvicorn, Starlette, one route reading the form body
# and answering a page of the survey's size) doing nothing else.
FLOOR_APP = """
import sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

PAGE = "<!DOCTYPE html>" + "x" * int(sys.argv[2])

async def answer(request):
    await request.body()
    return HTMLResponse(PAGE)

async def healthz(request):
    return HTMLResponse("ok")

app = Starlette(routes=[Route("/s/{token}", answer, methods=["GET", "POST"]),
                        Route("/healthz", healthz)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False, server_header=False)
"""


def wait_until_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"the server at {url} did not start (exit {process.poll()})")
        time.sleep(0.1)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def http_floor(tokens: list[str], forms: list[str], rate: float, max_s: float,
               page_bytes: int, client: Any) -> tuple[float, float]:
    """(server CPU ms per request, p95 ms) of FLOOR_APP under the same open-loop load."""
    port = free_port()
    floor = subprocess.Popen([sys.executable, "-c", FLOOR_APP, str(port), str(page_bytes)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, floor)
        before = cpu_seconds(floor.pid)
        latencies, statuses, _ = asyncio.run(client(url, tokens, forms, rate, max_s))
        spent = cpu_seconds(floor.pid) - before
    finally:
        stop(floor)
    served = statuses.get(200, 0)
    return (spent * 1000 / served if served else float("nan"),
            nearest_rank(latencies, 95) if latencies else float("nan"))


def service_floor(root: Path, env: dict[str, str], count: int) -> float:
    """CPU ms per answer of the service alone: `count` more invitations answered in this
    process through services.surveys.record_answer (what the page calls), no HTTP."""
    tokens = make_invitations(root, env, count)
    from unmo_cli.db import kept_open
    from unmo_cli.services import surveys
    from unmo_cli.workspace import load_workspace

    ws = load_workspace()
    with kept_open(ws):
        forms = [surveys.form_token_for(ws, t, surveys.find_invitation(ws, t)) for t in tokens]
        began = time.process_time()
        for token, form in zip(tokens, forms, strict=True):
            surveys.record_answer(ws, token, {"satisfaction": "8", "nps": "9",
                                              "category": "support",
                                              "comment": "bench answer", "form_token": form})
        return (time.process_time() - began) * 1000 / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=250.0,
                        help="answers offered per second (the goal is 200 sustained)")
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1,
                        help="`unmo survey serve --workers N` (processes sharing the port)")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw",
                        help="the load's HTTP client: raw asyncio streams (the lightest, so the "
                             "load takes the least of the cores the server shares) or httpx")
    parser.add_argument("--max-s", type=float, default=120.0,
                        help="stop the load after this many seconds whatever happened")
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON line of the figures (for benchmarks/run_all.py)")
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="unmo-bench-survey-"))
    server = None
    load_before = os.getloadavg()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNMO_")}
        env.update(UNMO_WORKSPACE=str(root), NO_COLOR="1")
        if os.environ.get("UNMO_DATABASE_URL"):
            env["UNMO_DATABASE_URL"] = os.environ["UNMO_DATABASE_URL"]
        port = free_port()
        make_workspace(root, env, options.customers, port)
        tokens = make_invitations(root, env, options.answers)
        server = subprocess.Popen([sys.executable, "-m", "unmo_cli", "survey", "serve",
                                   "--port", str(port), "--workers", str(options.workers),
                                   "--quiet"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, server)
        forms = asyncio.run(open_forms(url, tokens))
        load = post_answers_raw if options.client == "raw" else post_answers
        cpu_before = cpu_seconds(server.pid)
        client_before = resource.getrusage(resource.RUSAGE_SELF)
        latencies, statuses, elapsed = asyncio.run(
            load(url, tokens, forms, options.rate, options.max_s))
        client_after = resource.getrusage(resource.RUSAGE_SELF)
        server_cpu = cpu_seconds(server.pid) - cpu_before
        client_cpu = (client_after.ru_utime - client_before.ru_utime
                      + client_after.ru_stime - client_before.ru_stime)
        page_bytes = 1500  # about the survey's thank-you page
        stop(server)
        server = None
        feedback, once, more, linked = count_rows(env)
        # The raw client whatever --client says: httpx's pool bookkeeping stalled for minutes
        # against a server this fast.
        floor_cpu, floor_p95 = http_floor(tokens, forms, options.rate, options.max_s,
                                          page_bytes, post_answers_raw)
        service_cpu = service_floor(root, env, min(options.answers, 500))
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(root, ignore_errors=True)
    answered = statuses.get(200, 0)
    rate = answered / elapsed if elapsed else 0.0
    p50, p95, p99 = (nearest_rank(latencies, p) if latencies else float("nan")
                     for p in (50, 95, 99))
    # Every answer that got its 200 is one row, linked from its invitation; and every answer
    # offered got one (a lost connection is an answer not delivered, not a duplicate).
    exactly_once = feedback == answered == once == linked and more == 0
    complete = answered == options.answers
    met = rate >= GOAL_RATE and p95 < GOAL_P95_MS and exactly_once and complete
    database = "PostgreSQL" if os.environ.get("UNMO_DATABASE_URL") else "SQLite"
    print(f"unmo survey serve --workers {options.workers}, {options.answers:,} answers offered "
          f"at {options.rate:g}/s on 127.0.0.1 ({database}):")
    print(f"  {rate:.0f} answers/s sustained over {elapsed:.1f} s; POST latency p50 "
          f"{p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, max {max(latencies or [0]):.1f} ms")
    cpu_ms = server_cpu * 1000 / answered if answered else float("nan")
    print(f"  statuses: {dict(sorted(statuses.items()))}")
    client_ms = client_cpu * 1000 / max(1, sum(statuses.values()))
    print(f"  server CPU: {cpu_ms:.2f} ms per answer (user + system, all its processes): at most "
          f"{1000 / cpu_ms:.0f} answers/s per core of this machine when nothing else runs")
    print(f"  load client ({options.client}, this process): {client_ms:.2f} ms of CPU per answer, "
          f"on the same {os.cpu_count()} cores; server + client {cpu_ms + client_ms:.2f} ms per "
          f"answer = at most {1000 * (os.cpu_count() or 1) / (cpu_ms + client_ms):.0f} answers/s "
          f"on this machine were it otherwise idle")
    print("  load average (1/5/15 min) before the load "
          + " / ".join(f"{v:.2f}" for v in load_before) + ", after "
          + " / ".join(f"{v:.2f}" for v in os.getloadavg()))
    print(f"  floors, same load, same run: the HTTP stack alone (uvicorn + Starlette, one route "
          f"reading the body) {floor_cpu:.2f} ms of server CPU per request (p95 {floor_p95:.1f} "
          f"ms); the answer's service alone (record_answer in process, no HTTP) "
          f"{service_cpu:.2f} ms; ratios: server ÷ HTTP floor {cpu_ms / floor_cpu:.2f}×, "
          f"server ÷ (HTTP floor + service) {cpu_ms / (floor_cpu + service_cpu):.2f}×")
    print(f"  stored: {feedback:,} survey feedback rows, {once:,} invitations answered once, "
          f"{more} more than once, {linked:,} distinct rows linked "
          f"({'each answer exactly once' if exactly_once else 'NOT exactly once'}"
          f"{'' if complete else f'; {options.answers - answered:,} answers not delivered'})")
    print(f"  goal ≥ {GOAL_RATE:.0f}/s at p95 < {GOAL_P95_MS:.0f} ms, every answer stored once: "
          f"{'met' if met else 'NOT met'}")
    if options.json:
        print(json.dumps({"answers": options.answers, "offered_rate": options.rate,
                          "workers": options.workers,
                          "rate": rate, "elapsed_s": elapsed, "p50_ms": p50, "p95_ms": p95,
                          "p99_ms": p99, "statuses": statuses, "feedback_rows": feedback,
                          "server_cpu_ms_per_answer": cpu_ms,
                          "http_floor_cpu_ms": floor_cpu, "service_cpu_ms": service_cpu,
                          "client": options.client, "client_cpu_ms_per_answer": client_ms,
                          "load_before": load_before,
                          "exactly_once": exactly_once, "complete": complete, "met": met}))


if __name__ == "__main__":
    main()
