"""Setting a workspace up, describing its settings, upgrading its database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unmo_cli.db import open_database, redact_url
from unmo_cli.errors import EnvironmentFailure, InputError
from unmo_cli.workspace import (
    CONFIG_NAME,
    Workspace,
    default_config_text,
    ensure_gitignore,
    flat_settings,
    load_workspace,
    mask_secret_setting,
)


@dataclass(frozen=True)
class InitResult:
    root: Path
    created: list[str]
    kept: list[str]


def init_workspace(path: Path | None) -> InitResult:
    """Write a commented unmo.yaml, the customers/ folder and a .gitignore; never overwrite."""
    root = (path or Path.cwd()).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise InputError(f"{str(root)!r} exists and is not a folder; pass a folder to unmo init.")
    created: list[str] = []
    kept: list[str] = []
    try:
        root.mkdir(parents=True, exist_ok=True)
        config = root / CONFIG_NAME
        if config.exists():
            kept.append(CONFIG_NAME)
        else:
            config.write_text(default_config_text(), encoding="utf-8")
            created.append(CONFIG_NAME)
        customers = root / "customers"
        if customers.is_dir():
            kept.append("customers/")
        else:
            customers.mkdir()
            created.append("customers/")
        had_gitignore = (root / ".gitignore").exists()
        ensure_gitignore(root)
        (kept if had_gitignore else created).append(".gitignore")
    except OSError as exc:
        raise EnvironmentFailure(f"cannot write the workspace at {root}: {exc.strerror}.") from None
    return InitResult(root=root, created=created, kept=kept)


@dataclass(frozen=True)
class SettingsReport:
    workspace: Path
    config_file: Path | None
    database_url: str
    templates_dir: Path
    settings: dict[str, Any]


def describe_settings() -> SettingsReport:
    """The resolved settings with secrets masked (credentials in URLs, webhook tokens)."""

    ws = load_workspace()
    values = flat_settings(ws.settings)
    values["database_url"] = mask_secret_setting("database_url", ws.database_url)
    values["templates_dir"] = str(ws.templates_dir)
    return SettingsReport(
        workspace=ws.root,
        config_file=ws.config_file,
        database_url=values["database_url"],
        templates_dir=ws.templates_dir,
        settings=values,
    )


@dataclass(frozen=True)
class UpgradeResult:
    database_url: str
    from_revision: str | None
    to_revision: str
    backup: Path | None


def upgrade_database(ws: Workspace | None = None) -> UpgradeResult:
    ws = ws or load_workspace()
    db = open_database(ws, upgrade=False)
    try:
        before, after, backup = db.upgrade()
    finally:
        db.dispose()
    return UpgradeResult(redact_url(ws.database_url), before, after, backup)
