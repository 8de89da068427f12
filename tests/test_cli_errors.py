"""The one place errors become exit codes: usage errors, unexpected failures, closed pipes."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_usage_error_is_exit_2_without_traceback(unmo):
    ran = unmo("report", "weekly", "--bogus")
    assert ran.exit_code == 2
    assert "--bogus" in ran.stderr and "Traceback" not in ran.stderr


def test_a_closed_pipe_is_not_reported_as_a_bug(workspace):
    """`unmo … | true`: the reader is gone before unmo writes. Exit like SIGPIPE (141), with
    nothing on stderr (not "unexpected BrokenPipeError; this is a bug")."""
    for args in (["config", "show", "--json"], ["config", "show"]):
        reader = subprocess.Popen([sys.executable, "-m", "unmo_cli", *args],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        assert reader.stdout is not None
        reader.stdout.close()  # before the interpreter has even started
        stderr = reader.stderr.read() if reader.stderr else b""
        reader.wait(timeout=60)
        assert reader.returncode == 141, stderr
        assert stderr == b""


@pytest.mark.sqlite_only
def test_a_blocked_state_folder_is_one_sentence(workspace):
    (workspace / ".unmo").write_text("not a folder")  # the SQLite folder cannot be created
    plain = subprocess.run([sys.executable, "-m", "unmo_cli", "db", "upgrade"],
                           capture_output=True, text=True)
    assert plain.returncode in (2, 3)
    assert "Traceback" not in plain.stderr and len(plain.stderr.strip().splitlines()) == 1
