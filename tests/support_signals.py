"""For the tests that press Ctrl-C on a real `unmo` process: start it as a terminal would, with
SIGINT at its default disposition and unblocked. (A child inherits an ignored or blocked SIGINT
from the process that starts it, and Python then installs no KeyboardInterrupt handler: two
tests that sent SIGINT from a pytest-xdist worker of the PostgreSQL pass saw their child go on
as if nothing had been sent.)"""

from __future__ import annotations

import signal
from pathlib import Path


def interruptible() -> None:
    """Popen's preexec_fn: SIGINT back to its default disposition, unblocked."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def sigint_deliverable(pid: int) -> bool:
    """Whether `pid` neither ignores nor blocks SIGINT (Linux: /proc/PID/status)."""
    fields = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    bit = 1 << (signal.SIGINT - 1)
    return not (int(fields["SigIgn"], 16) & bit or int(fields["SigBlk"], 16) & bit)
