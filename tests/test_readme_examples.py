"""The README's examples for onboarding, customers, keys, feedback and alerts run as written.

Every backticked `unmo …` command of those "## Commands" sections that has no placeholder
(NAME, FILE, …) runs, in the README's order, in a fresh workspace. `pilots.yaml` is the packaged
list of the three pilot customers, whose onboarding (the README's own `onboard --from` example)
runs first; `survey.csv` is a survey export of unhappy answers, enough to raise alert 12. Each
must end with exit 0, or the exit code the README documents for it."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from support_onboarding import secret_keys

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PILOTS = ROOT / "unmo_cli" / "data" / "pilot-customers.yaml"
SECTIONS = ("### Onboarding and customers", "### Feedback and alerts")
NOUNS = ("onboard", "customer", "keys", "feedback", "alerts")  # prose there names `unmo health`
# What the README says besides exit 0: notify exits 3 while alerts stay pending (no webhook).
DOCUMENTED_EXIT = {"unmo alerts notify": 3}


def _section(text: str, heading: str) -> str:
    body = text.split("\n" + heading + "\n", 1)[1]
    return re.split(r"\n#{1,3} ", body, maxsplit=1)[0]


def _placeholder(word: str) -> bool:
    """NAME, FILE, ISO8601, …: a word the reader replaces."""
    return "…" in word or "..." in word or (len(word) > 1 and word.isupper()
                                            and not word.startswith("-"))


def readme_examples() -> list[str]:
    text = README.read_text(encoding="utf-8")
    found = []
    for heading in SECTIONS:
        for command in re.findall(r"`(unmo [^`]+)`", _section(text, heading)):
            words = shlex.split(command)
            if words[1] in NOUNS and not any(_placeholder(word) for word in words):
                found.append(command)
    # once each; the pilots' onboarding first: every other example needs them
    return sorted(dict.fromkeys(found),
                  key=lambda command: not command.startswith("unmo onboard --from"))


def test_the_readme_has_examples_to_run():
    examples = readme_examples()
    assert examples[0] == "unmo onboard --from pilots.yaml"
    assert len(examples) >= 12
    for command in ("customer show", "keys rotate", "keys verify", "feedback import",
                    "alerts ack"):
        assert any(command in example for example in examples), command


def _survey(path: Path) -> None:
    rows = [f"ecomgrowth-labs,3,2,technical,checkout events missing,2026-11-{10 + n}T09:00:00Z,"
            f"s-{n}" for n in range(15)]
    path.write_text("customer,satisfaction,nps,category,comment,received_at,id\n"
                    + "\n".join(rows) + "\n", encoding="utf-8")


def test_readme_examples_run_as_written(unmo, workspace: Path):
    shutil.copy(PILOTS, workspace / "pilots.yaml")
    _survey(workspace / "survey.csv")
    failures = []
    for example in readme_examples():
        stdin = None
        if example == "unmo keys verify -":
            stdin = secret_keys(workspace / "customers" / "techstart-mobile")[
                "UNMO_SECRET_KEY_LIVE"] + "\n"
        ran = unmo(*shlex.split(example)[1:], input=stdin)
        expected = DOCUMENTED_EXIT.get(example, 0)
        if ran.exit_code != expected:
            failures.append(f"{example}: exit {ran.exit_code}, expected {expected}: "
                            f"{ran.stderr.strip()}")
    assert failures == []
