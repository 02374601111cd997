"""The nudge funnel against the real ClickHouse: a known history of one rule's nudges, each
stage checked against a count made here from the same records."""

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dashboards.queries.marketing import funnel, sources
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from schemas.nudges import (
    Conversion,
    DecidedNudge,
    Decision,
    DeliveryReceipt,
    DeliveryStatus,
    Dispatch,
    DispatchStatus,
    Group,
    NudgeRequest,
)
from sinks import migrations
from sinks.client import connect
from sinks.tables import (
    nudge_conversions,
    nudge_decisions,
    nudge_dispatches,
    nudge_receipts,
    nudge_requests,
)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
RULE = "campaign:spring"
FATES = ["approved"] * 6 + ["holdout"] * 2 + ["held"] + ["opted_out", "frequency_cap_day"]


def _history(rng: random.Random) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Records of 200 nudges (two rules, some outside the range) and what the funnel of
    ``RULE`` in ``[T0, T0 + 1 day)`` must say, counted as they are made."""
    records: dict[str, list[Any]] = {t: [] for t in ("req", "dec", "dis", "rec", "conv")}
    want: Counter[str] = Counter()
    suppressed: Counter[str] = Counter()
    versions: Counter[int] = Counter()
    for i in range(200):
        rule = RULE if i % 4 else "ivr.long_agent_wait"
        at = T0 + timedelta(minutes=10 * i) - timedelta(hours=2)  # some before the range
        counted = rule == RULE and T0 <= at < T0 + timedelta(days=1)
        request = NudgeRequest(
            nudge_id=f"n{i:04d}", rule_id=rule, campaign_id="spring" if rule == RULE else None,
            trigger_event_id=f"t{i}", msisdn=f"1380000{i:04d}", prefecture="changsha",
            brand="mzone", text="【湖南移动】回复TD退订", goal="uses_self_service:any:72h",
            requested_at=at, send_at=at, template_version=(i % 3) or None,
        )  # fmt: skip
        records["req"].append(request)
        want["requested"] += counted
        fate = rng.choice(FATES)
        outcome = fate if fate in ("approved", "holdout", "held") else "suppressed"
        reason = None if fate == "approved" else fate  # holdout's reason is "holdout" too
        if outcome != "held" and rng.random() < 0.5:  # held first, decided later
            records["dec"].append(_decided(request, "held", "quiet_hours", at))
        decided = at + timedelta(minutes=1)
        records["dec"].append(_decided(request, outcome, reason, decided))
        if outcome == "approved" and rng.random() < 0.3:  # a replay's echo: not a fate
            records["dec"].append(_decided(request, "suppressed", "duplicate", decided))
        if counted:
            want[outcome] += 1
            if outcome == "suppressed":
                suppressed[fate] += 1
        if outcome == "approved":
            status: DispatchStatus = "failed" if rng.random() < 0.1 else "sent"
            parts = rng.choice([1, 1, 2, 3])
            ids = tuple(f"{request.nudge_id}.{p}" for p in range(parts)) if status == "sent" else ()
            records["dis"].append(Dispatch(
                nudge_id=request.nudge_id, rule_id=rule, msisdn=request.msisdn, text="x",
                goal=request.goal, status=status, gateway="file", message_ids=ids,
                segments=parts, approved_at=decided, dispatched_at=decided,
            ))  # fmt: skip
            want[status] += counted
            versions[request.template_version or 0] += counted and status == "sent"
            delivered = [m for m in ids if rng.random() < 0.8]
            for m in ids:
                status_of: DeliveryStatus = "delivered" if m in delivered else "failed"
                records["rec"].append(DeliveryReceipt(
                    gateway="file", message_id=m, nudge_id=None if rng.random() < 0.3
                    else request.nudge_id, status=status_of, at=decided,
                ))  # fmt: skip
            want["delivered"] += counted and bool(ids) and len(delivered) == len(ids)
        if outcome in ("approved", "holdout") and rng.random() < 0.4:
            arm: Group = "sent" if outcome == "approved" else "holdout"
            records["conv"].append(Conversion(
                nudge_id=request.nudge_id, rule_id=rule, msisdn=request.msisdn, group=arm,
                goal=request.goal, exposed_at=decided, converted_at=decided, event_id=f"e{i}",
            ))  # fmt: skip
            want[f"converted_{arm}"] += counted
    return records, {**want, "suppressed": dict(suppressed), "versions": +versions}


def _decided(request: NudgeRequest, outcome: str, reason: str | None, at: datetime) -> Any:
    decision = Decision(nudge_id=request.nudge_id, outcome=outcome,  # type: ignore[arg-type]
                        reason=reason, decided_at=at)  # fmt: skip
    return DecidedNudge(request=request, decision=decision)


def test_every_stage_of_the_funnel_matches_a_count_of_the_records(
    settings: Settings, clickhouse_db: str
) -> None:
    migrations.migrate(settings)
    records, want = _history(random.Random(4))
    client = connect(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    pz = Pseudonymizer(b"k")
    tables = {"req": nudge_requests, "dec": nudge_decisions, "dis": nudge_dispatches,
              "rec": nudge_receipts, "conv": nudge_conversions}  # fmt: skip
    for key, table in tables.items():
        rows = [table.TABLE.row(r, partition=0, offset=o, ingested_at=now, pseudonymize=pz)[1]
                for o, r in enumerate(records[key])]  # fmt: skip
        client.execute(table.TABLE.insert.format(db=clickhouse_db), rows)

    got = funnel(client, RULE, T0, T0 + timedelta(days=1))
    assert got.requested == want["requested"] > 50
    assert (got.approved, got.holdout, got.held) == (want["approved"], want["holdout"],
                                                    want["held"])  # fmt: skip
    assert got.suppressed == want["suppressed"]
    assert "duplicate" not in got.suppressed
    assert (got.sent, got.failed, got.delivered) == (want["sent"], want["failed"],
                                                    want["delivered"])  # fmt: skip
    assert got.delivered < got.sent  # some long SMS missed a part's receipt
    assert (got.converted_sent, got.converted_holdout) == (
        want["converted_sent"], want["converted_holdout"]
    )  # fmt: skip
    assert got.sent_versions == want["versions"]
    assert set(got.sent_versions) == {0, 1, 2}  # before publishing, then two versions
    assert sources(client) == ["campaign:spring", "ivr.long_agent_wait"]
    empty = funnel(client, RULE, T0 - timedelta(days=9), T0 - timedelta(days=8))
    assert (empty.requested, empty.sent, empty.suppressed) == (0, 0, {})


@pytest.mark.parametrize("later_first", [False, True])
def test_a_nudge_decided_twice_at_one_instant_has_the_later_decision_as_its_fate(
    settings: Settings, clickhouse_db: str, later_first: bool
) -> None:
    """Two decisions of one millisecond, in separate parts inserted in either order: the one
    at the later offset of ``nudges.decisions`` is the fate, whichever part is read first."""
    migrations.migrate(settings)
    at = T0 + timedelta(hours=1)
    request = NudgeRequest(
        nudge_id="tie", rule_id=RULE, campaign_id="spring", trigger_event_id="t", msisdn=
        "13800000001", prefecture="changsha", brand="mzone", text="x", goal="g", requested_at=
        at, send_at=at, template_version=None,
    )  # fmt: skip
    client = connect(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    pz = Pseudonymizer(b"k")
    asked = nudge_requests.TABLE.row(request, partition=0, offset=0, ingested_at=now,
                                     pseudonymize=pz)[1]  # fmt: skip
    client.execute(nudge_requests.TABLE.insert.format(db=clickhouse_db), [asked])
    decided = [
        (7, _decided(request, "approved", None, at)),
        (8, _decided(request, "suppressed", "budget_exhausted", at)),
    ]
    for offset, record in reversed(decided) if later_first else decided:
        row = nudge_decisions.TABLE.row(record, partition=3, offset=offset, ingested_at=now,
                                        pseudonymize=pz)[1]  # fmt: skip
        client.execute(nudge_decisions.TABLE.insert.format(db=clickhouse_db), [row])
    got = funnel(client, RULE, T0, T0 + timedelta(days=1))
    assert (got.requested, got.approved, got.suppressed) == (1, 0, {"budget_exhausted": 1})
