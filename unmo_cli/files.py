"""Owns writing the files a user names with --output (health's JUnit/JSON, the weekly report, the
demo's HTML page): checked before any work starts, then written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from unmo_cli.errors import EnvironmentFailure


def check_output_path(path: Path, *, option: str = "--output") -> Path:
    """`path` (with ~ expanded) when a file can be written there; otherwise EnvironmentFailure
    (exit 3, the contract's "folder not writable") naming the value and why. Called before any
    work, so an unwritable place means nothing is computed, checked or recorded."""
    target = path.expanduser()
    shown = f"{option} {str(path)!r}"
    if target.is_dir():
        raise EnvironmentFailure(f"{shown} is a folder; name a file to write.")
    folder = target.parent
    if folder.exists() and not folder.is_dir():
        raise EnvironmentFailure(f"cannot write {shown}: {str(folder)!r} is not a folder.")
    if not folder.is_dir():
        raise EnvironmentFailure(f"cannot write {shown}: the folder {str(folder)!r} does not "
                                 "exist.")
    # W to create the temporary file, X to reach it; an existing file must be replaceable.
    if not os.access(folder, os.W_OK | os.X_OK) or (
            target.exists() and not os.access(target, os.W_OK)):
        raise EnvironmentFailure(f"cannot write {shown}: permission denied.")
    return target


def write_private(path: Path, text: str) -> None:
    """write_atomic, the file readable by its owner only (0600) whatever mode it had: for a
    file of personal data (`customer export`)."""
    write_atomic(path, text, mode=0o600)


def write_atomic(path: Path, text: str, *, mode: int | None = None) -> None:
    """Write `text` (UTF-8) to `path` so that a reader — a CI job parsing JUnit, a browser —
    sees the old file or the whole new one, never half: a uniquely named temporary file in the
    same folder (two runs writing the same path never share it), flushed to disk, then renamed
    over the target. An existing file keeps its mode; a new one gets the mode a plain open()
    would give it (0666 less the umask). EnvironmentFailure (exit 3) when it cannot be done;
    no temporary file is left behind."""
    target = path.expanduser()
    data = text.encode("utf-8")  # before any file exists: text that cannot be written is a bug
    if mode is None:
        mode = _mode_for(target)
    handle, temporary = -1, None
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                             dir=target.parent)
        with os.fdopen(handle, "wb") as stream:
            handle = -1  # the stream owns the descriptor now
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
        temporary = None
    except OSError as exc:
        raise EnvironmentFailure(f"cannot write {str(path)!r}: "
                                 f"{exc.strerror or type(exc).__name__}.") from None
    finally:
        if handle >= 0:
            os.close(handle)
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)


def _mode_for(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask. Linux shows it in /proc (reading it changes nothing); elsewhere it can
    only be read by setting it, so it is put back at once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current
