"""`unmo customer list` segments: each filter, their combinations and the orders, on a small
portfolio built through the real CLI (onboard, customer set, feedback add) plus one health check
written through the data layer; bad values are exit 2 and write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

NOW = "2026-11-10T12:00:00Z"

# name, industry, integration, provider, MRR, onboarded
PORTFOLIO = [
    ("Acme Games", "gaming", "s2s", "adjust", "2500", "2026-10-01T09:00:00Z"),
    ("beta Shop", "ecommerce", "sdk", "appsflyer", "900", "2026-10-02T09:00:00Z"),
    ("Cash Pay", "fintech", "hybrid", "branch", "12,000.50", "2026-10-03T09:00:00Z"),
    ("Zebra Apps", "other", "s2s", "none", "2500", "2026-10-04T09:00:00Z"),
]
SLUGS = ["acme-games", "beta-shop", "cash-pay", "zebra-apps"]


@pytest.fixture
def portfolio(module_workspaces, workspace: Path) -> list[str]:
    return module_workspaces.copy(_build_portfolio, workspace)


def _build_portfolio(unmo) -> list[str]:
    for name, industry, integration, provider, mrr, onboarded in PORTFOLIO:
        platforms = [] if integration == "s2s" else ["--platforms", "ios"]
        ran = unmo("onboard", name, "--contact-name", "Ops", "--contact-email",
                   "ops@example.com", "--industry", industry, "--integration", integration,
                   *platforms, "--events-per-day", "1000", "--provider", provider,
                   "--mrr", mrr, "--yes", env={"UNMO_NOW": onboarded})
        assert ran.exit_code == 0, ran.stderr
    sets = [("acme-games", "--tier", "enterprise", "--success-manager", "sam@unmo.example",
             "--renewal-date", "2027-01-15"),
            ("beta-shop", "--success-manager", "Kim@unmo.example", "--renewal-date",
             "2027-03-01"),
            ("cash-pay", "--tier", "enterprise", "--renewal-date", "2026-12-31")]
    for args in sets:
        ran = unmo("customer", "set", *args, env={"UNMO_NOW": "2026-10-20T09:00:00Z"})
        assert ran.exit_code == 0, ran.stderr
    # Sentiment: acme 10/10 (green), beta 7/8 (yellow), cash 1/0 (red); zebra has no feedback
    # but one check that found its API down (red through the technical component).
    for slug, satisfaction, nps in (("acme-games", "10", "10"), ("beta-shop", "7", "8"),
                                    ("cash-pay", "1", "0")):
        ran = unmo("feedback", "add", slug, "-s", satisfaction, "--nps", nps,
                   env={"UNMO_NOW": "2026-11-05T12:00:00Z"})
        assert ran.exit_code == 0, ran.stderr
    _down_check("zebra-apps", "2026-11-09T12:00:00")
    return SLUGS


def _down_check(slug: str, at: str) -> None:
    from datetime import datetime

    from sqlmodel import select

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer, HealthCheck
    from unmo_cli.workspace import load_workspace

    db = open_database(load_workspace())
    try:
        with db.session() as session:
            customer = session.exec(select(Customer).where(Customer.slug == slug)).one()
            session.add(HealthCheck(customer_id=customer.id, checked_at=datetime.fromisoformat(at),
                                    status="down", latency_ms=None))
    finally:
        db.dispose()


def listed(unmo, *args: str) -> list[dict]:
    ran = unmo("customer", "list", *args, "--json", env={"UNMO_NOW": NOW})
    assert ran.exit_code == 0, ran.stderr
    return ran.json()


def slugs(unmo, *args: str) -> list[str]:
    return [c["slug"] for c in listed(unmo, *args)]


@pytest.mark.parametrize(("args", "expected"), [
    ((), SLUGS),
    (("--industry", "fintech"), ["cash-pay"]),
    (("--industry", "GAMING"), ["acme-games"]),
    (("--integration", "s2s"), ["acme-games", "zebra-apps"]),
    (("--provider", "none"), ["zebra-apps"]),
    (("--tier", "enterprise"), ["acme-games", "cash-pay"]),
    (("--tier", "standard"), ["beta-shop", "zebra-apps"]),
    (("--tier", "gold"), []),
    (("--manager", "sam@unmo.example"), ["acme-games"]),
    (("--manager", "kim@UNMO.example"), ["beta-shop"]),  # the address in any case
    (("--manager", "none"), ["cash-pay", "zebra-apps"]),
    (("--mrr-min", "2500"), ["acme-games", "cash-pay", "zebra-apps"]),
    (("--mrr-max", "$2,499.99"), ["beta-shop"]),
    (("--mrr-min", "900", "--mrr-max", "900"), ["beta-shop"]),
    (("--renewal-before", "2027-01-15"), ["cash-pay"]),  # strictly before
    (("--renewal-before", "2027-01-16"), ["acme-games", "cash-pay"]),
    (("--phase", "setup"), SLUGS),
    (("--phase", "launch"), []),
])
def test_each_filter(unmo, portfolio, args, expected):
    assert slugs(unmo, *args) == expected


def test_filters_combine_with_and(unmo, portfolio):
    assert slugs(unmo, "--tier", "enterprise", "--mrr-max", "5000") == ["acme-games"]
    assert slugs(unmo, "--integration", "s2s", "--manager", "none") == ["zebra-apps"]
    assert slugs(unmo, "--tier", "enterprise", "--health", "red") == ["cash-pay"]
    assert slugs(unmo, "--tier", "enterprise", "--health", "red", "--industry",
                 "gaming") == []


def test_health_filter_and_sort_use_the_score_customer_show_computes(unmo, portfolio):
    customers = listed(unmo, "--sort", "health")
    # Red first (lowest score first), then yellow, green; zebra's only data is a check that
    # found it down: technical 0, score 0.
    assert [c["slug"] for c in customers] == ["zebra-apps", "cash-pay", "beta-shop",
                                               "acme-games"]
    assert [c["health_color"] for c in customers] == ["red", "red", "yellow", "green"]
    assert customers[0]["health_score"] == 0 and customers[-1]["health_score"] == 100
    for customer in customers:
        ran = unmo("customer", "show", customer["slug"], "--json", env={"UNMO_NOW": NOW})
        health = ran.json()["health"]
        assert (customer["health_score"], customer["health_color"]) == (health["score"],
                                                                          health["color"])
    assert slugs(unmo, "--health", "red") == ["cash-pay", "zebra-apps"]  # created order
    assert slugs(unmo, "--health", "yellow") == ["beta-shop"]
    assert slugs(unmo, "--health", "GREEN") == ["acme-games"]
    # A month later the feedback has left the 30-day window: acme, beta and cash have no score.
    later = unmo("customer", "list", "--health", "green", "--json",
                 env={"UNMO_NOW": "2026-12-20T12:00:00Z"})
    assert later.exit_code == 0 and later.json() == []


def test_health_fields_only_when_the_list_computes_health(unmo, portfolio):
    plain = listed(unmo)
    assert "health_score" not in plain[0] and "health_color" not in plain[0]
    filtered = listed(unmo, "--health", "yellow")
    assert filtered[0]["health_score"] == 72 and filtered[0]["health_color"] == "yellow"


def test_the_orders(unmo, portfolio):
    assert slugs(unmo, "--sort", "created") == SLUGS
    # By name folded for case: "beta Shop" between "Acme Games" and "Cash Pay".
    assert slugs(unmo, "--sort", "name") == ["acme-games", "beta-shop", "cash-pay",
                                             "zebra-apps"]
    # The largest MRR first; equal MRR by slug.
    assert slugs(unmo, "--sort", "mrr") == ["cash-pay", "acme-games", "zebra-apps",
                                            "beta-shop"]
    # The soonest renewal first; those without one last.
    assert slugs(unmo, "--sort", "renewal") == ["cash-pay", "acme-games", "beta-shop",
                                                "zebra-apps"]
    assert slugs(unmo, "--sort", "mrr", "--tier", "enterprise") == ["cash-pay", "acme-games"]


def test_the_table_shows_health_when_asked(unmo, portfolio):
    ran = unmo("customer", "list", "--sort", "health", env={"UNMO_NOW": NOW, "COLUMNS": "150"})
    assert ran.exit_code == 0, ran.stderr
    assert "health" in ran.stdout and "72 yellow" in ran.stdout
    plain = unmo("customer", "list", env={"UNMO_NOW": NOW, "COLUMNS": "150"})
    assert "yellow" not in plain.stdout


@pytest.mark.parametrize(("args", "says"), [
    (("--mrr-min", "5000", "--mrr-max", "100"), "--mrr-min $5,000.00 is above --mrr-max"),
    (("--mrr-min", "abc"), "--mrr-min"),
    (("--mrr-max", "1.001"), "fractions of a cent"),
    (("--renewal-before", "2027-02-30"), "--renewal-before"),
    (("--renewal-before", "soon"), "--renewal-before"),
    (("--manager", "not-an-address"), "--manager"),
    (("--tier", "Gold Plus"), "--tier"),
    (("--health", "purple"), "--health"),
    (("--sort", "size"), "--sort"),
    (("--industry", "mining"), "--industry"),
])
def test_bad_values_are_exit_2_and_write_nothing(unmo, portfolio, unchanged, args, says):
    ran = unmo("customer", "list", *args, env={"UNMO_NOW": NOW})
    assert ran.exit_code == 2
    assert says in ran.stderr and "Traceback" not in ran.stderr
    unchanged()
