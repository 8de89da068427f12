"""The customer folder: which files it holds (chosen by integration and platforms), rendering them
from the templates, the `.env` that is the only home of secret keys, and writing a folder to
disk. Used by onboarding, `customer render` and `keys rotate`; no database here.

Over 500 lines as one module: the folder's files, their rendering and the one safe way to
write them are one contract (what a customer receives); splitting is left to its owners."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from unmo_cli import testhooks
from unmo_cli.clock import iso
from unmo_cli.documents import DocumentError, load_yaml
from unmo_cli.errors import EnvironmentFailure, InputError
from unmo_cli.templates import (
    TEMPLATE_SUFFIX,
    dotenv_value,
    output_name,
    render_from,
    template_files,
)
from unmo_cli.urls import PRODUCTION_API_URL, url_problem

TEMPLATES_FOLDER = "customer"
ENV_FILE = ".env"
CUSTOMER_GITIGNORE = ".gitignore"
WELCOME_EML = "email/welcome.eml"
DEFAULT_SENDER = "UnMoGrowP Customer Success <success@unmogrowp.example>"

# The variable names are public: `unmo health` and customers' own scripts read them.
ENV_NAMES = {
    ("secret", "live"): "UNMO_SECRET_KEY_LIVE",
    ("secret", "test"): "UNMO_SECRET_KEY_TEST",
    ("publishable", "live"): "UNMO_PUBLISHABLE_KEY_LIVE",
    ("publishable", "test"): "UNMO_PUBLISHABLE_KEY_TEST",
}
API_URL_NAME = "UNMO_API_URL"
CUSTOMER_RECORD = "customer.yaml"
RECORDED_API_URL = "api_base_url"  # the key in customer.yaml
# Files a rotation writes beside their targets before its commit; git-ignored like .env.
PENDING_SUFFIX = ".unmo-new"


@dataclass(frozen=True)
class CustomerProfile:
    """The non-secret answers a customer was onboarded with: what customer.yaml records and
    what the templates see (phase and churn are lifecycle, not answers, so they stay out)."""

    slug: str
    name: str
    industry: str
    integration: str
    platforms: tuple[str, ...]
    provider: str
    events_per_day: int
    mrr_cents: int
    contact_name: str
    contact_email: str
    success_manager: str | None
    created_at: datetime  # aware UTC

    @property
    def mrr(self) -> float:
        return self.mrr_cents / 100

    def sections(self) -> set[str]:
        """The `sdk/<section>/` folders this customer gets: sdk → its platforms, s2s → server,
        hybrid → both."""
        wanted: set[str] = set()
        if self.integration in ("sdk", "hybrid"):
            wanted.update(self.platforms)
        if self.integration in ("s2s", "hybrid"):
            wanted.add("server")
        return wanted


@dataclass(frozen=True)
class FolderKeys:
    """Key material a render may use. Publishable keys appear in SDK configs; secret keys only in
    `.env`, so templates never receive them (only their hints)."""

    publishable: dict[str, str]
    secret_hints: dict[str, str]
    secret: dict[str, str] | None = field(default=None, repr=False)


def template_context(profile: CustomerProfile, keys: FolderKeys, api_base_url: str
                     ) -> dict[str, Any]:
    """What templates see. `api.base_url` is the URL this customer was given (api.public_url at
    onboarding, then the one its customer.yaml records), not the one unmo itself calls."""

    sections = profile.sections()
    return {
        "customer": {
            "slug": profile.slug,
            "name": profile.name,
            "industry": profile.industry,
            "integration": profile.integration,
            "platforms": list(profile.platforms),
            "provider": profile.provider,
            "events_per_day": profile.events_per_day,
            "mrr": profile.mrr,
            "mrr_cents": profile.mrr_cents,
            "contact_name": profile.contact_name,
            "contact_email": profile.contact_email,
            "success_manager": profile.success_manager,
            "created_at": iso(profile.created_at),
            "onboarded_on": profile.created_at.date().isoformat(),
        },
        "keys": {
            "publishable": dict(keys.publishable),
            "secret_hint": dict(keys.secret_hints),
        },
        "env_names": {
            "api_url": API_URL_NAME,
            "secret_live": ENV_NAMES[("secret", "live")],
            "secret_test": ENV_NAMES[("secret", "test")],
            "publishable_live": ENV_NAMES[("publishable", "live")],
            "publishable_test": ENV_NAMES[("publishable", "test")],
        },
        "api": {"base_url": api_base_url.rstrip("/")},
        "sdk": {name: name in sections for name in ("ios", "android", "server")},
    }


def render_customer_folder(templates_dir: Path, profile: CustomerProfile, keys: FolderKeys,
                           api_base_url: str) -> dict[str, bytes]:
    """Every file of the customer's folder, by relative path. `.env` is included only when the
    secret keys are known (onboarding, rotation, or read back from the existing `.env`)."""

    problem = url_problem(api_base_url.rstrip("/"))
    if problem:  # every caller validated it; this keeps a new caller from skipping that
        raise InputError(f"the API URL {api_base_url!r} for {profile.slug} {problem}.")
    context = template_context(profile, keys, api_base_url)
    sections = profile.sections()
    files: dict[str, bytes] = {}
    for name, path in template_files(templates_dir, TEMPLATES_FOLDER):
        relative = output_name(name)
        parts = relative.split("/")
        if parts[0] == "sdk" and len(parts) > 2 and parts[1] not in sections:
            continue
        if name.endswith(TEMPLATE_SUFFIX):
            files[relative] = render_from(templates_dir, name, context).encode("utf-8")
        else:
            files[relative] = path.read_bytes()  # not a template: copied as it is
    if "email/welcome.md" in files and "email/welcome.html" in files:
        files[WELCOME_EML] = welcome_message(profile, files["email/welcome.md"].decode(),
                                             files["email/welcome.html"].decode())
    files[CUSTOMER_GITIGNORE] = f"# secret keys never go to git\n.env\n*{PENDING_SUFFIX}\n".encode()
    if keys.secret is not None:
        files[ENV_FILE] = env_file_text(keys, api_base_url).encode("utf-8")
    return dict(sorted(files.items()))


def welcome_message(profile: CustomerProfile, text: str, html: str) -> bytes:
    """`welcome.eml`: To the contact, From the success manager (or the team's address), the
    Subject from the first heading of welcome.md, multipart/alternative text + HTML. The MIME
    boundary is derived from the content so re-rendering the same customer gives the same bytes."""
    # lazy: the e-mail package only to write the welcome mail
    from email.message import EmailMessage
    from email.policy import SMTP
    from email.utils import format_datetime

    # welcome.md escapes Markdown in the customer's name; the Subject is plain text.
    heading = next((line.lstrip("#").strip() for line in text.splitlines() if line.strip()), "")
    subject = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", heading) or f"Welcome, {profile.name}"
    # CRLF line ends and 7-bit transfer encodings: the bytes go to any SMTP server as they are.
    message = EmailMessage(policy=SMTP.clone(cte_type="7bit"))
    local, _, domain = profile.contact_email.rpartition("@")
    try:
        message["To"] = recipient_address(profile.contact_name, local, domain)
        message["From"] = profile.success_manager or DEFAULT_SENDER
    except (ValueError, IndexError) as exc:
        raise InputError(f"cannot address the welcome e-mail to {profile.contact_email!r}: "
                         f"{exc}.") from None
    message["Subject"] = subject
    message["Date"] = format_datetime(profile.created_at)
    # Stable across re-renders (the drift check compares bytes), unique per onboarding.
    sender = message["From"].addresses[0].domain or "unmogrowp.example"
    local_part = re.sub(r"[^A-Za-z0-9-]+", "-", profile.slug)
    message["Message-ID"] = (f"<welcome.{local_part}.{profile.created_at:%Y%m%dT%H%M%S}"
                             f"@{sender}>")
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    digest = hashlib.sha256((text + "\0" + html).encode("utf-8")).hexdigest()[:32]
    message.set_boundary(f"==unmo-{digest}==")
    return message.as_bytes()


def recipient_address(display_name: str, local: str, domain: str) -> Any:
    """The To address with the contact's name, if that name survives a header round trip (a
    name that looks like an RFC 2047 encoded word, or a very long non-Latin one, does not);
    otherwise the bare address, so the message always reaches the right mailbox."""
    # lazy: the e-mail package only to write the welcome mail
    from email.headerregistry import Address
    from email.message import EmailMessage
    from email.parser import BytesParser
    from email.policy import default

    try:
        named = Address(display_name=display_name, username=local, domain=domain)
    except ValueError:  # a line break in the name: a header cannot hold it
        return Address(username=local, domain=domain)
    if display_name.isascii() and "=?" not in display_name and len(display_name) < 60:
        return named  # plain ASCII is written and read back as it is
    probe = EmailMessage()
    probe["To"] = named
    parsed = BytesParser(policy=default).parsebytes(probe.as_bytes(), headersonly=True)
    addresses = parsed["To"].addresses if parsed["To"] is not None else ()
    if len(addresses) == 1 and addresses[0].display_name == display_name:
        return named
    return Address(username=local, domain=domain)


def env_file_text(keys: FolderKeys, api_base_url: str) -> str:
    """The five documented variables, each value quoted by the dotenv filter (single quotes:
    python-dotenv and `set -a; . .env` read the same text, and expand nothing)."""

    assert keys.secret is not None
    values = {
        API_URL_NAME: api_base_url.rstrip("/"),
        ENV_NAMES[("secret", "live")]: keys.secret["live"],
        ENV_NAMES[("secret", "test")]: keys.secret["test"],
        ENV_NAMES[("publishable", "live")]: keys.publishable["live"],
        ENV_NAMES[("publishable", "test")]: keys.publishable["test"],
    }
    lines = [
        "# unmo: this customer's API keys. The secret keys live only in this file:",
        "# never commit it, never paste it into a ticket or a chat.",
        *(f"{name}={dotenv_value(value)}" for name, value in values.items()),
    ]
    return "\n".join(lines) + "\n"


def is_script(relative: str, data: bytes) -> bool:
    """Whether a generated file is a script a customer runs (`./curl-examples.sh`, as its README
    says): it starts with `#!`. Scripts are written executable; `.env` never is."""
    return relative != ENV_FILE and data.startswith(b"#!")


def make_executable(fd: int) -> None:
    """Add the execute bits that match the file's read bits (0644 -> 0755 under the usual umask
    022, 0600 -> 0700 under 077), as `chmod +x` does: no one gains read access by it."""
    mode = os.fstat(fd).st_mode & 0o777
    os.fchmod(fd, mode | (mode & 0o444) >> 2)


def read_env_file(path: Path) -> dict[str, str]:
    """The KEY=VALUE pairs of a `.env` (comments and blank lines skipped); {} if it is absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise EnvironmentFailure(f"cannot read {path}: {exc.strerror}.") from None
    return parse_env_text(text)


