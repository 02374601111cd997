"""``nudge_uplift`` against the real ClickHouse: rates, uplift and Newcombe's interval checked
against an independent computation over the same exposures and conversions."""

import math
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from channelhub.marketing.uplift import uplift
from channelhub.platform.env import settings_env
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from schemas.nudges import Conversion, DecidedNudge, Decision, NudgeRequest
from sinks import migrations
from sinks.client import connect
from sinks.tables import nudge_conversions, nudge_decisions

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
Z = 1.959963984540054


def _wilson(successes: int, n: int) -> tuple[float, float]:
    p = successes / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return centre - half, centre + half


def _newcombe(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float, float]:
    p1, p2 = x1 / n1, x2 / n2
    (l1, u1), (l2, u2) = _wilson(x1, n1), _wilson(x2, n2)
    d = p1 - p2
    return d, d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)


def _decided(rule: str, i: int, outcome: str, reason: str | None, at: datetime) -> DecidedNudge:
    request = NudgeRequest(
        nudge_id=f"{rule}-{i}", rule_id=rule, trigger_event_id=f"t{i}",
        msisdn=f"1380000{i:04d}", prefecture="changsha", brand="mzone", text="hi",
        goal="uses_self_service:query.monthly_bill:72h", requested_at=T0, send_at=T0,
    )  # fmt: skip
    decision = Decision(nudge_id=request.nudge_id, outcome=outcome,  # type: ignore[arg-type]
                        reason=reason, decided_at=at)  # fmt: skip
    return DecidedNudge(request=request, decision=decision)


def test_uplift_matches_an_independent_newcombe_interval(
    settings: Settings, clickhouse_db: str
) -> None:
    migrations.migrate(settings)
    client = connect(settings)
    pz = Pseudonymizer(b"k")
    decisions: list[DecidedNudge] = []
    conversions: list[Conversion] = []
    plan = {"rule.a": (200, 60, 100, 10), "rule.b": (50, 5, 0, 0)}
    for rule, (n_sent, x_sent, n_hold, x_hold) in plan.items():
        for i in range(n_sent + n_hold):
            sent = i < n_sent
            at = T0 + timedelta(minutes=i)
            if sent:  # held first, then approved: only the approval is an exposure
                decisions.append(_decided(rule, i, "held", "not_due", at - timedelta(minutes=1)))
            d = _decided(rule, i, "approved" if sent else "holdout", None if sent else "holdout",
                         at)  # fmt: skip
            decisions.append(d)
            if (sent and i < x_sent) or (not sent and i - n_sent < x_hold):
                conversions.append(Conversion(
                    nudge_id=d.request.nudge_id, rule_id=rule, msisdn=d.request.msisdn,
                    group="sent" if sent else "holdout", goal=d.request.goal, exposed_at=at,
                    converted_at=at + timedelta(hours=2), event_id=f"e{i}",
                ))  # fmt: skip
    decisions += decisions[:30]  # a replayed stretch: duplicate rows must not count twice
    now = datetime.now(UTC).replace(microsecond=0)
    for table, records in ((nudge_decisions, decisions), (nudge_conversions, conversions)):
        rows = [
            table.TABLE.row(r, partition=0, offset=o, ingested_at=now, pseudonymize=pz)[1]
            for o, r in enumerate(records)
        ]
        client.execute(table.TABLE.insert.format(db=clickhouse_db), rows)

    got = {
        r[0]: r[1:]
        for r in client.execute(
            f"SELECT rule_id, n_sent, conv_sent, n_holdout, conv_holdout, uplift, ci_low, ci_high"
            f" FROM {clickhouse_db}.nudge_uplift"
        )
    }
    n_sent, x_sent, n_hold, x_hold, difference, low, high = got["rule.a"]
    assert (n_sent, x_sent, n_hold, x_hold) == plan["rule.a"]
    expected = _newcombe(60, 200, 10, 100)
    assert (difference, low, high) == pytest.approx(expected, abs=1e-9)
    assert low < 0.2 < high  # 30% against 10%
    assert got["rule.b"][:4] == plan["rule.b"]
    assert math.isnan(got["rule.b"][5])  # no holdout yet: no interval

    typed = {u.rule_id: u for u in uplift(client, clickhouse_db)}
    assert (typed["rule.a"].uplift, typed["rule.a"].ci_low) == pytest.approx(expected[:2])
    assert typed["rule.b"].ci_low is None
    report = subprocess.run(
        [sys.executable, "-m", "channelhub.cli", "uplift"],
        env={**os.environ, **settings_env(settings)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert "rule.a  sent 60/200 converted, holdout 10/100; uplift +20.0% (95% CI" in report.stdout
    assert "rule.b  sent 5/50 converted, holdout 0/0; uplift no interval yet" in report.stdout
