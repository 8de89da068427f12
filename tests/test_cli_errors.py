"""The one place errors become exit codes: usage errors, unexpected failures, closed pipes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support_onboarding import onboard


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


def test_a_file_name_that_is_not_utf8_reaches_a_strict_stdout_escaped(unmo, workspace):
    """A survey export whose name is not UTF-8 (bytes from another system) is imported, and the
    summary naming it is printed escaped, as stderr escapes it, even where stdout's encoding is
    strict: not "unexpected UnicodeEncodeError; this is a bug" (exit 3) after the rows were
    stored."""
    onboard(unmo, "TechStart Mobile")
    name = os.fsdecode(b"survey-\xff.csv")
    (workspace / name).write_text("customer,satisfaction,nps\ntechstart-mobile,8,9\n")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    for extra, kind in (([], "text"), (["--json"], "json")):
        ran = subprocess.run([sys.executable, "-m", "unmo_cli", "feedback", "import", name, *extra],
                             capture_output=True, env=env, cwd=workspace)
        assert ran.returncode == 0, ran.stderr
        assert ran.stderr == b""
        if kind == "json":
            document = json.loads(ran.stdout)
            assert document["file"] == name and document["imported"] == 1
        else:
            assert b"survey-\\udcff.csv" in ran.stdout
    assert len(json.loads(unmo("feedback", "list", "--json").stdout)) == 2
