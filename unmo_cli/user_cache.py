"""unmo's folder in the user's cache: `$XDG_CACHE_HOME/unmo`, else `~/.cache/unmo` (a relative
XDG_CACHE_HOME is ignored, as the XDG base directory spec says). It holds what can be rebuilt at
any time — compiled templates (templates.py) and a server database's slugs for shell completion
(completion.py) — never inside a workspace. Folders unmo makes here are owner-only. Stdlib only:
completion imports it on a Tab press."""

from __future__ import annotations

import os
import stat
from pathlib import Path

APP = "unmo"


def cache_dir() -> Path | None:
    """Where unmo's cache folder is (it may not exist); None without an absolute home."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        home = os.environ.get("HOME")
        home = os.path.expanduser("~") if home is None else home  # unset: the password file's
        if not home or not os.path.isabs(home):  # HOME="" is no home, not "/"
            return None
        base = os.path.join(home, ".cache")
    return Path(base, APP)


def make_cache_dir(*parts: str) -> Path | None:
    """unmo's cache folder (or the sub-folder `parts` inside it), made if missing: the cache
    base as the user's other caches, unmo's folders owner-only (0700). None when there is no
    home, it cannot be made, or a folder on the way is not this user's alone (what is kept here
    is run, as compiled templates, or trusted, as the slugs a Tab offers)."""
    base = cache_dir()
    if base is None:
        return None
    folders = [base.joinpath(*parts[:depth]) for depth in range(len(parts) + 1)]
    try:
        base.parent.mkdir(parents=True, exist_ok=True)
        for folder in folders:
            folder.mkdir(mode=0o700, exist_ok=True)
            _owner_only(folder)
            if not owned(folder.stat()):
                return None
    except OSError:
        return None
    return folders[-1]


def owned(info: os.stat_result, *, others: int = 0o022) -> bool:
    """This user's, with none of the mode bits `others` (by default: nobody else may write)."""
    return not info.st_mode & others and (not hasattr(os, "getuid")
                                          or info.st_uid == os.getuid())


def _owner_only(folder: Path) -> None:
    """An existing folder of this user's (an older unmo made them with the default mode, 0775
    under a umask of 002) loses the others' permissions; a link or another user's is left as it
    is, for make_cache_dir to refuse."""
    info = folder.lstat()
    if stat.S_ISDIR(info.st_mode) and owned(info, others=0) and info.st_mode & 0o077:
        folder.chmod(0o700)
