"""The survey tests' shared pieces: a workspace set up to send surveys through aiosmtpd, and a
real `unmo survey serve` in a subprocess on a free port of 127.0.0.1."""

from __future__ import annotations

import atexit
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
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


# `unmo survey serve` imports the survey page's whole stack (Starlette, uvicorn, the ORM models
# through services/surveys.py): about 0.9 s of CPU of the 1.25 s a server took to answer
# /healthz, some forty times a pass. One launcher per test process imports it once and forks
# a server from it for each survey_server(): a process of its own (its pid signalled and reaped
# through the launcher), running the real entry point with the test's environment, working
# folder and umask, its output in the log file. Orders, one JSON line each: ["start", [args,
# env, cwd, umask, log]] -> pid; ["wait", [pid, seconds]] -> exit code or null (still running).
_LAUNCHER = """
import json, os, sys, time
import unmo_cli.cli, unmo_cli.commands.survey, unmo_cli.survey_server, uvicorn.config
from unmo_cli.cli import main
for request in sys.stdin:
    order, arguments = json.loads(request)
    if order == "start":
        args, env, cwd, umask, log = arguments
        pid = os.fork()
        if pid == 0:
            sink = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            os.dup2(sink, 1)
            os.dup2(sink, 2)
            os.chdir(cwd)
            os.umask(umask)
            os.environ.clear()
            os.environ.update(env)
            sys.argv = ["unmo", *args]
            main()
            sys.exit(0)
        answer = pid
    else:
        pid, seconds = arguments
        deadline = time.monotonic() + seconds
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done or time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        answer = os.waitstatus_to_exitcode(status) if done else None
    sys.stdout.write(json.dumps(answer) + "\\n")
    sys.stdout.flush()
"""
_launcher: subprocess.Popen | None = None


def _stop(launcher: subprocess.Popen) -> None:
    """At exit: the launcher ends at the end of its input; reaped, so that its CPU is counted
    with the test run's."""
    assert launcher.stdin is not None
    launcher.stdin.close()
    launcher.wait(timeout=60)


def _order(order: str, *arguments) -> Any:
    global _launcher
    if _launcher is None or _launcher.poll() is not None:
        _launcher = subprocess.Popen([sys.executable, "-c", _LAUNCHER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        atexit.register(_stop, _launcher)
    assert _launcher.stdin is not None and _launcher.stdout is not None
    _launcher.stdin.write(json.dumps([order, arguments]) + "\n")
    _launcher.stdin.flush()
    answer = _launcher.stdout.readline()
    assert answer, "the survey servers' launcher died"
    return json.loads(answer)


class _ForkedServer:
    """What survey_server needs of a Popen, for a server forked by the launcher."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        umask = os.umask(0o022)
        os.umask(umask)
        self.pid = _order("start", args, env, os.getcwd(), umask, str(log))
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.wait(0) if self.returncode is None else self.returncode

    def wait(self, timeout: float) -> int | None:
        if self.returncode is None:
            self.returncode = _order("wait", self.pid, timeout)
        return self.returncode

    def signal(self, number: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, number)


@contextmanager
def survey_server(workspace: Path, port: int, env: dict[str, str] | None = None
                  ) -> Iterator[str]:
    """`unmo survey serve --port PORT` as a real process (forked by the launcher above), ready
    when /healthz answers 200; stopped (SIGTERM, then killed) afterwards. Its output is shown if
    it fails to start."""
    environment = {**os.environ, "UNMO_WORKSPACE": str(workspace), **(env or {})}
    log = workspace.parent / f"survey-serve-{port}.log"
    process = _ForkedServer(["survey", "serve", "--port", str(port)], environment, log)
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
        process.signal(signal.SIGTERM)
        if process.wait(10) is None:
            process.signal(signal.SIGKILL)
            process.wait(60)


def form_token(html: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


__all__ = ["configure", "free_port", "form_token", "http_get", "http_post", "survey_link",
           "survey_server"]