def parse_env_text(text: str) -> dict[str, str]:
    """The KEY=VALUE pairs of a `.env`'s text (see read_env_file)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        values[name.strip()] = value.strip().strip('"').strip("'")
    return values


def recorded_api_url(folder: Path) -> str | None:
    """The API URL the customer was given: `api_base_url` in its customer.yaml (the record; edit
    it to move a customer to another API), else UNMO_API_URL in its `.env`; None when the folder
    records neither. Re-rendering and rotation reuse it, so what a customer receives never
    depends on the operator's settings (`api.base_url`, `api.public_url`). A recorded URL that
    could not be written safely into the customer's files (see urls.url_problem) is an
    InputError naming the file, never written."""
    import yaml  # lazy: PyYAML only when there is a YAML file to read

    try:  # load_yaml: nesting or a 5,000-digit number is out of shape too, not a crash
        record = load_yaml((folder / CUSTOMER_RECORD).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, DocumentError):
        record = None  # no record, or one edited out of shape: the .env still knows
    candidates = [(CUSTOMER_RECORD, RECORDED_API_URL,
                   record.get(RECORDED_API_URL) if isinstance(record, dict) else None),
                  (ENV_FILE, API_URL_NAME, read_env_file(folder / ENV_FILE).get(API_URL_NAME))]
    for file_name, key, url in candidates:
        if url is None or (isinstance(url, str) and not url.strip()):
            continue
        text = url.strip().rstrip("/") if isinstance(url, str) else repr(url)
        problem = url_problem(text) if isinstance(url, str) else "is not text"
        if problem:
            raise InputError(f"{folder / file_name}: {key} {text!r} {problem}; set it to the "
                             f"API this customer uses, e.g. {PRODUCTION_API_URL}.")
        return text
    return None


def secret_keys_from_env(values: dict[str, str]) -> dict[str, str] | None:
    """{"live": …, "test": …} from a parsed `.env`, or None when either is missing."""
    live = values.get(ENV_NAMES[("secret", "live")])
    test = values.get(ENV_NAMES[("secret", "test")])
    return {"live": live, "test": test} if live and test else None


def write_private_file(path: Path, data: bytes) -> None:
    """Create (or replace) a file readable by its owner only, whatever the umask, in a folder
    that is owner-only too (a customer folder holding `.env`: 0700, so not even the file's
    name and the other generated files are open to other users). A link at `path` is not
    followed (ELOOP)."""
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        _write_all(fd, data)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    """os.write may write less than asked (a full disk, a signal): loop until all is written,
    so a file is whole or the write raised."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_folder(target: Path, files: dict[str, bytes]) -> None:
    """Write `files` under a fresh folder `target` (`.env` at mode 0600)."""
    target.mkdir(parents=True, exist_ok=True)
    folders = {parent for name in files for parent in Path(name).parents} - {Path(".")}
    for folder in sorted(folders, key=lambda f: len(f.parts)):  # parents before children
        (target / folder).mkdir(exist_ok=True)
    for relative, data in files.items():
        path = target / relative
        if relative == ENV_FILE:
            write_private_file(path, data)
        else:
            with open(path, "wb") as handle:
                handle.write(data)
                if is_script(relative, data):
                    make_executable(handle.fileno())


