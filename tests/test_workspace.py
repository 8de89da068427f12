"""Workspace resolution, unmo.yaml validation, init, config show, db upgrade, version."""

from __future__ import annotations

from pathlib import Path

import pytest

from unmo_cli import __version__
from unmo_cli.workspace import load_workspace


def test_version(unmo):
    ran = unmo("--version")
    assert ran.exit_code == 0
    assert ran.stdout.strip() == f"unmo {__version__}"


def test_init_writes_config_customers_and_gitignore(unmo, workspace: Path):
    target = workspace / "team"
    ran = unmo("init", str(target))
    assert ran.exit_code == 0, ran.stderr
    assert (target / "unmo.yaml").read_text().startswith("# unmo workspace settings")
    assert (target / "customers").is_dir()
    ignore = (target / ".gitignore").read_text().splitlines()
    assert ".unmo/" in ignore and "customers/*/.env" in ignore
    # a second init keeps what is there
    (target / "unmo.yaml").write_text("timezone: Europe/Berlin\n")
    assert unmo("init", str(target)).exit_code == 0
    assert (target / "unmo.yaml").read_text() == "timezone: Europe/Berlin\n"


def test_resolution_prefers_nearest_unmo_yaml(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("UNMO_WORKSPACE", raising=False)
    (tmp_path / "unmo.yaml").write_text("timezone: Asia/Tokyo\n")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    ws = load_workspace(deep)
    assert ws.root == tmp_path.resolve()
    assert ws.settings.timezone == "Asia/Tokyo"


def test_environment_wins_over_file(unmo, workspace: Path):
    (workspace / "unmo.yaml").write_text("timezone: Asia/Tokyo\napi:\n  timeout_s: 9\n")
    ran = unmo("config", "show", "--json", env={"UNMO_TIMEZONE": "Europe/Paris"})
    assert ran.exit_code == 0, ran.stderr
    settings = ran.json()["settings"]
    assert settings["timezone"] == "Europe/Paris"
    assert settings["api.timeout_s"] == 9.0


def test_unknown_key_names_file_line_and_key(unmo, workspace: Path):
    (workspace / "unmo.yaml").write_text("timezone: UTC\nalerts:\n  webhok_url: http://x\n")
    ran = unmo("config", "show")
    assert ran.exit_code == 2
    assert "unmo.yaml: line 3" in ran.stderr and "alerts.webhok_url" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_ill_typed_and_malformed_config(unmo, workspace: Path):
    (workspace / "unmo.yaml").write_text("targets:\n  nps: lots\n")
    ran = unmo("config", "show")
    assert ran.exit_code == 2 and "targets.nps" in ran.stderr and "line 2" in ran.stderr
    (workspace / "unmo.yaml").write_text("timezone: [UTC\n")
    ran = unmo("config", "show")
    assert ran.exit_code == 2 and "unmo.yaml" in ran.stderr


def test_config_show_masks_secrets(unmo):
    ran = unmo("config", "show", "--json", env={
        "UNMO_DATABASE_URL": "postgresql+psycopg://unmo:hunter2@db.example/unmo",
        "UNMO_ALERT_WEBHOOK": "https://hooks.slack.example/services/T000/B000/XXXXSECRET",
    })
    assert ran.exit_code == 0, ran.stderr
    assert "hunter2" not in ran.stdout and "XXXXSECRET" not in ran.stdout
    assert "***" in ran.stdout


@pytest.mark.sqlite_only  # the file and its mode; test_postgres.py covers the server
def test_db_upgrade_creates_and_reports_current(unmo, workspace: Path):
    first = unmo("db", "upgrade")
    assert first.exit_code == 0, first.stderr
    assert (workspace / ".unmo" / "unmo.db").exists()
    assert (workspace / ".unmo" / "unmo.db").stat().st_mode & 0o077 == 0
    again = unmo("db", "upgrade")
    assert "up to date" in again.stderr


def test_schema_head_matches_alembic():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from unmo_cli.db import MIGRATIONS_DIR, SCHEMA_HEAD

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD


def test_migrations_match_models(workspace: Path):
    """The hand-written migrations build exactly the tables the models describe."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from unmo_cli.db import open_database
    from unmo_cli.db.models import metadata

    db = open_database(load_workspace())
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []
