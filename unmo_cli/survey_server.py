"""Owns the survey page's web server: a Starlette application run by uvicorn (the `survey`
extra), against the workspace's database like every command. The page faces the internet:

- `GET /s/{token}` shows the form, `POST /s/{token}` records the answer (services/surveys.py,
  which goes through the same service as `unmo feedback add`); a forged, altered or expired
  token is a 403 page and writes nothing;
- bodies over MAX_BODY_BYTES are refused (413) while they are read, never buffered whole;
  answers per client address are limited (429, `survey.answers_per_minute`); only form posts
  are read (415 otherwise);
- every answer carries security headers: a Content-Security-Policy that allows nothing but the
  page's own stylesheet and form, no framing, no sniffing, and no Referer (the link is the
  token); pages are not cached;
- `GET /healthz` answers for load balancers (503 when the database does not answer)."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from uvicorn.supervisors import Multiprocess

from unmo_cli import clock
from unmo_cli.db import kept_open, open_database
from unmo_cli.errors import EnvironmentFailure, InputError
from unmo_cli.services import surveys
from unmo_cli.signing import signing_key
from unmo_cli.templates import loaded_template, search_path
from unmo_cli.workspace import Workspace, load_workspace

MAX_BODY_BYTES = 16 * 1024
MAX_FIELDS = 16
PAGE = "survey/page.html.j2"
STYLESHEET = "survey/survey.css"
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; style-src 'self'; form-action 'self'; "
                                 b"base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
CATEGORY_LABELS = {"technical": "Technical (SDK, data, the API)",
                   "business": "Business (pricing, contract, value)",
                   "support": "Support (our team)", "other": "Something else"}
TITLES = {"forbidden": "This survey link does not work", "expired": "This survey link has expired",
          "closed": "Thank you, your answer is recorded", "stale": "Please open the link again",
          "invalid": "Please check your answer", "thanks": "Thank you!",
          "too_large": "That answer is too long", "too_many": "Too many answers",
          "not_found": "Page not found", "unavailable": "The survey is unavailable",
          "form": "How is UnMoGrowP working for you?"}


_TOKEN_IN_PATH = re.compile(r"/s/[^/?\s]+")


class HideTokens(logging.Filter):
    """The access log shows `/s/…` instead of a survey link's token: the token is what lets
    anyone answer for the customer, so it stays out of logs like a password."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_IN_PATH.sub("/s/…", a) if isinstance(a, str) else a
                                for a in record.args)
        return True


def hide_tokens_in_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, HideTokens) for f in access.filters):
        access.addFilter(HideTokens())


