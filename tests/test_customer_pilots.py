"""The committed customers/ folders are exactly what the current templates produce from their
customer.yaml (keys and the MIME boundary aside), and hold no secret."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from support_onboarding import KEY_RE, mask_keys

from unmo_cli.services.customer_folder import (
    ENV_FILE,
    WELCOME_EML,
    CustomerProfile,
    FolderKeys,
    render_customer_folder,
)

ROOT = Path(__file__).resolve().parents[1]
CUSTOMERS = sorted(p.parent for p in (ROOT / "customers").glob("*/customer.yaml"))
FAKE = "0" * 28


def _profile(answers: dict) -> CustomerProfile:
    return CustomerProfile(
        slug=answers["slug"], name=answers["name"], industry=answers["industry"],
        integration=answers["integration"], platforms=tuple(answers["platforms"]),
        provider=answers["provider"], events_per_day=answers["events_per_day"],
        mrr_cents=round(answers["mrr"] * 100), contact_name=answers["contact_name"],
        contact_email=answers["contact_email"], success_manager=answers["success_manager"],
        created_at=datetime.fromisoformat(answers["created_at"].replace("Z", "+00:00")),
    )


def _eml_view(data: bytes) -> list[str]:
    """Headers and decoded parts, keys masked: the boundary and transfer encoding depend on the
    key characters, the content does not."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    view = [f"{k}: {v}" for k, v in message.items() if k != "Content-Type"]
    view.append(message.get_content_type())
    for part in message.iter_parts():
        view.append(part.get_content_type())
        view.append(mask_keys(part.get_content()))
    return view


def test_the_three_pilots_are_committed():
    assert [p.name for p in CUSTOMERS] == ["ecomgrowth-labs", "financetrack-pro",
                                           "techstart-mobile"]


@pytest.mark.parametrize("folder", CUSTOMERS, ids=lambda p: p.name)
def test_pilot_folder_is_what_the_templates_render(folder: Path):
    answers = yaml.safe_load((folder / "customer.yaml").read_text())
    keys = FolderKeys(publishable={"live": "unmo_pk_live_" + FAKE, "test": "unmo_pk_test_" + FAKE},
                      secret_hints={"live": "unmo_sk_live_…0000", "test": "unmo_sk_test_…0000"})
    expected = render_customer_folder(ROOT / "templates", _profile(answers), keys,
                                      answers["api_base_url"])
    committed = {p.relative_to(folder).as_posix(): p.read_bytes()
                 for p in folder.rglob("*") if p.is_file()}
    assert ENV_FILE not in committed, "a .env must never be committed"
    assert sorted(committed) == sorted(expected)
    for name, data in expected.items():
        if name == WELCOME_EML:
            assert _eml_view(committed[name]) == _eml_view(data)
        else:
            assert mask_keys(committed[name].decode()) == mask_keys(data.decode()), name


@pytest.mark.parametrize("folder", CUSTOMERS, ids=lambda p: p.name)
def test_pilot_folder_holds_no_secret_key(folder: Path):
    for path in folder.rglob("*"):
        if path.is_file():
            for key in KEY_RE.findall(path.read_text()):
                assert not key.startswith("unmo_sk_"), path
