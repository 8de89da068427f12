"""The survey tests' shared pieces: a workspace set up to send surveys through aiosmtpd, and a
real `unmo survey serve` in a subprocess on a free port of 127.0.0.1."""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from support_launcher import UnmoProcess
from support_smtp import free_port

# One TLS context for every request the tests send: httpx.get and httpx.post build a client per
# call, and with it a context that loads certifi's CA bundle, about 40 ms of CPU each even for
# plain http to 127.0.0.1 (the wait for /healthz alone polls ten times or more per server).
# http_get and http_post are those calls otherwise: a new client, and connection, per request.
_TLS = ssl.create_default_context()


def http_get(url: str, *, timeout: float = 5.0, **kwargs) -> httpx.Response:
    with httpx.Client(verify=_TLS, timeout=timeout) as client:
        return client.get(url, **kwargs)


def http_post(url: str, *, timeout: float = 5.0, **kwargs) -> httpx.Response:
    with httpx.Client(verify=_TLS, timeout=timeout) as client:
        return client.post(url, **kwargs)


def configure(workspace: Path, smtp_port: int, server_port: int, *, extra: str = "") -> str:
    """unmo.yaml for surveys: mail through aiosmtpd, links to the local survey server. Returns
    the survey server's URL."""
    url = f"http://127.0.0.1:{server_port}"
    (workspace / "unmo.yaml").write_text(
        f"email:\n  smtp_url: smtp://127.0.0.1:{smtp_port}\n"
        f"  from: success@unmogrowp.example\n"
        f"survey:\n  public_url: {url}\n{extra}", encoding="utf-8")
    return url


def survey_link(message) -> str:
    """The survey link in a received message's text part (what a person would click)."""
    text = message.get_body(("plain",)).get_content()
    found = re.search(r"https?://\S+/s/[A-Za-z0-9._-]+", text)
    assert found, text
    return found.group(0)


@contextmanager
def survey_server(workspace: Path, port: int, env: dict[str, str] | None = None
                  ) -> Iterator[str]:
    """`unmo survey serve --port PORT` as a real process (started through support_launcher,
    whose launcher has the survey page's stack imported already), ready when /healthz answers
    200; stopped (SIGTERM, then killed) afterwards. Its output is shown if it fails to start."""
    environment = {**os.environ, "UNMO_WORKSPACE": str(workspace), **(env or {})}
    log = workspace.parent / f"survey-serve-{port}.log"
    with open(log, "wb", opener=lambda path, flags: os.open(path, flags, 0o600)) as sink:
        process = UnmoProcess([sys.executable, "-m", "unmo_cli", "survey", "serve", "--port",
                               str(port)], env=environment, stdin=subprocess.DEVNULL,
                              stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"unmo survey serve exited {process.returncode}: "
                                     f"{log.read_text(errors='replace')}")
            try:
                if http_get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("unmo survey serve did not answer /healthz within 30 s: "
                                     + log.read_text(errors="replace"))
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(60)


def form_token(html: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


__all__ = ["configure", "free_port", "form_token", "http_get", "http_post", "survey_link",
           "survey_server"]
