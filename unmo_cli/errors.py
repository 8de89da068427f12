"""The project's own error types; the CLI maps each to an exit code in one place (cli.py)."""

from __future__ import annotations


class UnmoError(Exception):
    """Base of every error a user can cause or meet; `str()` is one plain sentence."""

    exit_code = 3


class InputError(UnmoError):
    """Bad input or usage: an invalid value, a malformed file, a missing field (exit 2)."""

    exit_code = 2


class NotFound(InputError):
    """An unknown customer, key or alert (exit 2)."""


class MissingFields(InputError):
    """Required fields missing without a terminal to ask them on (exit 2)."""

    def __init__(self, fields: list[str]):
        self.fields = fields
        super().__init__("missing required " + ("field" if len(fields) == 1 else "fields")
                         + ": " + ", ".join(fields) + " (pass them as options or use --from FILE).")


class CheckFailed(UnmoError):
    """A check found a problem: drift, an unhealthy customer (exit 1)."""

    exit_code = 1


class EnvironmentFailure(UnmoError):
    """The environment failed us: database unreachable, folder not writable, API misconfigured
    (exit 3)."""

    exit_code = 3


class Cancelled(UnmoError):
    """The user cancelled an interactive flow (exit 130, like a shell's Ctrl-C)."""

    exit_code = 130
