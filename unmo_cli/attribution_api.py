"""Owns the calls to the attribution API (attribution-api.yaml): the one module that uses httpx for
it. One AsyncClient serves every customer; each call carries that customer's secret key as its
bearer, which never leaves this module in a message: transport failures are described by their
kind, never by str(exception) (httpx's texts can quote the request)."""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from unmo_cli import __version__
from unmo_cli.clock import monotonic
from unmo_cli.errors import EnvironmentFailure

if TYPE_CHECKING:
    import httpx

# A health answer is a few hundred bytes; anything far larger is not the documented JSON.
MAX_BODY_BYTES = 1 << 20
# Statuses that are worth asking again: the server failed, but not in a way it told us to accept.
# 503 is the API's own "degraded" answer, and 401/403 will not change by asking again.
NOT_RETRIED_5XX = frozenset({503})


def validate_base_url(url: str, *, origin: str = "api.base_url") -> str:
    """The API's base URL without a trailing slash; EnvironmentFailure (exit 3, "API
    misconfigured") naming the value and what is accepted when it is not an https URL, or an
    http one on a loopback address (the sandbox): bearer keys never travel unencrypted."""
    accepted = "https://HOST/v1, or http:// on loopback such as http://127.0.0.1:8787/v1"
    text = (url or "").strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise EnvironmentFailure(f"{origin} {url!r} is not a valid URL; use {accepted}.") from None
    problem = None
    if parts.scheme not in ("http", "https"):
        problem = "does not start with http:// or https://"
    elif not parts.hostname:
        problem = "names no host"
    elif parts.username is not None or parts.password is not None:
        problem = "carries credentials (the customers' keys are sent as bearer tokens)"
    elif parts.query or parts.fragment:
        problem = "has a query or fragment"
    elif any(ch.isspace() for ch in text) or port == 0:
        problem = "is malformed"
    elif parts.scheme == "http" and not _is_loopback(parts.hostname):
        problem = ("would send the customers' secret keys unencrypted (plain http is only for "
                   "a loopback address such as the sandbox's)")
    if problem:
        shown = re.sub(r"//[^/@]*@", "//***@", text)
        raise EnvironmentFailure(f"{origin} {shown!r} {problem}; use {accepted}.")
    import httpx

    try:
        httpx.URL(text)
    except (httpx.InvalidURL, ValueError):
        raise EnvironmentFailure(f"{origin} {url!r} is not a valid URL; use {accepted}.") from None
    return text.rstrip("/")


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in ("localhost", "localhost.") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ApiAnswer:
    """The outcome of one logical call, after retries. `status_code` is None when no HTTP answer
    came (then `failure` says why, in words safe to print); `latency_ms` is the last attempt's
    time to the whole body."""

    status_code: int | None
    body: bytes
    latency_ms: float | None
    attempts: int
    failure: str | None = None


