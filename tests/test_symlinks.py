"""Symbolic links in or around customer folders (a git checkout can carry `sdk -> /elsewhere`):
no command writes through one. A customer folder that is a link or holds one is refused in one
sentence naming the link (exit 2), and so is a `customers/` that is a link; nothing is written,
inside the workspace or outside it. Real links on a real file system."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import snapshot_tables, snapshot_tree
from support_onboarding import onboard, secret_keys

SLUG = "link-holder"


@pytest.fixture
def folder(module_workspaces, workspace: Path) -> Path:
    """Link Holder onboarded: once for the module, a copy for each test."""
    module_workspaces.copy(_onboard_link_holder, workspace)
    return workspace / "customers" / SLUG


def _onboard_link_holder(unmo) -> None:
    onboard(unmo, "Link Holder", "hybrid", platforms="ios,android")


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder outside the workspace, where no command may write."""
    place = tmp_path / "elsewhere"
    place.mkdir()
    (place / "precious.txt").write_text("mine\n")
    return place


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def _state(workspace: Path, elsewhere: Path) -> tuple:
    return snapshot_tree(workspace), snapshot_tables(workspace), _tree(elsewhere)


def _refused(ran, link: str) -> None:
    assert ran.exit_code == 2, (ran.exit_code, ran.stderr)
    assert ran.stderr.startswith("error: ") and ran.stderr.count("\n") == 1, ran.stderr
    assert "Traceback" not in ran.stderr and "bug" not in ran.stderr
    assert f"{link} is a symbolic link" in ran.stderr, ran.stderr


def _link_sdk_elsewhere(folder: Path, elsewhere: Path, *, drift: bool) -> None:
    """`sdk` moved out of the folder and linked back, as a checkout would have it; with
    `drift`, a file in it differs from the templates, so a render would rewrite it."""
    shutil.copytree(folder / "sdk", elsewhere / "sdk")
    shutil.rmtree(folder / "sdk")
    os.symlink(elsewhere / "sdk", folder / "sdk")
    if drift:
        (elsewhere / "sdk" / "ios" / "UnmoConfig.plist").write_text("stale\n")
    (elsewhere / "sdk" / "android").rename(elsewhere / "sdk" / "android-moved")


@pytest.mark.parametrize("command", [
    ("customer", "render", SLUG),
    ("customer", "render", "--all"),
    ("customer", "render", SLUG, "--check"),
    ("keys", "rotate", SLUG),
    ("keys", "rotate", SLUG, "--kind", "publishable"),
])
def test_a_folder_link_inside_a_customer_folder_is_refused(unmo, workspace: Path, folder: Path,
                                                           elsewhere: Path, command):
    _link_sdk_elsewhere(folder, elsewhere, drift=True)
    before = _state(workspace, elsewhere)
    keys = secret_keys(folder)
    ran = unmo(*command)
    _refused(ran, f"customers/{SLUG}/sdk")
    assert _state(workspace, elsewhere) == before, "something was written"
    assert not (elsewhere / "sdk" / "android").exists()
    assert unmo("keys", "verify", keys["UNMO_SECRET_KEY_LIVE"]).exit_code == 0


@pytest.mark.parametrize("command", [("customer", "render", SLUG), ("keys", "rotate", SLUG)])
def test_a_file_link_inside_a_customer_folder_is_refused(unmo, workspace: Path, folder: Path,
                                                         elsewhere: Path, command):
    target = elsewhere / "README.md"
    target.write_text("someone else's file\n")
    (folder / "README.md").unlink()
    os.symlink(target, folder / "README.md")
    before = _state(workspace, elsewhere)
    _refused(unmo(*command), f"customers/{SLUG}/README.md")
    assert _state(workspace, elsewhere) == before
    assert target.read_text() == "someone else's file\n"


@pytest.mark.parametrize("command", [("customer", "render", SLUG), ("keys", "rotate", SLUG)])
def test_a_customer_folder_that_is_a_link_is_refused(unmo, workspace: Path, folder: Path,
                                                     elsewhere: Path, command):
    shutil.move(folder, elsewhere / SLUG)
    os.symlink(elsewhere / SLUG, folder)
    (elsewhere / SLUG / "README.md").write_text("drifted\n")
    before = _state(workspace, elsewhere)
    _refused(unmo(*command), f"customers/{SLUG}")
    assert _state(workspace, elsewhere) == before


