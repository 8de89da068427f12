"""Property: whatever the values that reach a customer's files (names, contacts, settings, the
API URL, keys), the files stay what their readers accept: `.env` parses with python-dotenv to
exactly the five documented keys, the shell example passes `bash -n`, `sh -n` and shellcheck,
the Python example compiles, the plist loads, customer.yaml reads back the same values and
passes yamllint's defaults, the Markdown shows no raw HTML and no link of the customer's, and
welcome.eml is CRLF-only MIME."""

from __future__ import annotations

import email
import email.policy
import io
import plistlib
import re
import string
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support_files import markdown_html, need_tool

from unmo_cli.services.customer_folder import CustomerProfile, FolderKeys, render_customer_folder
from unmo_cli.text import one_line
from unmo_cli.urls import url_problem

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
ENV_KEYS = ["UNMO_API_URL", "UNMO_SECRET_KEY_LIVE", "UNMO_SECRET_KEY_TEST",
            "UNMO_PUBLISHABLE_KEY_LIVE", "UNMO_PUBLISHABLE_KEY_TEST"]
# Tags unmo's own Markdown makes (task lists render as checkboxes); anything else came from a value.
OWN_TAGS = {"h1", "h2", "p", "table", "thead", "tbody", "tr", "th", "td", "code", "pre", "ul",
            "ol", "li", "strong", "input", "a"}

# Any text, weighted towards what markup, shells and quoting are made of.
texts = st.text(st.one_of(st.characters(blacklist_categories=("Cs",)),
                          st.sampled_from("'\"`$\\;&|<>(){}[]*#!~:@=%\n\r\t\x00\x1b\u2028 -.")),
                min_size=1, max_size=60)
url_chars = st.sampled_from(string.ascii_letters + string.digits + "-._~:@!&()*+,;=%")
urls = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
    st.sampled_from(["http", "https", "HTTPS"]),
    st.one_of(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,8}){1,3}",
                            fullmatch=True),
              st.sampled_from(["127.0.0.1", "[::1]", "10.0.0.7"])),
    st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")),
    st.lists(st.text(url_chars, max_size=8), max_size=4).map(
        lambda parts: "".join("/" + p for p in parts)),
).filter(lambda url: url_problem(url) is None)
key_bodies = st.text(string.ascii_letters + string.digits, min_size=28, max_size=28)
emails = st.emails().filter(lambda e: len(e) <= 254 and len(e.split("@")[0]) <= 64)


@st.composite
def folders(draw):
    def key(kind: str, environment: str) -> str:
        return f"unmo_{kind}_{environment}_" + draw(key_bodies)

    profile = CustomerProfile(
        slug=draw(st.from_regex(r"[a-z0-9]{1,20}(-[a-z0-9]{1,20}){0,2}", fullmatch=True)),
        name=draw(texts), industry=draw(texts), integration="hybrid",
        platforms=tuple(draw(st.lists(texts, min_size=1, max_size=2))), provider=draw(texts),
        events_per_day=draw(st.integers(0, 10**12)), mrr_cents=draw(st.integers(0, 10**13)),
        contact_name=draw(texts), contact_email=draw(emails),
        success_manager=draw(st.none() | emails),
        created_at=draw(st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1),
                                     timezones=st.just(UTC))))
    keys = FolderKeys(
        publishable={e: key("pk", e) for e in ("live", "test")},
        secret_hints={e: f"unmo_sk_{e}_…abcd" for e in ("live", "test")},
        secret={e: key("sk", e) for e in ("live", "test")})
    return profile, keys, draw(urls)


def _sdk_folders(profile: CustomerProfile) -> CustomerProfile:
    # sections() picks sdk/<platform>/ by name: keep ios and android so their files render
    from dataclasses import replace

    return replace(profile, platforms=("ios", "android") + profile.platforms)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(folders())
def test_generated_files_stay_valid_whatever_the_values(case):
    from dotenv import dotenv_values
    from yamllint import linter
    from yamllint.config import YamlLintConfig

    profile, keys, url = case
    profile = _sdk_folders(profile)
    files = render_customer_folder(TEMPLATES, profile, keys, url)
    expected_url = url.rstrip("/")

    env = dotenv_values(stream=io.StringIO(files[".env"].decode()))
    assert list(env) == ENV_KEYS
    assert env == {"UNMO_API_URL": expected_url,
                   "UNMO_SECRET_KEY_LIVE": keys.secret["live"],
                   "UNMO_SECRET_KEY_TEST": keys.secret["test"],
                   "UNMO_PUBLISHABLE_KEY_LIVE": keys.publishable["live"],
                   "UNMO_PUBLISHABLE_KEY_TEST": keys.publishable["test"]}

    script = files["sdk/server/curl-examples.sh"]
    for command in (["bash", "-n"], ["sh", "-n"],
                    [need_tool("shellcheck"), "--severity=style", "-s", "sh", "-"]):
        checked = subprocess.run(command, input=script, capture_output=True)
        assert checked.returncode == 0, (command, checked.stdout, checked.stderr)
    assert f"DEFAULT_API={expected_url}".encode() in script or \
        f"DEFAULT_API='{expected_url}'".encode() in script

    python = files["sdk/server/unmo_example.py"].decode()
    compiled = compile(python, "unmo_example.py", "exec")
    namespace: dict = {}
    exec(compiled, namespace)  # defines constants and functions only; main() is not called
    assert namespace["DEFAULT_API"] == expected_url

    plist = plistlib.loads(files["sdk/ios/UnmoConfig.plist"])
    assert plist["UnmoApiBaseURL"] == expected_url

    record_text = files["customer.yaml"].decode()
    record = yaml.safe_load(record_text)
    assert (record["name"], record["contact_name"], record["provider"], record["industry"]) == \
        (profile.name, profile.contact_name, profile.provider, profile.industry)
    assert record["platforms"] == list(profile.platforms)
    assert record["api_base_url"] == expected_url
    problems = list(linter.run(record_text, YamlLintConfig("extends: default")))
    assert not problems, problems

    for name, data in files.items():
        if name.endswith(".md"):
            html = markdown_html(data.decode())
            tags = set(re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", html))
            assert tags <= OWN_TAGS, (name, tags - OWN_TAGS)
            hrefs = re.findall(r'href="([^"]*)"', html)
            assert all(h.startswith("mailto:") for h in hrefs), (name, hrefs)

    eml = files["email/welcome.eml"]
    assert b"\n" not in eml.replace(b"\r\n", b"")
    message = email.message_from_bytes(eml, policy=email.policy.SMTP)
    assert message["Message-ID"] and message["Date"]
    shown = " ".join(one_line(profile.name).split())  # the name on one line, as Markdown has it
    assert message["Subject"] == f"Welcome to UnMoGrowP, {shown}".strip()
