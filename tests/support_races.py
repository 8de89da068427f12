"""For the tests that race two `unmo` processes: wait for the second one until it has either
finished or is blocked, waiting for a lock the first one holds, instead of a fixed time.

Blocked means (Linux, /proc/PID/stat): asleep (state S) and using no CPU for `still_s`. A
process starting up, importing or computing is running (R) or in disk I/O (D) and its CPU time
grows; one waiting for SQLite's write lock (the busy handler sleeping between tries), for a row
lock on PostgreSQL (its client blocked reading the server's answer) or for a folder's flock
sleeps. A racer that does not wait at all (the bug these tests are for, when a command takes no
lock) runs to its end, as before."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

_TICK_TOLERANCE = 1  # a busy handler waking every few ms may be charged one clock tick


def _state_and_cpu(pid: int) -> tuple[str, int] | None:
    """(state letter, utime + stime in clock ticks), or None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
    return fields[0], int(fields[11]) + int(fields[12])


def wait_done_or_blocked(process: subprocess.Popen, *, timeout: float,
                         still_s: float = 0.3, poll_s: float = 0.02) -> bool:
    """Wait until `process` exits (True), or has been asleep without using CPU for `still_s`
    (False: it is waiting for something, a lock), or until `timeout` has passed (False)."""
    deadline = time.monotonic() + timeout
    still_since: float | None = None
    base_cpu = -1
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return True
        seen = _state_and_cpu(process.pid)
        if seen is None or seen[0] == "Z":
            continue
        state, cpu = seen
        now = time.monotonic()
        if state != "S" or still_since is None or cpu > base_cpu + _TICK_TOLERANCE:
            still_since, base_cpu = (now, cpu) if state == "S" else (None, -1)
        elif now - still_since >= still_s:
            return False
        time.sleep(poll_s)
    return process.poll() is not None
