"""The customer folder: which files it holds (chosen by integration and platforms), rendering them
from the templates, the `.env` that is the only home of secret keys, and writing a folder to
disk. Used by onboarding, `customer render` and `keys rotate`; no database here."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from unmo_cli.errors import EnvironmentFailure, InputError

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
    from unmo_cli.clock import iso

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
    from unmo_cli.templates import TEMPLATE_SUFFIX, output_name, render_from, template_files

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
    from email.message import EmailMessage
    from email.utils import format_datetime

    subject = next((line.lstrip("#").strip() for line in text.splitlines()
                    if line.strip()), f"Welcome, {profile.name}")
    message = EmailMessage()
    local, _, domain = profile.contact_email.rpartition("@")
    try:
        message["To"] = _recipient(profile.contact_name, local, domain)
        message["From"] = profile.success_manager or DEFAULT_SENDER
    except (ValueError, IndexError) as exc:
        raise InputError(f"cannot address the welcome e-mail to {profile.contact_email!r}: "
                         f"{exc}.") from None
    message["Subject"] = subject
    message["Date"] = format_datetime(profile.created_at)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    digest = hashlib.sha256((text + "\0" + html).encode("utf-8")).hexdigest()[:32]
    message.set_boundary(f"==unmo-{digest}==")
    return message.as_bytes()


def _recipient(display_name: str, local: str, domain: str) -> Any:
    """The To address with the contact's name, if that name survives a header round trip (a
    name that looks like an RFC 2047 encoded word, or a very long non-Latin one, does not);
    otherwise the bare address, so the message always reaches the right mailbox."""
    from email.headerregistry import Address
    from email.message import EmailMessage
    from email.parser import BytesParser
    from email.policy import default

    named = Address(display_name=display_name, username=local, domain=domain)
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
    assert keys.secret is not None
    lines = [
        "# unmo: this customer's API keys. The secret keys live only in this file:",
        "# never commit it, never paste it into a ticket or a chat.",
        f"{API_URL_NAME}={api_base_url.rstrip('/')}",
        f"{ENV_NAMES[('secret', 'live')]}={keys.secret['live']}",
        f"{ENV_NAMES[('secret', 'test')]}={keys.secret['test']}",
        f"{ENV_NAMES[('publishable', 'live')]}={keys.publishable['live']}",
        f"{ENV_NAMES[('publishable', 'test')]}={keys.publishable['test']}",
    ]
    return "\n".join(lines) + "\n"


def read_env_file(path: Path) -> dict[str, str]:
    """The KEY=VALUE pairs of a `.env` (comments and blank lines skipped); {} if it is absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise EnvironmentFailure(f"cannot read {path}: {exc.strerror}.") from None
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
    depends on the operator's own `api.base_url` (say, an UNMO_API_URL pointing at a sandbox)."""
    import yaml

    from unmo_cli.documents import DocumentError, load_yaml
    from unmo_cli.text import text_problem

    try:  # load_yaml: nesting or a 5,000-digit number is out of shape too, not a crash
        record = load_yaml((folder / CUSTOMER_RECORD).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, DocumentError):
        record = None  # no record, or one edited out of shape: the .env still knows
    candidates = [record.get(RECORDED_API_URL) if isinstance(record, dict) else None,
                  read_env_file(folder / ENV_FILE).get(API_URL_NAME)]
    for url in candidates:
        if isinstance(url, str) and url.strip() and text_problem(url) is None:
            return url.strip()
    return None


def secret_keys_from_env(values: dict[str, str]) -> dict[str, str] | None:
    """{"live": …, "test": …} from a parsed `.env`, or None when either is missing."""
    live = values.get(ENV_NAMES[("secret", "live")])
    test = values.get(ENV_NAMES[("secret", "test")])
    return {"live": live, "test": test} if live and test else None


def write_private_file(path: Path, data: bytes) -> None:
    """Create (or replace) a file readable by its owner only, whatever the umask, in a folder
    that is owner-only too (a customer folder holding `.env`: 0700, so not even the file's
    name and the other generated files are open to other users)."""
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


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


def replace_file(path: Path, data: bytes) -> None:
    """Replace one file atomically (write beside it, then rename over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + PENDING_SUFFIX)
    if path.name == ENV_FILE:
        write_private_file(temporary, data)
    else:
        temporary.write_bytes(data)
    os.replace(temporary, path)
