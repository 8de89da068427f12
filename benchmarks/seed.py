"""Large synthetic workspaces for the benchmarks, written fast: rows go straight to the database
driver (SQLite's executemany, PostgreSQL's COPY) instead of 100,000 `unmo` commands or ORM
objects: 100,000 customers and 2,000,000 feedback rows and health checks in minutes, on a loaded
machine (6 at a load average of 15).

    from seed import Dataset, generate
    generate(Dataset(customers=100_000, feedback=1_000_000, checks=1_000_000, alerts=2_000))

writes into the database of the current workspace (UNMO_WORKSPACE; UNMO_DATABASE_URL for
PostgreSQL), creating it through the project's own adapter (open_database: the real schema and
migrations). The data is deterministic (seeded): customers `customer-00001`…, created over the
400 days before END, 5 % churned; feedback and checks spread over the WEEKS weeks before END,
in time order (as they are recorded) or shuffled (a backfill); alerts over the same weeks."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

END = datetime(2026, 11, 18, 12, 0, 0)  # UNMO_NOW of the benchmarks: 2026-11-18T12:00:00Z
NOW = "2026-11-18T12:00:00Z"
CHUNK = 50_000


@dataclass(frozen=True)
class Dataset:
    customers: int
    feedback: int = 0
    checks: int = 0
    alerts: int = 0
    weeks: int = 13
    shuffled: bool = False
    seed: int = 46
    # MRR changes per customer (`customer set --mrr`), spread between its creation and its churn
    # (or END): the ledger the reports read grows to customers × (1 + mrr_changes) rows.
    mrr_changes: int = 0


def generate(dataset: Dataset) -> float:
    """Write `dataset` into the current workspace's database; the seconds it took."""
    from unmo_cli.db import open_database
    from unmo_cli.db.models import (
        Alert,
        Customer,
        Feedback,
        HealthCheck,
        MrrChange,
        OnboardingSession,
    )
    from unmo_cli.workspace import load_workspace

    rng = random.Random(dataset.seed)
    span = timedelta(weeks=dataset.weeks).total_seconds()
    start = END - timedelta(seconds=span)

    def recent() -> datetime:
        return END - timedelta(seconds=rng.random() * span)

    def in_order(total: int) -> Iterator[datetime]:
        """Timestamps in the order they are recorded; shuffled stores them in random order."""
        for k in range(total):
            yield recent() if dataset.shuffled else start + timedelta(
                seconds=(k + rng.random()) * span / total)

    db = open_database(load_workspace())
    started = time.perf_counter()
    try:
        people, changes, initial = [], [], []
        for n in range(1, dataset.customers + 1):
            created = END - timedelta(days=rng.random() * 400)
            churned = created + timedelta(days=rng.random() * 200) if rng.random() < 0.05 else None
            until = churned if churned and churned < END else END
            mrr = rng.randrange(50_000, 500_000)
            initial.append(mrr)
            for at in sorted(created + (until - created) * rng.random()
                             for _ in range(dataset.mrr_changes)):
                previous, mrr = mrr, rng.randrange(50_000, 500_000)
                if mrr != previous:
                    changes.append((n, "change", mrr, at, at))
            people.append((
                n, f"customer-{n:05d}", f"customer{n:05d}", f"Customer {n:05d}",
                rng.choice(["gaming", "ecommerce", "fintech", "other"]),
                rng.choice(["sdk", "s2s", "hybrid"]), "ios,android",
                rng.choice(["appsflyer", "adjust", "branch", "kochava", "none"]),
                rng.randrange(1_000, 200_000), mrr, "Ops",
                f"ops@customer-{n}.example",
                rng.choice(["discovery", "setup", "launch"]), created,
                churned if churned and churned < END else None))
        insert(db, Customer.__table__, (
            "id", "slug", "name_key", "name", "industry", "integration", "platforms", "provider",
            "events_per_day", "mrr_cents", "contact_name", "contact_email", "phase", "created_at",
            "churned_at"), people)
        insert(db, OnboardingSession.__table__, (
            "customer_id", "customer_name", "mode", "outcome", "started_at", "finished_at",
            "duration_s"), [
            (row[0], row[3], "flags", "success" if rng.random() < 0.97 else "failed", row[13],
             row[13], round(rng.uniform(120, 600), 3)) for row in people])
        # The MRR ledger onboarding and `customer churn` write (migration 0008): the reports
        # read MRR and churn from it.
        insert(db, MrrChange.__table__, (
            "customer_id", "kind", "mrr_cents", "effective_at", "recorded_at"),
            [(row[0], "start", first, row[13], row[13])
             for row, first in zip(people, initial, strict=True)]
            + changes
            + [(row[0], "churn", 0, row[14], row[14]) for row in people if row[14]])
        del people, changes, initial
        customers = dataset.customers
        if dataset.alerts:
            insert(db, Alert.__table__, (
                "customer_id", "rule", "text", "score", "created_at", "attempts"),
                sorted(((rng.randrange(1, customers + 1), "low_satisfaction",
                         "satisfaction below 7", 5.0, recent(), 0)
                        for _ in range(dataset.alerts)), key=lambda row: row[4]))
        received = in_order(dataset.feedback)
        insert(db, Feedback.__table__, (
            "customer_id", "received_at", "satisfaction", "nps", "category", "source"),
            ((rng.randrange(1, customers + 1), next(received), rng.randrange(1, 11),
              rng.randrange(0, 11) if rng.random() < 0.8 else None, "other", "import")
             for _ in range(dataset.feedback)))
        checked = in_order(dataset.checks)
        statuses, weights = ["healthy", "degraded", "down", "unauthorized"], [
            0.95, 0.03, 0.015, 0.005]
        insert(db, HealthCheck.__table__, (
            "customer_id", "checked_at", "status", "http_status", "latency_ms"),
            ((rng.randrange(1, customers + 1), next(checked),
              rng.choices(statuses, weights)[0], 200,
              round(rng.lognormvariate(4, 0.4), 1)) for _ in range(dataset.checks)))
        analyze(db)
    finally:
        db.dispose()
    return time.perf_counter() - started


