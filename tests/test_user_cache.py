"""unmo's folder in the user's cache (unmo_cli/user_cache.py): where XDG says, owner-only, and
never made from a relative XDG_CACHE_HOME — checked through a real onboarding (a process of
its own), whose compiled templates are kept there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support_onboarding import flags

from unmo_cli.user_cache import cache_dir, make_cache_dir


def test_an_onboarding_keeps_its_compiled_templates_in_an_owner_only_folder(
        workspace: Path, tmp_path: Path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("UNMO_NO_TEMPLATE_CACHE", None)
    ran = subprocess.run([sys.executable, "-m", "unmo_cli", "onboard", "Acme Games", *flags(),
                          "--yes", "--json"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert ran.returncode == 0, ran.stderr
    for folder in (tmp_path / "cache" / "unmo", tmp_path / "cache" / "unmo" / "jinja"):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    assert any((tmp_path / "cache" / "unmo" / "jinja").iterdir())


def test_a_relative_xdg_cache_home_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")
    assert cache_dir() == tmp_path / "home" / ".cache" / "unmo"
    assert make_cache_dir("jinja") == tmp_path / "home" / ".cache" / "unmo" / "jinja"
    assert not (tmp_path / "relative").exists()


def test_no_folder_when_it_cannot_be_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert make_cache_dir() is None
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    monkeypatch.setenv("HOME", "")  # no home: not "/", which expanduser would make of it
    assert cache_dir() is None and make_cache_dir() is None


def test_an_older_unmos_folder_becomes_owner_only(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch):
    """Made with the default mode (0775 under a umask of 002) by an older unmo; a link in its
    place is not followed to change another folder's mode."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "cache" / "unmo" / "jinja").mkdir(parents=True)
    for folder in (tmp_path / "cache" / "unmo", tmp_path / "cache" / "unmo" / "jinja"):
        folder.chmod(0o775)
    assert make_cache_dir("jinja") == tmp_path / "cache" / "unmo" / "jinja"
    for folder in (tmp_path / "cache" / "unmo", tmp_path / "cache" / "unmo" / "jinja"):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    elsewhere.chmod(0o755)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "linked"))
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "unmo").symlink_to(elsewhere)
    make_cache_dir()
    assert elsewhere.stat().st_mode & 0o777 == 0o755
