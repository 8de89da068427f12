"""Shared helpers of the onboarding, customer and keys tests."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

KEY_RE = re.compile(r"unmo_(?:pk|sk)_(?:live|test)_[0-9A-Za-z]{28}")
HINT_RE = re.compile(r"unmo_(?:pk|sk)_(?:live|test)_…[0-9A-Za-z]{4}")

FLAGS = {
    "sdk": ["--contact-name", "Growth Team", "--contact-email", "growth@techstart.example",
            "--industry", "gaming", "--integration", "sdk", "--platforms", "ios,android",
            "--events-per-day", "50000", "--provider", "appsflyer", "--mrr", "2500"],
    "s2s": ["--contact-name", "Data Engineering", "--contact-email", "data@ecomgrowth.example",
            "--industry", "ecommerce", "--integration", "s2s", "--events-per-day", "100000",
            "--provider", "adjust", "--mrr", "2500.50"],
    "hybrid": ["--contact-name", "Mobile Platform", "--contact-email", "mobile@fintrack.example",
               "--industry", "fintech", "--integration", "hybrid", "--platforms", "ios",
               "--events-per-day", "75000", "--provider", "branch", "--mrr", "99.99"],
}


def flags(preset: str = "sdk", /, **overrides: str) -> list[str]:
    """The options of a complete onboarding, with some replaced (`mrr="abc"`) or dropped
    (`mrr=None`)."""
    args = list(FLAGS[preset])
    for name, value in overrides.items():
        option = "--" + name.replace("_", "-")
        if option in args:
            at = args.index(option)
            del args[at:at + 2]
        if value is not None:
            args += [option, value]
    return args


def onboard(unmo, name: str = "TechStart Mobile", preset: str = "sdk", /, *extra: str,
            **overrides: str):
    ran = unmo("onboard", name, *flags(preset, **overrides), "--yes", "--json", *extra)
    assert ran.exit_code == 0, ran.stderr
    return ran.json()


def secret_keys(folder: Path) -> dict[str, str]:
    """The folder's `.env` as python-dotenv (what a customer's own code uses) reads it."""
    from dotenv import dotenv_values

    return {name: value for name, value in dotenv_values(folder / ".env").items()
            if name.startswith("UNMO_") and value is not None}


def mask_keys(text: str) -> str:
    return HINT_RE.sub("<hint>", KEY_RE.sub("<key>", text))


class Terminal:
    """A real pseudo-terminal running `python -m unmo_cli ARGS…`, for the interactive prompts:
    expect() reads until a text shows up, send() types."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        import fcntl
        import os
        import struct
        import subprocess
        import sys
        import termios

        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        env = {**env, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "COLUMNS": "120",
               "LINES": "40"}
        env.pop("CI", None)
        self.process = subprocess.Popen([sys.executable, "-m", "unmo_cli", *args], stdin=slave,
                                        stdout=slave, stderr=slave, env=env, cwd=cwd,
                                        close_fds=True)
        os.close(slave)
        self.seen = ""

    def _read(self, timeout: float) -> bool:
        import os
        import select

        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # the child closed the terminal
            return False
        if not chunk:
            return False
        self.seen += chunk.decode("utf-8", "replace")
        return True

    def expect(self, text: str, timeout: float = 20) -> None:
        import time

        deadline = time.monotonic() + timeout
        start = len(self.seen)
        while text not in _plain(self.seen[start:]):
            left = deadline - time.monotonic()
            if left <= 0 or (not self._read(min(left, 0.5)) and self.process.poll() is not None
                             and not self._read(0.1)):
                raise AssertionError(f"{text!r} never appeared; the terminal showed:\n"
                                     + _plain(self.seen)[-3000:])
        self.mark = len(self.seen)

    def send(self, keys: str) -> None:
        import os

        os.write(self.master, keys.encode("utf-8"))

    def wait(self, timeout: float = 30) -> int:
        import time

        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        while self._read(0.1):
            pass
        code = self.process.wait(timeout=max(deadline - time.monotonic(), 1))
        import os

        os.close(self.master)
        return code

    def kill(self) -> None:
        import os

        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        with contextlib.suppress(OSError):
            os.close(self.master)


def _plain(text: str) -> str:
    """Terminal output without escape sequences."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\r", "", text)