class AttributionApi:
    """An async client for the attribution API shared by every check of a run.

    Connections are kept alive (HTTP/1.1) and limited to `concurrency`; callers limit how many
    calls run at once to the same number, so a call never waits for a pooled connection and the
    per-request `timeout_s` measures the API, not our queue."""

    def __init__(self, base_url: str, *, timeout_s: float, concurrency: int = 32,
                 retries: int = 2, backoff_s: float = 0.1, backoff_max_s: float = 2.0) -> None:
        self.base_url = validate_base_url(base_url)
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.retries = retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self._client: httpx.AsyncClient | None = None
        self._gate = asyncio.Lock()

    async def __aenter__(self) -> AttributionApi:
        import httpx

        self._client = httpx.AsyncClient(
            base_url=self.base_url + "/",
            http1=True,
            http2=False,
            limits=httpx.Limits(max_connections=self.concurrency,
                                max_keepalive_connections=self.concurrency,
                                keepalive_expiry=30.0),
            # pool=None: the caller's semaphore already bounds concurrent calls.
            timeout=httpx.Timeout(self.timeout_s, pool=None),
            follow_redirects=False,
            headers={"User-Agent": f"unmo/{__version__}", "Accept": "application/json"},
        )
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def get_health(self, secret_key: str) -> ApiAnswer:
        """GET /health as the customer whose secret key this is."""
        return await self.get("health", secret_key)

    async def get_attribution(self, secret_key: str, start_date: str, end_date: str) -> ApiAnswer:
        """GET /analytics/attribution for a period (ISO dates, both inclusive)."""
        return await self.get("analytics/attribution", secret_key,
                              params={"start_date": start_date, "end_date": end_date})

    async def get(self, path: str, secret_key: str,
                  params: dict[str, str] | None = None) -> ApiAnswer:
        """GET with retries: exponential backoff with jitter on connection errors, timeouts and
        5xx other than 503; an answer of any other status is returned as it is."""
        attempts = 0
        while True:
            attempts += 1
            status, body, latency, failure = await self._attempt(path, secret_key, params)
            retriable = failure is not None or (
                status is not None and status >= 500 and status not in NOT_RETRIED_5XX)
            if not retriable or attempts > self.retries:
                return ApiAnswer(status, body, latency, attempts, failure)
            # "Full jitter" between half and all of the exponential step: many customers failing
            # together do not come back at the same instant.
            step = min(self.backoff_max_s, self.backoff_s * (2 ** (attempts - 1)))
            await asyncio.sleep(step * random.uniform(0.5, 1.0))

    async def _attempt(self, path: str, secret_key: str, params: dict[str, str] | None
                       ) -> tuple[int | None, bytes, float | None, str | None]:
        import httpx

        assert self._client is not None, "use AttributionApi as an async context manager"
        gate = _PoolGate(self._gate)
        await gate.enter()
        started = monotonic()
        try:
            # One deadline for the whole exchange (connect, headers, body): httpx's own timeouts
            # apply per phase, so a server trickling bytes could otherwise hold a check forever.
            async with asyncio.timeout(self.timeout_s):
                async with self._client.stream(
                    "GET", path, params=params,
                    headers={"Authorization": f"Bearer {secret_key}"},
                    extensions={"trace": gate.trace},
                ) as response:
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body.extend(chunk)
                        if len(body) > MAX_BODY_BYTES:
                            break
                    status = response.status_code
        except (TimeoutError, httpx.TimeoutException):
            return None, b"", None, f"timed out ({_seconds(self.timeout_s)} timeout)"
        except httpx.ConnectError:
            return None, b"", None, "could not connect (connection refused or host unreachable)"
        except httpx.RemoteProtocolError:
            return None, b"", None, "the server closed the connection or did not speak HTTP"
        except httpx.HTTPError as exc:
            # Never str(exc): it may quote the request. The class name says enough.
            return None, b"", None, f"transport failure ({type(exc).__name__})"
        finally:
            gate.leave()
        return status, bytes(body), round((monotonic() - started) * 1000, 1), None


def _seconds(value: float) -> str:
    return f"{value:g} s"


class _PoolGate:
    """Lets one request at a time take a connection from httpcore's pool.

    httpcore (1.0) hands every request that arrives in the same instant the same idle
    connection; all but one then fail with ConnectionNotAvailable and go round again, and each
    round scans the pool in O(connections²). At 32 connections that costs more CPU than the
    checks themselves. Holding this lock only until the request owns its connection (the
    connect or the sending of its headers has started, as httpcore's trace reports) removes the
    stampede; the requests still run concurrently."""

    _OWNED = ("connection.connect_tcp.started", "http11.send_request_headers.started")

    def __init__(self, lock: asyncio.Lock) -> None:
        self._lock = lock
        self._held = False

    async def enter(self) -> None:
        await self._lock.acquire()
        self._held = True

    def leave(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()

    async def trace(self, event: str, info: dict[str, object]) -> None:
        if event in self._OWNED:
            self.leave()
