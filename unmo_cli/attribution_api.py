"""Owns the calls to the attribution API (attribution-api.yaml): the one module that uses httpx for
it, and the one that reads what the API answers. One AsyncClient serves every customer; each call
carries that customer's secret key as its bearer, which never leaves this module in a message:
transport failures are described by their kind, never by str(exception) (httpx's texts can quote
the request).

The API is not trusted to be well-behaved: every attempt has one deadline for the whole exchange,
a body is inflated here (not by httpx, which inflates a chunk whole) with a cap on what it may
become, and JSON is read with a bound on its nesting."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import ssl
import sys
import zlib
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from unmo_cli import __version__
from unmo_cli.clock import monotonic
from unmo_cli.errors import EnvironmentFailure
from unmo_cli.urls import is_loopback_host  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    import httpx

# httpx's __init__ imports httpx._main, its command-line client (click, Pygments, Rich's syntax,
# progress and tables: 0.12 G instructions, a fifth of a one-customer health run's fixed cost),
# only to offer the `httpx` console command, and puts a stub in its place when that import fails.
# unmo never runs it, so every lazy `import httpx` here and in webhook.py (which imports this
# module) skips it. Once httpx is loaded this changes nothing.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

# A health answer is a few hundred bytes; anything far larger is not the documented JSON. The cap
# holds for the bytes received and for what they inflate to, whatever the Content-Encoding.
MAX_BODY_BYTES = 1 << 20
MAX_BODY_TEXT = "1 MiB"
# The documented answers nest three or four levels; deeper is not the documented JSON (and past
# about a thousand, Python's json would raise RecursionError).
MAX_JSON_DEPTH = 32
# What unmo inflates itself, with its cap. Said explicitly, so that httpx does not advertise br or
# zstd because a package that decodes them happens to be installed.
ACCEPT_ENCODING = "gzip, deflate"
MAX_CODINGS = 2
# Statuses that are worth asking again: the server failed, but not in a way it told us to accept.
# 503 is the API's own "degraded" answer, and 401/403 will not change by asking again.
NOT_RETRIED_5XX = frozenset({503})


def validate_base_url(url: str, *, origin: str = "api.base_url") -> str:
    """The API's base URL without a trailing slash; EnvironmentFailure (exit 3, "API
    misconfigured") naming the value and what is accepted when it is not an https URL, or an
    http one on a loopback host (is_loopback_host: the sandbox): bearer keys never travel
    unencrypted."""
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
    elif parts.scheme == "http" and not is_loopback_host(parts.hostname):
        problem = ("would send the customers' secret keys unencrypted (plain http is only for "
                   "a loopback address such as the sandbox's: 127.0.0.1, [::1] or localhost)")
    if problem:
        shown = re.sub(r"//[^/@]*@", "//***@", text)
        raise EnvironmentFailure(f"{origin} {shown!r} {problem}; use {accepted}.")
    import httpx  # lazy: httpx (~60 ms) only for a request

    try:
        httpx.URL(text)
    except (httpx.InvalidURL, ValueError):
        raise EnvironmentFailure(f"{origin} {url!r} is not a valid URL; use {accepted}.") from None
    return text.rstrip("/")


_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def read_json(body: bytes) -> tuple[Any, str | None]:
    """(document, None), or (None, why the body is not JSON unmo accepts: not JSON, not UTF-8,
    over MAX_BODY_BYTES, or nested deeper than MAX_JSON_DEPTH). Never raises for any bytes."""
    if len(body) > MAX_BODY_BYTES:
        return None, f"it is over {MAX_BODY_TEXT}"
    # The nesting is measured before parsing, skipping strings: a JSON text cannot nest deeper
    # than it has brackets, so the usual answer is not scanned at all.
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH:
        depth = 0
        for token in _JSON_TOKEN.finditer(body):
            mark = token.group()
            if mark in (b"[", b"{"):
                depth += 1
                if depth > MAX_JSON_DEPTH:
                    return None, f"it nests deeper than {MAX_JSON_DEPTH} levels"
            elif mark in (b"]", b"}"):
                depth -= 1
    try:
        return json.loads(body), None
    except RecursionError:  # not reachable after the scan; kept so no body can end a run
        return None, f"it nests deeper than {MAX_JSON_DEPTH} levels"
    except UnicodeDecodeError:
        return None, "it is not JSON (not valid UTF-8)"
    except ValueError:
        return None, "it is not JSON"


@dataclass(frozen=True)
class ApiAnswer:
    """The outcome of one logical call, after retries. `status_code` is None when no HTTP answer
    came (then `failure` says why, in words safe to print); `latency_ms` is the last attempt's
    time to the whole body. `refused` says why an answer's body was not read to its end (over
    the cap once inflated, an encoding unmo did not ask for); its body is then empty."""

    status_code: int | None
    body: bytes
    latency_ms: float | None
    attempts: int
    failure: str | None = None
    refused: str | None = None


class AttributionApi:
    """An async client for the attribution API shared by every check of a run.

    Up to `concurrency` httpx clients, each with one keep-alive connection (HTTP/1.1), made as
    calls need them and lent to one call at a time: callers limit how many calls run at once to
    the same number, so a call never waits for a client and the per-request `timeout_s`
    measures the API, not our queue. One pool per client is what httpx does fastest: a shared
    pool of many connections scans all of them for every request (httpcore 1.0), and hands
    requests arriving in the same instant the same connection, all but one of which go round
    again. All the clients share one SSL context (each costs ~60 ms to load the CA bundle)."""

    def __init__(self, base_url: str, *, timeout_s: float, concurrency: int = 32,
                 retries: int = 2, backoff_s: float = 0.1, backoff_max_s: float = 2.0) -> None:
        self.base_url = validate_base_url(base_url)
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.retries = retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self._idle: asyncio.Queue[httpx.AsyncClient] | None = None
        self._clients: list[httpx.AsyncClient] = []
        self._ssl_context: ssl.SSLContext | None = None
        self._urls: dict[str, httpx.URL] = {}

    async def __aenter__(self) -> AttributionApi:
        self._idle = asyncio.Queue()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        clients, self._clients, self._idle = self._clients, [], None
        for client in clients:
            await client.aclose()

    def _new_client(self) -> httpx.AsyncClient:
        import httpx  # lazy: httpx (~60 ms) only for a request

        if self._ssl_context is None:
            self._ssl_context = _ssl_context_for(self.base_url)
        client = httpx.AsyncClient(
            base_url=self.base_url + "/",
            http1=True,
            http2=False,
            verify=self._ssl_context,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1,
                                keepalive_expiry=30.0),
            # pool=None: a client serves one call at a time, so there is no pool to wait for.
            timeout=httpx.Timeout(self.timeout_s, pool=None),
            follow_redirects=False,
            headers={"User-Agent": f"unmo/{__version__}", "Accept": "application/json",
                     "Accept-Encoding": ACCEPT_ENCODING},
        )
        self._clients.append(client)
        return client

    async def _borrow(self) -> httpx.AsyncClient:
        assert self._idle is not None, "use AttributionApi as an async context manager"
        if self._idle.empty() and len(self._clients) < self.concurrency:
            return self._new_client()
        return await self._idle.get()

    def _url(self, path: str) -> httpx.URL:
        """The endpoint's absolute URL, parsed once a run rather than joined per request."""
        import httpx  # lazy: httpx (~60 ms) only for a request

        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(f"{self.base_url}/{path}")
        return url

    def _give_back(self, client: httpx.AsyncClient) -> None:
        if self._idle is not None:
            self._idle.put_nowait(client)

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
            answer = replace(await self._attempt(path, secret_key, params), attempts=attempts)
            code = answer.status_code
            # A refused body is an answer, not a transport failure: asking again would only
            # fetch the same bomb again.
            retriable = answer.failure is not None or (
                answer.refused is None and code is not None and code >= 500
                and code not in NOT_RETRIED_5XX)
            if not retriable or attempts > self.retries:
                return answer
            # "Full jitter" between half and all of the exponential step: many customers failing
            # together do not come back at the same instant.
            step = min(self.backoff_max_s, self.backoff_s * (2 ** (attempts - 1)))
            await asyncio.sleep(step * random.uniform(0.5, 1.0))

    async def _attempt(self, path: str, secret_key: str, params: dict[str, str] | None
                       ) -> ApiAnswer:
        import httpx  # lazy: httpx (~60 ms) only for a request

        client = await self._borrow()
        started = monotonic()
        try:
            # One deadline for the whole exchange (connect, headers, body): httpx's own timeouts
            # apply per read, so a server trickling a byte at a time would otherwise hold a
            # check for as long as it likes.
            async with asyncio.timeout(self.timeout_s):
                async with client.stream(
                    "GET", self._url(path), params=params,
                    headers={"Authorization": f"Bearer {secret_key}"},
                ) as response:
                    status = response.status_code
                    body, refused = await _read_body(response)
        except (TimeoutError, httpx.TimeoutException):
            return _no_answer(f"timed out ({_seconds(self.timeout_s)} timeout)")
        except httpx.ConnectError:
            return _no_answer("could not connect (connection refused or host unreachable)")
        except httpx.RemoteProtocolError:
            return _no_answer("the server closed the connection or did not speak HTTP")
        except httpx.HTTPError as exc:
            # Never str(exc): it may quote the request. The class name says enough.
            return _no_answer(f"transport failure ({type(exc).__name__})")
        except (OSError, ValueError, UnicodeError, LookupError) as exc:
            # What h11, anyio or the sockets may raise beneath httpx's own errors for an answer
            # they could not take apart: this customer's failure, never the run's.
            return _no_answer(f"transport failure ({type(exc).__name__})")
        finally:
            self._give_back(client)
        return ApiAnswer(status, body, round((monotonic() - started) * 1000, 1), 1,
                         refused=refused)