class SecurityHeaders:
    """ASGI middleware: the same security headers on every answer, errors included."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)


class RateLimit:
    """At most `per_minute` answers from one client address in any 60 seconds (in memory, per
    server process; the event loop is its only user)."""

    # Addresses remembered before the ones idle for a minute are forgotten (then twice as many
    # as are still active): memory follows the addresses of the last minute, and the sweep's
    # cost is spread over as many answers as it keeps.
    SWEEP_AT = 100_000

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.seen: dict[str, deque[float]] = {}
        self.sweep_at = self.SWEEP_AT

    def allow(self, address: str) -> bool:
        now = time.monotonic()
        if len(self.seen) >= self.sweep_at:
            self.seen = {a: t for a, t in self.seen.items() if t and now - t[-1] < 60}
            self.sweep_at = max(self.SWEEP_AT, 2 * len(self.seen))
        times = self.seen.setdefault(address, deque())
        while times and now - times[0] >= 60:
            times.popleft()
        if len(times) >= self.per_minute:
            return False
        times.append(now)
        return True


class BodyTooLarge(Exception):
    pass


async def read_limited_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused (BodyTooLarge) as soon as it passes `limit`: a declared length
    over it is refused before reading, a chunked or lying body once the bytes read pass it."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(ws: Workspace) -> Starlette:
    """The survey application for `ws` (its database is opened by serve(), or by the caller)."""
    hide_tokens_in_access_log()
    limiter = RateLimit(ws.settings.survey.answers_per_minute)
    templates_dir = ws.templates_dir  # resolved once, not on every page
    stylesheet = _stylesheet(templates_dir)
    # Loaded once per process: a render then costs no look-up and no stat of the file (restart
    # the server to show an edited page).
    render_page = loaded_template(templates_dir, PAGE)
    one_writer = _writer_gate(ws)

    def page(kind: str, status: int, *, message: str | None = None, error: bool = False,
             form: dict[str, Any] | None = None, headers: dict[str, str] | None = None
             ) -> HTMLResponse:
        html = render_page({"title": TITLES[kind], "message": message, "error": error,
                            "form": form})
        return HTMLResponse(html, status_code=status, headers=headers)

    def form_for(token: str, invitation: surveys.Invitation, values: dict[str, Any] | None,
                 ) -> dict[str, Any]:
        return {"action": f"/s/{token}", "token": surveys.form_token_for(ws, token, invitation),
                "answer": values or {"satisfaction": None, "nps": None, "category": "other",
                                      "comment": ""},
                "categories": [(c, CATEGORY_LABELS.get(c, c)) for c in surveys.categories()],
                "submit": "Change my answer" if invitation.answers else "Send my answer"}

    def show(token: str) -> HTMLResponse:
        try:
            invitation = surveys.find_invitation(ws, token)
        except surveys.SurveyRefused as exc:
            return page(exc.reason, exc.status, message=str(exc), error=True)
        now = clock.now()
        if not invitation.open(now):
            return page("closed", 200, message="Your answer is recorded. It could be changed "
                        "for a day after you sent it; that day is over.")
        message = None
        until = invitation.changeable_until()
        if until is not None:
            message = ("You have answered already; you can change your answer until "
                       f"{until:%Y-%m-%d %H:%M} UTC.")
        return page("form", 200, message=message,
                    form=form_for(token, invitation, surveys.previous_answer(ws, invitation)))

    def answer(token: str, fields: dict[str, str]) -> HTMLResponse:
        try:
            with one_writer:
                result = surveys.record_answer(ws, token, fields)
        except surveys.SurveyRefused as exc:
            return page(exc.reason, exc.status, message=str(exc), error=True)
        except InputError as exc:  # a value the feedback service refused: show the form again
            try:
                invitation = surveys.find_invitation(ws, token)
            except surveys.SurveyRefused as refused:
                return page(refused.reason, refused.status, message=str(refused), error=True)
            values = {"satisfaction": _int(fields.get("satisfaction")),
                      "nps": _int(fields.get("nps")), "category": fields.get("category"),
                      "comment": fields.get("comment", "")}
            return page("invalid", 400, message=str(exc), error=True,
                        form=form_for(token, invitation, values))
        what = "changed" if result.replaced else "recorded"
        return page("thanks", 200, message=f"Your answer is {what}. You can change it until "
                    f"{result.changeable_until:%Y-%m-%d %H:%M} UTC by opening the link again.")

    async def survey_page(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            if request.method == "GET":
                return await run_in_threadpool(show, token)
            address = request.client.host if request.client else "unknown"
            if not limiter.allow(address):
                return page("too_many", 429, message="Too many answers from your address; "
                            "please wait a minute and try again.", error=True,
                            headers={"Retry-After": "60"})
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind != "application/x-www-form-urlencoded":
                return page("invalid", 415, message="The answer must be sent by the form.",
                            error=True)
            try:
                body = await read_limited_body(request)
            except BodyTooLarge:
                return page("too_large", 413, message="That answer is longer than the survey "
                            "accepts (16 KB); please shorten the comment.", error=True,
                            headers={"Connection": "close"})
            try:
                pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                  max_num_fields=MAX_FIELDS, strict_parsing=bool(body))
            except (UnicodeDecodeError, ValueError):
                return page("invalid", 400, message="The answer could not be read; please send "
                            "the form again.", error=True)
            fields: dict[str, str] = {}
            for name, value in pairs:
                fields.setdefault(name, value)
            return await run_in_threadpool(answer, token, fields)
        except ClientDisconnect:
            return Response(status_code=400)
        except EnvironmentFailure:
            return page("unavailable", 503, message="The survey cannot be answered right now; "
                        "please try again in a few minutes.", error=True)

    async def healthz(request: Request) -> Response:
        try:
            await run_in_threadpool(_database_answers, ws)
        except Exception:  # noqa: BLE001 - whatever fails, the balancer must hear "not ready"
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def css(request: Request) -> Response:
        return Response(stylesheet, media_type="text/css")

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        if status == 405:
            return page("invalid", 405, message="That method is not allowed here.", error=True,
                        headers={"Allow": getattr(exc, "headers", {}).get("Allow", "GET")})
        return page("not_found", 404, message="There is no page at this address.", error=True)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # One engine and pool for the process's life, not one per request.
        with kept_open(ws):
            yield

    app = Starlette(routes=[
        Route("/s/{token}", survey_page, methods=["GET", "POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/survey.css", css, methods=["GET"]),
    ], exception_handlers={HTTPException: not_found}, lifespan=lifespan)
    app.add_middleware(SecurityHeaders)
    return app


class SqliteWriterGate:
    """SQLite has one writer at a time: answers queue here, on a thread lock and a lock file
    beside the database (for the other `--workers` processes), instead of waiting in SQLite's
    busy handler, which sleeps in growing steps (tens of milliseconds) and turns a burst of
    answers into seconds of latency. The kernel wakes the next writer as soon as the lock is
    free."""

    def __init__(self, lock_file: Path) -> None:
        self.thread_lock = threading.Lock()
        self.lock_file = lock_file
        self.descriptor: int | None = None

    def __enter__(self) -> None:
        self.thread_lock.acquire()
        try:
            if self.descriptor is None:
                self.descriptor = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self.descriptor, fcntl.LOCK_EX)
        except OSError:
            self.thread_lock.release()
            raise EnvironmentFailure(f"cannot lock {self.lock_file}.") from None

    def __exit__(self, *exc: object) -> None:
        try:
            if self.descriptor is not None:
                fcntl.flock(self.descriptor, fcntl.LOCK_UN)
        finally:
            self.thread_lock.release()


def _writer_gate(ws: Workspace) -> Any:
    """What answers queue on before writing: SqliteWriterGate for a SQLite file; nothing for
    PostgreSQL, whose row locks let answers of different customers write at once."""
    url = ws.database_url
    if not url.startswith("sqlite:///"):
        return contextlib.nullcontext()
    database = Path(url.removeprefix("sqlite:///"))
    return SqliteWriterGate(database.with_name(database.name + ".answers.lock"))


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() and len(value) < 4 else None


def _stylesheet(templates_dir: Path) -> bytes:
    for folder in search_path(templates_dir):
        path = f"{folder}/{STYLESHEET}"
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            continue
    raise EnvironmentFailure(f"the survey stylesheet {STYLESHEET} is missing from the templates.")


def _database_answers(ws: Workspace) -> None:
    db = open_database(ws)
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    finally:
        db.dispose()


def worker_app() -> Starlette:
    """The application of one worker process (`--workers N`): the workspace the parent
    resolved, passed on in UNMO_WORKSPACE."""
    return create_app(load_workspace())


def serve(ws: Workspace, *, host: str, port: int, forwarded_allow_ips: str, access_log: bool,
          on_ready: Callable[[str], None], workers: int = 1) -> None:
    """Run the survey server until interrupted (Ctrl-C, SIGTERM). An address in use is exit 3.
    With `workers` > 1, that many processes share the listening socket (each with its own
    database pool and rate limits)."""
    if not 0 <= port <= 65535:
        raise InputError(f"--port {port} is not a port number (0 to 65535).")
    if not 1 <= workers <= 64:
        raise InputError(f"--workers {workers} must be between 1 and 64.")
    signing_key(ws)  # created now, not by the first two requests at once
    with kept_open(ws):  # the schema is migrated once, here, before any worker starts
        pass
    app = create_app(ws)  # a missing page template or stylesheet is refused before listening
    listener = _listen(host, port)
    bound = listener.getsockname()
    shown_host = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    options: dict[str, Any] = {
        "log_level": "info" if access_log else "warning", "access_log": access_log,
        "proxy_headers": True, "forwarded_allow_ips": forwarded_allow_ips, "lifespan": "on",
        "server_header": False, "date_header": True, "timeout_graceful_shutdown": 10}
    on_ready(f"http://{shown_host}:{bound[1]}")
    if workers == 1:
        uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[listener])
        return
    os.environ["UNMO_WORKSPACE"] = str(ws.root)  # the workers resolve the same workspace
    config = uvicorn.Config("unmo_cli.survey_server:worker_app", factory=True, workers=workers,
                            **options)
    Multiprocess(config, sockets=[listener]).run()


def _listen(host: str, port: int) -> socket.socket:
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        raise InputError(f"--host {host!r} is not an address this machine has: {exc.strerror}."
                         ) from None
    # IPPROTO_TCP by name: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it every keep-alive answer (headers and body in two writes) waits ~40 ms for the
    # client's delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(1024)
    except OSError as exc:
        listener.close()
        raise EnvironmentFailure(f"cannot listen on {host}:{port}: {exc.strerror}.") from None
    listener.set_inheritable(True)
    return listener
