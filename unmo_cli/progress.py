"""The shape of progress reporting a long service call accepts (console.progress is the one
the commands pass): (total, description) -> a context manager yielding advance(n)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

ProgressFactory = Callable[[int, str], AbstractContextManager[Callable[[int], None]]]
