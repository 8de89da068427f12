"""Test-only failure and pause points, so tests can prove what a failure or a kill -9 at a given
step leaves behind. Inert unless these variables are set; never set them in production.

- `UNMO_TEST_FAIL_AT=<step>[@n]`: the n-th time (default the first) the command reaches `step`,
  it fails there as an environment failure (exit 3); with `UNMO_TEST_FAIL_ERRNO=<name>` (say
  ENOSPC) it raises that OSError instead, as the file system would.
- `UNMO_TEST_PAUSE_AT=<step>[@n]`: there, the command writes "unmo: paused at <step> (pid …)"
  to stderr, writes `UNMO_TEST_PAUSE_FILE` if set, and waits `UNMO_TEST_PAUSE_S` seconds
  (default 60) or until the test deletes that file, so a test can kill it mid-way or run
  another command meanwhile.

Steps are the names of onboarding's timed steps (validate … move_into_place), `import-insert`
and `import-deliver` in a feedback import, `rotate-replace` (each file a key rotation
replaces), `folder-write` (each file written into an existing customer folder, after it is
created and before its bytes are), `alert-claimed` / `alert-posted` (each alert a delivery
run claims, before and after its post), `customer-render` (each customer a render reaches,
after it read them all), and `report-read` (a weekly or monthly report, after its first read)."""

from __future__ import annotations

import errno
import os
import sys
import time
from pathlib import Path

from unmo_cli.errors import EnvironmentFailure

FAIL_AT = "UNMO_TEST_FAIL_AT"
FAIL_ERRNO = "UNMO_TEST_FAIL_ERRNO"
PAUSE_AT = "UNMO_TEST_PAUSE_AT"
PAUSE_S = "UNMO_TEST_PAUSE_S"
PAUSE_FILE = "UNMO_TEST_PAUSE_FILE"

_reached: dict[tuple[str, str], int] = {}


def reset() -> None:
    """Start counting occurrences afresh (each command does, so `@n` counts within one run even
    when tests run several commands in one process)."""
    _reached.clear()


def _due(variable: str, step: str) -> bool:
    wanted = os.environ.get(variable)
    if not wanted:
        return False
    name, _, nth = wanted.partition("@")
    if name != step:
        return False
    count = _reached[(variable, step)] = _reached.get((variable, step), 0) + 1
    return count == int(nth or 1)


def fail_at(step: str) -> None:
    """Raise EnvironmentFailure when UNMO_TEST_FAIL_AT names this occurrence of `step`."""
    if _due(FAIL_AT, step):
        code = getattr(errno, os.environ.get(FAIL_ERRNO, ""), None)
        if isinstance(code, int):
            raise OSError(code, os.strerror(code))
        raise EnvironmentFailure(f"injected failure at step {step!r} ({FAIL_AT} is set; it is "
                                 "for tests only).")


def pause_at(step: str) -> None:
    """Wait here when UNMO_TEST_PAUSE_AT names this occurrence of `step` (see the module's
    docstring)."""
    if not _due(PAUSE_AT, step):
        return
    sys.stderr.write(f"unmo: paused at {step} (pid {os.getpid()}, {PAUSE_AT})\n")
    sys.stderr.flush()
    marker = os.environ.get(PAUSE_FILE)
    if marker:
        Path(marker).write_text(f"{step} {os.getpid()}\n", encoding="utf-8")
    deadline = time.monotonic() + float(os.environ.get(PAUSE_S, "60"))
    while time.monotonic() < deadline and (not marker or Path(marker).exists()):
        time.sleep(0.02)


def checkpoint(step: str) -> None:
    """Both: fail here if told to, else pause here if told to."""
    fail_at(step)
    pause_at(step)