def clear() -> None:
    """Empty every table `generate` writes, in the current workspace's database (a benchmark that
    measures several sizes on one PostgreSQL database starts each from nothing)."""
    from unmo_cli.db import open_database
    from unmo_cli.db.models import (
        Alert,
        Customer,
        Feedback,
        HealthCheck,
        MrrChange,
        OnboardingSession,
    )
    from unmo_cli.workspace import load_workspace

    db = open_database(load_workspace())
    try:
        with db.engine.begin() as connection:
            for model in (Alert, Feedback, HealthCheck, OnboardingSession, MrrChange, Customer):
                connection.execute(model.__table__.delete())
    finally:
        db.dispose()


def insert(db: Any, table: Any, columns: Sequence[str], rows: Iterable[tuple]) -> None:
    """Rows (tuples in `columns` order) into `table`, through the driver: executemany on SQLite
    (timestamps in SQLAlchemy's stored text form), COPY on PostgreSQL; chunks of CHUNK rows, one
    transaction each. A table whose ids were given has its PostgreSQL sequence moved past them."""
    names = ", ".join(columns)
    stamps = [i for i, name in enumerate(columns) if name.endswith("_at")]
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        chunk: list[tuple] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= CHUNK:
                _write(db.dialect, cursor, table.name, names, columns, stamps, chunk)
                connection.commit()
                chunk = []
        if chunk:
            _write(db.dialect, cursor, table.name, names, columns, stamps, chunk)
        if db.dialect == "postgresql" and "id" in columns:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                           f"(SELECT max(id) FROM {table.name}))")
        connection.commit()
    finally:
        connection.close()


def _write(dialect: str, cursor: Any, table: str, names: str, columns: Sequence[str],
           stamps: list[int], chunk: list[tuple]) -> None:
    if dialect == "postgresql":
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in chunk:
                copy.write_row(row)
        return
    if stamps:  # SQLAlchemy's SQLite DateTime stores 'YYYY-MM-DD HH:MM:SS.ffffff'
        chunk = [tuple(_stamp(value) if i in stamps else value for i, value in enumerate(row))
                 for row in chunk]
    marks = ", ".join("?" for _ in columns)
    cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", chunk)


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(" ", "microseconds")


def analyze(db: Any) -> None:
    """Fresh planner statistics, as a real workspace's database has them."""
    if db.dialect == "sqlite":
        with db.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    elif db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")


def describe(dataset: Dataset) -> str:
    parts = [f"{dataset.customers:,} customers"]
    parts += [f"{count:,} {noun}" for count, noun in (
        (dataset.feedback, "feedback rows"), (dataset.checks, "health checks"),
        (dataset.alerts, "alerts")) if count]
    return ", ".join(parts)
