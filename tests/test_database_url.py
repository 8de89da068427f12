"""Pointing unmo at a database: the URL forms it accepts, and a server that is not there.
No server needed: these run in both passes."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _one_sentence(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and lines[0].endswith(".")
    return lines[0]


@pytest.mark.parametrize("scheme, command", [
    ("postgresql+psycopg", ["db", "upgrade"]),
    ("postgresql", ["db", "upgrade"]),
    ("postgres", ["db", "upgrade"]),
    ("postgresql+psycopg", ["customer", "list", "--json"]),
])
def test_unreachable_server_is_exit_3_naming_the_redacted_url(unmo, workspace: Path, unchanged,
                                                              scheme: str, command: list[str]):
    port = _closed_port()
    url = f"{scheme}://unmo:s3cret-pa55@127.0.0.1:{port}/unmo"

    ran = unmo(*command, env={"UNMO_DATABASE_URL": url})

    assert ran.exit_code == 3
    sentence = _one_sentence(ran.stderr)
    # Every spelling means psycopg 3 (the postgres extra), not a missing psycopg2.
    assert f"postgresql+psycopg://unmo:***@127.0.0.1:{port}/unmo" in sentence
    assert "cannot connect" in sentence and "refused" in sentence.lower()
    assert "s3cret-pa55" not in ran.stderr + ran.stdout
    assert ran.stdout == ""
    assert not (workspace / ".unmo").exists(), "a PostgreSQL workspace makes no SQLite file"
    unchanged()


@pytest.mark.parametrize("url, named", [
    ("mysql://unmo:s3cret-pa55@db.example/unmo", "'mysql://unmo:***@db.example/unmo'"),
    ("oracle+cx_oracle://u:s3cret-pa55@db.example/x", "'oracle+cx_oracle://u:***@db.example/x'"),
    ("not a url", "'not a url'"),
])
def test_unsupported_or_malformed_url_is_exit_2(unmo, unchanged, url: str, named: str):
    ran = unmo("db", "upgrade", env={"UNMO_DATABASE_URL": url})

    assert ran.exit_code == 2
    sentence = _one_sentence(ran.stderr)
    assert named in sentence
    assert "sqlite:///PATH or postgresql+psycopg://" in sentence
    assert "s3cret-pa55" not in ran.stderr
    unchanged()


def test_normalize_url_keeps_everything_but_the_scheme():
    from unmo_cli.db import normalize_url

    assert normalize_url("postgres://u:p@h:5432/d?sslmode=require") == \
        "postgresql+psycopg://u:p@h:5432/d?sslmode=require"
    assert normalize_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    for kept in ("postgresql+psycopg://u@h/d", "postgresql+psycopg2://u@h/d",
                 "sqlite:////tmp/x.db"):
        assert normalize_url(kept) == kept