def test_customers_that_is_a_link_is_refused_by_every_writer(unmo, workspace: Path,
                                                            folder: Path, elsewhere: Path):
    """`customers/` pointing elsewhere: the folders would be written outside the workspace,
    so onboarding, render and rotation refuse; pointing UNMO_WORKSPACE at the other place is
    the way to keep them there."""
    customers = workspace / "customers"
    shutil.move(customers, elsewhere / "customers")
    os.symlink(elsewhere / "customers", customers)
    (elsewhere / "customers" / SLUG / "README.md").write_text("drifted\n")
    before = _state(workspace, elsewhere)
    for command in (("customer", "render", SLUG), ("keys", "rotate", SLUG),
                    ("onboard", "Another One", "--contact-name", "A", "--contact-email",
                     "a@b.example", "--industry", "gaming", "--integration", "s2s",
                     "--events-per-day", "10", "--provider", "adjust", "--mrr", "1", "--yes")):
        _refused(unmo(*command), "customers")
        assert _state(workspace, elsewhere) == before, command
    # Reading still works through it.
    assert unmo("customer", "show", SLUG).exit_code == 0


def test_render_all_refuses_before_writing_any_folder(unmo, workspace: Path, folder: Path,
                                                      elsewhere: Path):
    """One linked folder among several: the clean ones are not half-rendered either."""
    onboard(unmo, "Aaa Clean", "s2s")
    clean = workspace / "customers" / "aaa-clean"
    (clean / "README.md").write_text("drifted\n")
    _link_sdk_elsewhere(folder, elsewhere, drift=False)
    before = _state(workspace, elsewhere)
    _refused(unmo("customer", "render", "--all"), f"customers/{SLUG}/sdk")
    assert _state(workspace, elsewhere) == before
    assert (clean / "README.md").read_text() == "drifted\n"
    shutil.rmtree(folder)  # a plain folder again (re-rendered whole from the database)
    ran = unmo("customer", "render", "--all")
    assert ran.exit_code == 0, ran.stderr
    assert (clean / "README.md").read_text() != "drifted\n"


def test_a_pending_file_name_that_is_a_link_is_never_followed(unmo, workspace: Path,
                                                              folder: Path, elsewhere: Path):
    """Pending files are created new (O_EXCL, O_NOFOLLOW) under names unique to the process, so
    a link planted where an older unmo wrote `.env.unmo-new` is not written through (and the
    check above refuses the folder before that)."""
    victim = elsewhere / "victim"
    victim.write_text("untouched\n")
    os.symlink(victim, folder / ".env.unmo-new")
    _refused(unmo("keys", "rotate", SLUG), f"customers/{SLUG}/.env.unmo-new")
    assert victim.read_text() == "untouched\n"
    (folder / ".env.unmo-new").unlink()
    ran = unmo("keys", "rotate", SLUG)
    assert ran.exit_code == 0, ran.stderr
    assert victim.read_text() == "untouched\n"


def test_a_link_swapped_in_after_the_check_fails_the_write(folder: Path, elsewhere: Path):
    """Defence in depth for a link that appears while the command runs: FolderWriter walks
    every path from the folder's descriptor with O_NOFOLLOW, so the write fails (ELOOP) rather
    than land outside."""
    import errno

    from unmo_cli.services.customer_folder import open_folder

    with open_folder(str, folder, customers_dir=folder.parent) as writer:
        shutil.rmtree(folder / "sdk")
        os.symlink(elsewhere, folder / "sdk")
        os.symlink(elsewhere / "precious.txt", folder / "notes.txt")
        for relative in ("sdk/ios/UnmoConfig.plist", "sdk/new.txt"):
            with pytest.raises(OSError) as failed:
                writer.write(relative, b"x")
            assert failed.value.errno in (errno.ELOOP, errno.ENOTDIR)
        with pytest.raises(OSError):
            writer.read("notes.txt")
        writer.write("notes.txt", b"replaced the link, not its target\n")
    assert not (folder / "notes.txt").is_symlink()
    assert _tree(elsewhere) == {"precious.txt": b"mine\n"}


def test_a_folder_another_command_holds_is_waited_for_then_refused(folder: Path):
    """Rotations and renders of one customer take turns on the folder's lock; one that waited
    too long gives up with exit 3 (the environment), having changed nothing."""
    from unmo_cli.errors import EnvironmentFailure
    from unmo_cli.services.customer_folder import open_folder

    with open_folder(str, folder, customers_dir=folder.parent):
        with pytest.raises(EnvironmentFailure) as waited, \
                open_folder(str, folder, customers_dir=folder.parent, wait_s=0.2):
            pass
        assert "another unmo command has been rotating or rendering link-holder" in str(
            waited.value)
    with open_folder(str, folder, customers_dir=folder.parent, wait_s=0.2):
        pass  # free again
