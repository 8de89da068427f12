"""Whether this run is CI (`.ci/run` sets CI=true), read once when the tests are collected.

The autouse fixture in conftest.py removes CI from the environment of every test (so the
commands under test cannot see it); a check of os.environ inside a test therefore never sees CI
and a missing tool would skip in CI instead of failing. Read this constant instead."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI") == "true"


def skip_or_fail(why: str) -> None:
    """A tool or facility a test needs is missing: fail in CI (it must be installed there),
    skip on a developer's machine."""
    if IN_CI:
        pytest.fail(why)
    pytest.skip(why)
