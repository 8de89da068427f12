"""The survey server's per-address rate limit keeps no more than the last minute's addresses:
a stream of answers from ever new addresses (IPv6 gives an attacker as many as it wants) must
not grow its memory, nor make every answer scan all the addresses it ever saw."""

from __future__ import annotations

from unmo_cli import survey_server  # needs the survey extra, which the test extra includes


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_addresses_idle_for_a_minute_are_forgotten(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(survey_server.time, "monotonic", clock)
    monkeypatch.setattr(survey_server.RateLimit, "SWEEP_AT", 1_000)
    limit = survey_server.RateLimit(per_minute=2)
    for n in range(20_000):
        clock.now += 0.01  # 100 new addresses a second: 6,000 within any minute
        assert limit.allow(f"2001:db8::{n:x}")
    assert len(limit.seen) <= 2 * 6_000 + 1
    assert limit.sweep_at <= 2 * 6_001 + 1


def test_the_limit_still_holds_for_an_address_across_sweeps(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(survey_server.time, "monotonic", clock)
    monkeypatch.setattr(survey_server.RateLimit, "SWEEP_AT", 10)
    limit = survey_server.RateLimit(per_minute=3)
    answers = []
    for n in range(200):
        clock.now += 0.1
        answers.append(limit.allow("192.0.2.7"))
        limit.allow(f"198.51.100.{n % 250}")  # others come and go, and sweeps run
    # 20 s of one answer every 0.1 s: three let through, every later one refused (no minute passed)
    assert answers[:3] == [True, True, True]
    assert not any(answers[3:])
    clock.now += 61
    assert limit.allow("192.0.2.7")
