"""Events for the deep-dive tests, kept as plain dicts the tests recompute every number from.

Two sources: the simulator (realistic traffic on every channel, with its own edge cases such as
SQL-looking and astral SMS texts) and :func:`event` for hand-made cases at chosen instants. Both
reach ClickHouse through the sink's own row builder, pseudonyms included, so the queries read
exactly what production writes; the tests' expectations use the clear MSISDNs instead, which is
an independent path to the same grouping.
"""

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from channelhub.simulator.engine import Engine, Scenario
from channelhub.simulator.run import RunOptions, plan
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from orchestration.call_summaries import close as close_calls
from orchestration.journey import LIVE_CALL_TIMEOUT_MS
from orchestration.sms_dialogues import close as close_dialogues
from schemas import Event as Canonical
from schemas import Rejection, validate
from schemas.dialogues import DIALOGUE_FOLLOW_MS
from sinks.client import connect
from sinks.tables import Table, contacts, events, ivr_calls, sms_dialogues
from streams.nudge_core import NudgeCore, Outputs
from streams.nudge_state import PartitionNudges
from streams.nudges import partition_policy

Event = dict[str, Any]
R = TypeVar("R")


def simulated(n: int, seed: int, start: datetime) -> list[Event]:
    """The first ``n`` valid events the simulator produces from ``start``."""
    scenario = Scenario(seed=seed, start_ms=int(start.timestamp() * 1000))
    produced = []
    for _, emitted in zip(range(n), Engine(scenario), strict=False):
        decoded = validate(emitted.payload)
        assert not isinstance(decoded, Rejection)
        produced.append(msgspec.to_builtins(decoded))
    return produced


def ending_now(n: int, seed: int) -> datetime:
    """Where ``n`` events of the simulator must start to end just before now, at any hour
    (the start its own ``--events`` run takes): later ones would be refused as ``in_future``."""
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    return datetime.fromtimestamp(
        plan(RunOptions(events=n, seed=seed), now_ms).start_ms / 1000, UTC
    )


def event(
    event_type: str,
    at: datetime,
    *,
    msisdn: str | None,
    session: str,
    attributes: dict[str, Any],
    prefecture: str = "changsha",
    brand: str | None = "gotone",
) -> Event:
    """One canonical event, as the validator would pass it on."""
    return {
        "event_type": event_type,
        "attributes": attributes,
        "event_id": str(uuid.uuid4()),
        "schema_version": 1,
        "channel": event_type.partition(".")[0],
        "occurred_at": at.astimezone(UTC).isoformat(timespec="milliseconds"),
        "msisdn": msisdn,
        "session_id": session,
        "prefecture": prefecture,
        "brand": brand if msisdn else None,
    }


def occurred(e: Event) -> datetime:
    return datetime.fromisoformat(e["occurred_at"])


def insert(settings: Settings, produced: Iterable[Event]) -> None:
    pseudonymize = Pseudonymizer.from_settings(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [
        events.TABLE.row(
            msgspec.json.decode(msgspec.json.encode(e), type=Canonical),
            partition=0,
            offset=i,
            ingested_at=now,
            pseudonymize=pseudonymize,
        )[1]
        for i, e in enumerate(produced)
    ]
    client = connect(settings)
    try:
        client.execute(events.TABLE.insert.format(db=settings.clickhouse_database), rows)
    finally:
        client.disconnect()


def insert_with_duplicates(settings: Settings, produced: list[Event]) -> None:
    """``produced`` in two parts, then every fifth event again: duplicates that slipped past
    the sink. Merges are stopped so the copies are really there when the queries run, which
    must count each event once all the same."""
    client = connect(settings)
    try:
        client.execute(f"SYSTEM STOP MERGES {settings.clickhouse_database}.events")
        half = len(produced) // 2
        for part in (produced[:half], produced[half:], produced[::5]):
            insert(settings, part)
        [(rows, distinct)] = client.execute("SELECT count(), uniqExact(event_id) FROM events")
        assert (rows, distinct) == (len(produced) + len(produced[::5]), len(produced))
    finally:
        client.disconnect()


def insert_contacts(settings: Settings, produced: Iterable[Event]) -> int:
    """Count the contacts of ``produced`` as the nudge stage does and insert them as the sink
    does; returns how many rows."""
    out, _ = _staged(settings, produced)
    return _insert_records(settings, contacts.TABLE, out.contacts)


def insert_calls(settings: Settings, produced: Iterable[Event]) -> int:
    """Summarise the IVR calls of ``produced`` as the nudge stage does, each call still open at
    the end closed as the stage's sweep closes it once it has been silent for the timeout, and
    insert them as the sink does; returns how many rows."""
    out, part = _staged(settings, produced)
    summaries = out.calls
    for msisdn, sub in part.subscribers.items():
        silent = sub.newest_ms + LIVE_CALL_TIMEOUT_MS + 1
        summaries += close_calls(sub.calls, msisdn, silent)[1]
    return _insert_records(settings, ivr_calls.TABLE, summaries)


def insert_dialogues(settings: Settings, produced: Iterable[Event]) -> int:
    """Summarise the SMS confirmation dialogues of ``produced`` as the nudge stage does, each
    dialogue still open at the end closed as the stage's sweep closes it once it has been
    silent for the follow window, and insert them as the sink does; returns how many rows."""
    out, part = _staged(settings, produced)
    summaries = out.dialogues
    for msisdn, sub in part.subscribers.items():
        silent = sub.newest_ms + DIALOGUE_FOLLOW_MS + 1
        summaries += close_dialogues(sub.dialogues, msisdn, silent)[1]
    return _insert_records(settings, sms_dialogues.TABLE, summaries)


def _staged(settings: Settings, produced: Iterable[Event]) -> tuple[Outputs, PartitionNudges]:
    """What the nudge stage publishes for ``produced``, and the state it ends in (one
    partition, no rules: each subscriber's contacts, calls and dialogues depend only on its own
    events)."""
    core = NudgeCore(rules=(), policy=partition_policy(settings))
    decoded = [msgspec.json.decode(msgspec.json.encode(e), type=Canonical) for e in produced]
    part = PartitionNudges()
    return core.process(part, enumerate(decoded)), part


def _insert_records(settings: Settings, table: Table[R], records: list[R]) -> int:
    """Insert ``records`` into ``table`` as the sink does; returns how many rows."""
    pseudonymize = Pseudonymizer.from_settings(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [
        table.row(r, partition=0, offset=i, ingested_at=now, pseudonymize=pseudonymize)[1]
        for i, r in enumerate(records)
    ]
    client = connect(settings)
    try:
        client.execute(table.insert.format(db=settings.clickhouse_database), rows)
    finally:
        client.disconnect()
    return len(rows)