# --- writing inside an existing customer folder -------------------------------------------------

# How long a command waits for another one rendering or rotating the same customer.
FOLDER_LOCK_WAIT_S = 60.0


def link_inside(folder: Path) -> Path | None:
    """The first symbolic link at `folder` itself or anywhere inside it (links are not
    followed), or None."""
    if folder.is_symlink():
        return folder
    if not folder.is_dir():
        return None
    for current, folders, names in os.walk(folder, followlinks=False):
        for name in sorted(folders + names):
            path = Path(current) / name
            if path.is_symlink():
                return path
        folders.sort()
    return None


def refuse_links(shown: Callable[[Path], str], folder: Path, *, customers_dir: Path) -> None:
    """InputError (exit 2), naming the link, when `customers/` is a symbolic link or the customer
    folder is one or holds one: a write through it would land outside the workspace (a git
    checkout can carry `sdk -> /elsewhere`), so unmo writes nothing there at all."""
    refuse_linked_customers_dir(shown, customers_dir)
    link = link_inside(folder)
    if link is not None:
        raise InputError(f"{shown(link)} is a symbolic link (to {os.readlink(link)}); unmo "
                         f"does not write through links, so {shown(folder)} was left as it is: "
                         "replace the link with a real file or folder, then run the command "
                         "again.")


