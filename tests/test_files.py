"""unmo_cli.files: --output checked before any work, then written whole, with a temporary file of
its own per writer, keeping an existing file's mode (health, the weekly report and the demo all
write through it)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from unmo_cli.errors import EnvironmentFailure
from unmo_cli.files import check_output_path, write_atomic


def test_writers_of_one_path_never_share_a_temporary_file(tmp_path: Path):
    """Sixteen writers at once (two CI jobs writing health.xml, say): every one succeeds, the
    file ends up as one writer's whole text, and no temporary file is left. With one fixed
    temporary name, one writer would rename another's half-written file, or find it gone."""
    target = tmp_path / "health.xml"
    texts = [f"<run n='{n}'>" + "x" * 200_000 + "</run>\n" for n in range(16)]
    failures: list[BaseException] = []
    start = threading.Barrier(len(texts))

    def write(text: str) -> None:
        start.wait()
        try:
            for _ in range(5):
                write_atomic(target, text)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(text,)) for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert target.read_text() in texts
    assert [p.name for p in tmp_path.iterdir()] == ["health.xml"]


def test_an_existing_file_keeps_its_mode_and_a_new_one_follows_the_umask(tmp_path: Path):
    kept = tmp_path / "report.html"
    kept.write_text("old")
    kept.chmod(0o604)
    write_atomic(kept, "new")
    assert kept.read_text() == "new" and stat.S_IMODE(kept.stat().st_mode) == 0o604
    previous = os.umask(0o027)
    try:
        write_atomic(tmp_path / "fresh.json", "{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "fresh.json").stat().st_mode) == 0o640


_FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from unmo_cli.errors import EnvironmentFailure
from unmo_cli.files import write_atomic
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
try:
    write_atomic(Path(sys.argv[1]), "x" * 100_000)
except EnvironmentFailure as exc:
    print(exc)
"""


def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_temporary(tmp_path: Path):
    """A file-size limit (as a full disk would) stops the write after 4 KiB: exit-3 sentence,
    the old file untouched, the temporary removed."""
    import subprocess
    import sys

    target = tmp_path / "week.csv"
    target.write_text("old")
    ran = subprocess.run([sys.executable, "-c", _FULL_DISK, str(target)], capture_output=True,
                         text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith(f"cannot write {str(target)!r}: File too large"), ran.stdout
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["week.csv"]


def test_text_that_cannot_be_encoded_writes_nothing(tmp_path: Path):
    target = tmp_path / "week.csv"
    target.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "half\udcff")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["week.csv"]


@pytest.mark.parametrize(("place", "says"), [
    ("missing/out.xml", "the folder 'missing' does not exist"),
    ("a-file/out.xml", "'a-file' is not a folder"),
    (".", "is a folder; name a file"),
])
def test_unwritable_places_are_environment_failures(tmp_path: Path, monkeypatch, place, says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(EnvironmentFailure, match=says) as raised:
        check_output_path(Path(place))
    assert raised.value.exit_code == 3 and f"--output {place!r}" in str(raised.value)
    assert check_output_path(Path("fine.xml")) == Path("fine.xml")
