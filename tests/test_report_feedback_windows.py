"""The weekly report's feedback per customer in its three windows (services/window_tallies.py:
one statement with a FILTER per window on PostgreSQL, summed segments on SQLite): the health
score's 30 days before the week's end, the same before its start (the week before's score) and
the week itself — a response at the first and the last instant of each, and one just outside;
through the real CLI, on SQLite and (in the PostgreSQL pass) on PostgreSQL.

UTC; NOW is Monday 7 December 2026, so the report's week is 2026-W49, [Nov 30, Dec 7). Its score
window is [Nov 7, Dec 7), the week before's [Oct 31, Nov 30) — which is also the score window of
the report of 2026-W48. A customer with no checks has the score of its feedback alone: a response
of satisfaction 10 and NPS 10 is 100 % and +100, the sentiment component and the score 100."""

from __future__ import annotations

from datetime import datetime

from support_health import make_customer

NOW = "2026-12-07T12:00:00Z"
CREATED = datetime(2026, 10, 1, 9, 0)

# slug: the instant (UTC) of its one response (10, 10) → (W49's score, its change since the
# week before, W49's responses, W48's score)
EDGES = {
    "oct30-last": ("2026-10-30T23:59:59.999999", None, None, 0, None),  # before every window
    "oct31-first": ("2026-10-31T00:00:00", None, None, 0, 100),  # the week before's score only
    "nov06-last": ("2026-11-06T23:59:59.999999", None, None, 0, 100),
    "nov07-first": ("2026-11-07T00:00:00", 100, 0, 0, 100),  # both scores
    "nov29-last": ("2026-11-29T23:59:59.999999", 100, 0, 0, 100),
    "nov30-first": ("2026-11-30T00:00:00", 100, None, 1, None),  # the week and its score
    "dec06-last": ("2026-12-06T23:59:59.999999", 100, None, 1, None),
    "dec07-first": ("2026-12-07T00:00:00", None, None, 0, None),  # after every window
}


def add_feedback(slug: str, answers: list[tuple[str, int, int | None]]) -> None:
    from sqlalchemy import select

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer, Feedback
    from unmo_cli.workspace import load_workspace

    db = open_database(load_workspace())
    try:
        with db.session() as session:
            customer_id = session.execute(select(Customer.id).where(Customer.slug == slug)).scalar()
            for received, satisfaction, nps in answers:
                session.add(Feedback(customer_id=customer_id,
                                     received_at=datetime.fromisoformat(received),
                                     satisfaction=satisfaction, nps=nps))
    finally:
        db.dispose()


def portfolio(unmo, *week: str) -> dict[str, dict]:
    ran = unmo("report", "weekly", *week, "--json", env={"UNMO_NOW": NOW})
    assert ran.exit_code == 0, ran.stderr
    return {row["slug"]: row for row in ran.json()["portfolio"]}


def test_a_response_at_each_edge_of_each_window(unmo, workspace):
    for slug, (received, *_expected) in EDGES.items():
        make_customer(slug, created_at=CREATED, write_env=False)
        add_feedback(slug, [(received, 10, 10)])
    rows, before = portfolio(unmo), portfolio(unmo, "--week", "2026-W48")
    assert {slug: (rows[slug]["health_score"], rows[slug]["health_score_change"],
                   rows[slug]["responses"], before[slug]["health_score"])
            for slug in EDGES} == {slug: tuple(expected)
                                   for slug, (_received, *expected) in EDGES.items()}
    # W48, [Nov 23, Nov 30), holds one of them.
    assert [slug for slug in EDGES if before[slug]["responses"]] == ["nov29-last"]


def test_the_counts_of_each_window_add_up_separately(unmo, workspace):
    """One customer's responses across the windows: each window counts its own, a response
    without an NPS answer counts for satisfaction only."""
    make_customer("mixed", created_at=CREATED, write_env=False)
    add_feedback("mixed", [
        ("2026-11-01T12:00:00", 2, 0),  # the week before's score window only
        ("2026-11-20T12:00:00", 10, None),  # both score windows
        ("2026-12-01T12:00:00", 6, 9),  # the week (and its score window) from here on
        ("2026-12-02T12:00:00", 10, 6),
        ("2026-12-03T12:00:00", 8, None),
        ("2026-12-04T12:00:00", 3, 10),
    ])
    row = portfolio(unmo)["mixed"]
    # The week: 4 responses, (6 + 10 + 8 + 3) / 4 × 10 = 67.5 %; NPS of 9, 6 and 10:
    # 100 × (2 − 1) / 3 → 33.
    assert (row["responses"], row["satisfaction_pct"], row["nps"]) == (4, 67.5, 33)
    # Scores (default targets: satisfaction 90 %, NPS 50): now, 5 responses, 37 / 5 × 10 = 74 %
    # → 100 × 74 / 90 = 82.2, NPS 33 → 100 × 133 / 150 = 88.7: (82.2 + 88.7) / 2 = 85.4 → 85.
    # Before, 2 responses, 12 / 2 × 10 = 60 % → 66.7, NPS of one 0: −100 → 0: 33.3 → 33.
    assert (row["health_score"], row["health_score_change"]) == (85, 85 - 33)
    week_before = portfolio(unmo, "--week", "2026-W48")["mixed"]
    assert (week_before["responses"], week_before["health_score"]) == (0, 33)