def refuse_linked_customers_dir(shown: Callable[[Path], str], customers_dir: Path) -> None:
    """InputError (exit 2) when `customers/` is a symbolic link: customer folders are written
    only inside the workspace. (The workspace itself may be a link: the user chose it.)"""
    if customers_dir.is_symlink():
        raise InputError(f"{shown(customers_dir)} is a symbolic link (to "
                         f"{os.readlink(customers_dir)}); unmo writes customer folders only "
                         "inside the workspace, so make it a real folder (or point "
                         "UNMO_WORKSPACE at the other place).")


def pending_name(relative: str, token: str) -> str:
    """Where a file waits beside its target until the rotation's commit: `<name>.<token>` +
    PENDING_SUFFIX, the token unique to the process, so two commands never share one."""
    return f"{relative}.{token}{PENDING_SUFFIX}"


def pending_target(relative: str) -> tuple[str, str] | None:
    """(target, token) of a pending file's relative path, or None if it is not one. The form
    without a token is what unmo 0.x wrote before tokens existed."""
    if not relative.endswith(PENDING_SUFFIX):
        return None
    stem = relative.removesuffix(PENDING_SUFFIX)
    match = re.fullmatch(r"(.+)\.([0-9a-f]{16})", stem)
    return (match.group(1), match.group(2)) if match else (stem, "")