def _ssl_context_for(base_url: str) -> ssl.SSLContext:
    """httpx's own verifying context (certifi, or SSL_CERT_FILE / SSL_CERT_DIR) when TLS can be
    spoken: an https API, or a proxy from the environment that the calls may go through. For
    plain http on loopback (the sandbox) no TLS is spoken, so the CA bundle is not loaded (~60
    ms): a context that verifies but trusts no authority, which would refuse any TLS peer."""
    import httpx  # lazy: httpx (~60 ms) only for a request

    if base_url.startswith("https://") or any(name.lower().endswith("_proxy")
                                              for name in os.environ):
        return httpx.create_ssl_context()
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname, no CAs


def _no_answer(why: str) -> ApiAnswer:
    return ApiAnswer(None, b"", None, 1, failure=why)


async def _read_body(response: httpx.Response) -> tuple[bytes, str | None]:
    """The body undone of its Content-Encoding, or (b"", why it was refused) as soon as the bytes
    received or what they inflate to pass MAX_BODY_BYTES: a 1 MB gzip bomb costs about 1 MiB of
    memory here, where httpx's decoder would inflate each 64 KB chunk whole (66 MB at once)."""
    announced = response.headers.get("content-length", "").strip()
    if announced.isdigit() and (len(announced) > 15 or int(announced) > MAX_BODY_BYTES):
        return b"", f"its Content-Length announces more than {MAX_BODY_TEXT}"
    codings = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    unknown = [c for c in codings if c not in _Inflater.CODINGS]
    if unknown:
        return b"", (f"its Content-Encoding {unknown[0][:40]!r} is not one unmo asked for "
                     f"({ACCEPT_ENCODING})")
    if len(codings) > MAX_CODINGS:
        return b"", f"it is encoded {len(codings)} times over"
    stages = [_Inflater(c) for c in reversed(codings)]
    received = 0
    body = bytearray()
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > MAX_BODY_BYTES:
            return b"", f"it is over {MAX_BODY_TEXT}"
        try:
            for stage in stages:
                chunk = stage.inflate(chunk)
        except _TooLarge:
            return b"", f"it inflates to more than {MAX_BODY_TEXT} ({', '.join(codings)})"
        except zlib.error:
            return b"", f"it is not valid {', '.join(codings)} data"
        body += chunk
        if len(body) > MAX_BODY_BYTES:  # only reachable without an encoding
            return b"", f"it is over {MAX_BODY_TEXT}"
    return bytes(body), None


class _TooLarge(Exception):
    pass


class _Inflater:
    """One content coding undone with zlib, never producing more than MAX_BODY_BYTES in all:
    zlib's max_length stops the inflation there, and reaching it means the body is too large."""

    CODINGS = ("gzip", "x-gzip", "deflate")

    def __init__(self, coding: str) -> None:
        self._gzip = coding != "deflate"
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)
        # HTTP's deflate is a zlib stream, but some servers send raw deflate (as httpx allows).
        self._may_be_raw = not self._gzip
        self._produced = 0

    def inflate(self, data: bytes) -> bytes:
        if not data:
            return b""
        try:
            out = self._zlib.decompress(data, MAX_BODY_BYTES - self._produced + 1)
        except zlib.error:
            if not self._may_be_raw:
                raise
            self._may_be_raw = False
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            return self.inflate(data)
        self._may_be_raw = False
        self._produced += len(out)
        if self._produced > MAX_BODY_BYTES:
            raise _TooLarge
        return out


def _seconds(value: float) -> str:
    return f"{value:g} s"
