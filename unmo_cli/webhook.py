"""Owns the alert webhook: a Slack-compatible incoming webhook receiving `{"text": …}` over httpx.
Nothing else posts alerts; the caller decides what a failure means (alerts stay pending).

A post is retried only when the webhook certainly did not take it (no connection, or it answered
429/5xx). Once the request has gone out, a timeout or a dropped connection leaves the outcome
unknown (the webhook may have accepted it and been slow to say so): that post is not repeated
here (`PostOutcome.uncertain`), so one delivery run sends an alert at most once in that case.

The webhook is not trusted to be well-behaved either: each attempt has one deadline for the whole
exchange (connect, send, the answer's headers: a server dripping a byte at a time cannot hold a
run), the answer's body is never read (only its status counts, so a compressed bomb costs
nothing), and the URL must be https or plain http to a loopback address (its path is the
webhook's secret token)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from unmo_cli import __version__
from unmo_cli.attribution_api import is_loopback_host

if TYPE_CHECKING:
    import httpx

TIMEOUT_S = 5.0
# On top of httpx's per-operation timeouts, so that its precise ConnectTimeout ("certainly not
# sent") normally wins over the whole-exchange deadline ("may have been sent").
DEADLINE_SLACK_S = 1.0
RETRIES = 2  # after the first attempt: three attempts in all
BACKOFF_S = 0.2  # 0.2 s, then 0.4 s
MAX_TEXT = 3000  # Slack truncates long messages anyway; keep one alert one readable message


@dataclass(frozen=True)
class PostOutcome:
    delivered: bool
    attempts: int
    status: int | None = None
    error: str | None = None  # one short phrase, never the URL (it carries the webhook's token)
    # The request went out and no answer came back: the webhook may have received it.
    uncertain: bool = False


def slack_escape(text: str) -> str:
    """Slack reads `<…>` as links and mentions (`<!channel>`) and `&` as an entity: escape them so
    a customer's comment can neither ping the channel nor forge a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


IDEMPOTENCY_HEADER = "Idempotency-Key"  # IETF httpapi draft; Slack ignores it, proxies may not


class WebhookClient:
    """One connection pool for a run of posts: `with WebhookClient(url) as hook: hook.post(text)`.

    A post is tried once and retried `retries` times with exponential backoff when it certainly
    did not arrive (no connection, a connect timeout) or was refused for now (429, 5xx); any 2xx
    is delivered; another 4xx is final; a timeout or a dropped connection after the request was
    sent is final and `uncertain` (see the module's docstring)."""

    def __init__(self, url: str, *, timeout_s: float = TIMEOUT_S, retries: int = RETRIES,
                 backoff_s: float = BACKOFF_S,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._client: httpx.AsyncClient | None = None
        self._runner: asyncio.Runner | None = None

    def __enter__(self) -> WebhookClient:
        import httpx  # lazy: httpx (~60 ms); most writes deliver nothing

        # Async under the hood only for asyncio.timeout: a sync client has per-read timeouts
        # but no deadline for a whole exchange. One loop (Runner) per client keeps the pool.
        self._runner = asyncio.Runner()
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout_s),
            headers={"User-Agent": f"unmo/{__version__}"},
            follow_redirects=False,
        )
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._client is not None and self._runner is not None:
            self._runner.run(self._client.aclose())
        if self._runner is not None:
            self._runner.close()
        self._client = None
        self._runner = None

    async def _exchange(self, body: str, headers: dict[str, str] | None) -> int:
        """One POST within one deadline; the status only (the body is closed unread)."""
        assert self._client is not None
        async with (asyncio.timeout(self.timeout_s + DEADLINE_SLACK_S),
                    self._client.stream("POST", self.url, json={"text": body},
                                        headers=headers) as response):
            return response.status_code

    def post(self, text: str, *, idempotency_key: str | None = None) -> PostOutcome:
        """Post one alert's text. `idempotency_key`, the same for every post of one alert, goes
        out as the `Idempotency-Key` header so a receiver that keeps them can drop a repeat."""
        import httpx  # lazy: httpx (~60 ms); most writes deliver nothing

        assert self._runner is not None, "use WebhookClient as a context manager"
        if (problem := url_problem(self.url)) is not None:
            return PostOutcome(False, 0, None, problem)
        body = slack_escape(text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…")
        headers = {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else None
        attempts = 0
        status: int | None = None
        error = "not attempted"
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self.backoff_s * 2 ** (attempt - 1))
            attempts += 1
            try:
                status = self._runner.run(self._exchange(body, headers))
            except TimeoutError:  # the whole-exchange deadline: the request may have gone out
                return PostOutcome(False, attempts, None,
                                   f"no answer within {self.timeout_s:g} s", uncertain=True)
            except (httpx.InvalidURL, httpx.UnsupportedProtocol):
                return PostOutcome(False, attempts, None, "the webhook URL is not an http(s) URL")
            except (httpx.ConnectTimeout, httpx.PoolTimeout):
                status, error = None, f"could not connect within {self.timeout_s:g} s"
                continue
            except (httpx.ConnectError, httpx.LocalProtocolError, httpx.ProxyError) as exc:
                status, error = None, _transport_phrase(exc)
                continue
            except httpx.TimeoutException:  # read or write: the request (or part) went out
                return PostOutcome(False, attempts, None,
                                   f"no answer within {self.timeout_s:g} s", uncertain=True)
            except httpx.TransportError as exc:  # read/write error, the server hung up on us
                return PostOutcome(False, attempts, None, _transport_phrase(exc),
                                   uncertain=True)
            if 200 <= status < 300:
                return PostOutcome(True, attempts, status, None)
            error = f"HTTP {status}"
            if not _retryable(status):
                break
        return PostOutcome(False, attempts, status, error)


def url_problem(url: str) -> str | None:
    """Why unmo will not post to `url`, in words that never quote it (its path is the token), or
    None: an https URL, or http to a loopback address (a local relay, tests), as for the API."""

    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "the webhook URL is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the webhook URL is not an http(s) URL"
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        return ("the webhook URL must use https (plain http only to a loopback address): "
                "its path is the webhook's token")
    return None


def _transport_phrase(exc: Exception) -> str:
    """A short reason without the URL: httpx messages may quote the request URL, whose path is
    the webhook's secret token."""
    import httpx  # lazy: httpx (~60 ms); most writes deliver nothing

    if isinstance(exc, httpx.ConnectError):
        return "could not connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection"
    return f"network error ({type(exc).__name__})"