class FolderWriter:
    """Reads and writes inside one customer folder, never through a symbolic link: every path
    is walked one component at a time from the folder's own descriptor with O_NOFOLLOW, so a
    link swapped in after the check (refuse_links) makes the write fail instead of landing
    outside. Holds an exclusive lock on the folder (flock) while open: rotations and renders of
    one customer take turns, so each reads the `.env` the previous one left."""

    def __init__(self, folder: Path, root_fd: int) -> None:
        self.folder = folder
        self._root = root_fd
        self.token = secrets.token_hex(8)

    def still_named(self) -> bool:
        """Whether the folder's path still names the directory this writer holds: another
        command (a `customer forget`) may have moved it away while this one waited for the
        lock."""
        try:
            named = os.stat(self.folder, follow_symlinks=False)
        except FileNotFoundError:
            return False
        held = os.fstat(self._root)
        return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)

    # -- paths
    def _parent(self, relative: str, *, create: bool) -> tuple[int, str]:
        """A descriptor of the folder holding `relative` (the caller closes it unless it is the
        root) and the file's own name."""
        *parents, name = relative.split("/")
        fd = self._root
        for part in parents:
            if create:
                with suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
            try:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            finally:
                if fd != self._root:
                    os.close(fd)
            fd = child
        return fd, name

    def _close(self, fd: int) -> None:
        if fd != self._root:
            os.close(fd)

    def read(self, relative: str) -> bytes | None:
        """A file's bytes, or None when it (or a folder on its way) does not exist."""
        try:
            fd, name = self._parent(relative, create=False)
        except FileNotFoundError:
            return None
        try:
            handle = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
        except FileNotFoundError:
            return None
        finally:
            self._close(fd)
        with os.fdopen(handle, "rb") as stream:
            return stream.read()

    def create(self, relative: str, data: bytes) -> None:
        """Create a new file (it must not exist), written whole and flushed to disk; `.env` and
        pending `.env` files owner-only. On failure (a full disk) nothing of it remains."""
        private = relative.split("/")[-1].startswith(ENV_FILE)
        fd, name = self._parent(relative, create=True)
        try:
            handle = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                             0o600 if private else 0o666, dir_fd=fd)
            try:
                if private:
                    os.fchmod(handle, 0o600)
                    os.fchmod(fd, 0o700)  # the folder holding `.env` is owner-only too

                testhooks.fail_at("folder-write")
                _write_all(handle, data)
                if is_script(relative, data):
                    make_executable(handle)
                os.fsync(handle)
            except BaseException:
                os.close(handle)
                os.unlink(name, dir_fd=fd)
                raise
            os.close(handle)
        finally:
            self._close(fd)

    def replace(self, source: str, target: str) -> None:
        """Rename `source` over `target` (both relative; the same folder)."""
        fd, name = self._parent(target, create=False)
        try:
            os.replace(source.split("/")[-1], name, src_dir_fd=fd, dst_dir_fd=fd)
        finally:
            self._close(fd)

    def remove(self, relative: str) -> None:
        try:
            fd, name = self._parent(relative, create=False)
        except FileNotFoundError:
            return
        try:
            with suppress(FileNotFoundError):
                os.unlink(name, dir_fd=fd)
        finally:
            self._close(fd)

    def write(self, relative: str, data: bytes) -> None:
        """Replace one file atomically: written beside it under a name of this process's, then
        renamed over it."""
        temporary = pending_name(relative, self.token)
        self.create(temporary, data)
        try:
            self.replace(temporary, relative)
        except BaseException:
            self.remove(temporary)
            raise

    def pending_files(self) -> list[str]:
        """Every pending file in the folder (relative paths), left by this or a killed command."""
        found = []
        for current, folders, names in os.walk(self.folder, followlinks=False):
            folders.sort()
            for name in names:
                relative = (Path(current) / name).relative_to(self.folder).as_posix()
                if pending_target(relative) is not None:
                    found.append(relative)
        return sorted(found)


@contextmanager
def open_folder(shown: Callable[[Path], str], folder: Path, *, customers_dir: Path,
                wait_s: float = FOLDER_LOCK_WAIT_S) -> Iterator[FolderWriter]:
    """A FolderWriter on an existing customer folder: refused (InputError, exit 2) when the
    folder is missing, is a link or holds one (refuse_links); waits up to `wait_s` for another
    command holding the folder, then EnvironmentFailure (exit 3)."""

    refuse_links(shown, folder, customers_dir=customers_dir)
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise InputError(f"the folder {shown(folder)} is missing; run unmo customer render "
                         f"{folder.name} first.") from None
    except OSError as exc:
        raise EnvironmentFailure(f"cannot open {shown(folder)}: {exc.strerror}.") from None
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise EnvironmentFailure(
                        f"another unmo command has been rotating or rendering {folder.name} "
                        f"for over {wait_s:.0f} s; nothing was changed, try again when it has "
                        "finished.") from None
                time.sleep(0.05)
        yield FolderWriter(folder, fd)
    finally:
        os.close(fd)  # releases the lock
