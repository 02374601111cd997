"""``channelhub dlq redrive`` on the real services: what a fix accepts lands once, no more.

The dead letters are those a validator that did not know ``ivr.queue_entered`` version 2 wrote
(the release before the upcaster): they are put on the dead-letter topic as it wrote them.
The validate stage and the sink run as real processes, with today's code.
"""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from clickhouse_driver import Client

from channelhub.ingest.producer import Producer
from channelhub.platform.env import settings_env
from channelhub.platform.health import tcp_open
from kernel.settings import Settings
from schemas import Rejection
from schemas.dead_letter import dead_letter
from sinks import migrations
from sinks.client import connect
from tests.factories import encode, make_event
from tests.fixtures.services import StartService, Topics
from tests.fixtures.waiting import wait_for, wait_until_drained

pytestmark = pytest.mark.integration

OLD_RELEASE = Rejection("invalid_value", "$.schema_version", "Invalid enum value 2")


def _v2(received: datetime, **overrides: Any) -> dict[str, Any]:
    event = make_event(
        "ivr.queue_entered",
        occurred_at=(received - timedelta(seconds=1)).isoformat(timespec="milliseconds"),
        schema_version=2,
        **overrides,
    )
    attributes = event["attributes"]
    event["attributes"] = {
        "queue": {"name": attributes["queue"], "position": attributes["position"]},
        "busy_period": attributes["busy_period"],
    }
    return event


class Letters:
    """Dead letters produced to the dead-letter topic, numbered like raw-topic offsets."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.records: list[tuple[bytes, bytes]] = []

    def add(self, raw: bytes, rejection: Rejection, received: datetime) -> bytes:
        letter = dead_letter(
            raw,
            rejection,
            source_topic=self.settings.topic_raw,
            source_partition=0,
            source_offset=len(self.records),
            received_at=received,
        )
        value = msgspec.json.encode(letter)
        self.records.append((letter.dead_letter_id.encode(), value))
        return value

    def produce(self) -> None:
        with Producer(self.settings.kafka_bootstrap, self.settings.topic_dlq) as producer:
            for key, value in self.records:
                producer.send(key, value)


def _redrive(settings: Settings, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "channelhub.cli", "dlq", "redrive", *args],
        env={**os.environ, **settings_env(settings)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert "reading" in result.stderr  # progress goes to stderr, the summary to stdout
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _stored(client: Client) -> dict[str, Any]:
    ((rows, ids, versions),) = client.execute(
        "SELECT count(), uniqExact(event_id), groupUniqArray(schema_version) FROM events"
    )
    ((per_minute,),) = client.execute("SELECT sum(events) FROM events_per_minute")
    ((letters,),) = client.execute("SELECT uniqExact(dead_letter_id) FROM dead_letters")
    return {
        "rows": rows, "ids": ids, "versions": sorted(versions),
        "per_minute": per_minute or 0, "letters": letters,
    }  # fmt: skip


def test_redrive_lands_what_the_fix_accepts_exactly_once(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    migrations.migrate(settings)
    start_service(
        "validate", "streams", settings, "--stage", "validate",
        health=tcp_open("127.0.0.1", settings.worker_web_port), timeout=120,
    )  # fmt: skip
    start_service("sink", "sinks", settings)
    client = connect(settings)

    window = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    letters = Letters(settings)
    fixed: list[dict[str, Any]] = []
    for i in range(40):  # version 2, refused by the old release: the fix accepts them
        event = _v2(window + timedelta(seconds=i))
        fixed.append(event)
        letters.add(encode(event), OLD_RELEASE, window + timedelta(seconds=i))
    letters.records.append(letters.records[0])  # the old validator re-produced its tail
    letters.add(encode(fixed[5]), OLD_RELEASE, window + timedelta(minutes=5))  # sent twice
    for i in range(5):  # version 2 but broken: still refused, with today's reason
        broken = _v2(window + timedelta(seconds=i))
        broken["attributes"]["queue"]["position"] = -1
        letters.add(encode(broken), OLD_RELEASE, window + timedelta(seconds=i))
    not_utf8 = encode(_v2(window)).replace(b'"general"', b'"gen\xffral"')
    letters.add(not_utf8, OLD_RELEASE, window)  # stored with U+FFFD: not the sent bytes
    for i in range(6):  # another reason: not selected
        missing = make_event("ivr.abandoned", occurred_at=window.isoformat())
        del missing["session_id"]
        letters.add(
            encode(missing),
            Rejection("missing_field", "$.session_id", "required field 'session_id' is missing"),
            window + timedelta(seconds=i),
        )
    for i in range(4):  # the same reason, received before the window: not selected
        before = window - timedelta(minutes=10 + i)
        letters.add(encode(_v2(before)), OLD_RELEASE, before)
    letters.produce()
    distinct_letters = len(set(letters.records))
    wait_for(
        lambda: _stored(client)["letters"] == distinct_letters,
        f"{distinct_letters} dead letters in ClickHouse",
        timeout=120,
    )

    since = window.isoformat()
    until = (window + timedelta(hours=1)).isoformat()
    args = ("--reason", "invalid_value", "--reason", "unknown_field", "--since", since,
            "--until", until)  # fmt: skip
    summary = _redrive(settings, *args)
    assert summary == {
        "examined": len(letters.records),
        "unreadable": 0,
        "matched": 40 + 1 + 5 + 1,
        "not_replayable": 1,
        "now_valid": 41,
        "already_landed": 1,  # fixed[5] had two letters
        "produced": 40,
        "still_invalid": {"invalid_value": 5},
    }

    drained = [
        (f"{settings.group_prefix}-validate", [topics.raw]),
        (f"{settings.group_prefix}-sink", [topics.events, topics.dlq]),
    ]
    wait_for(lambda: _stored(client)["ids"] == 40, "the 40 redriven events in ClickHouse")
    wait_until_drained(settings.kafka_bootstrap, drained)
    stored = _stored(client)
    assert stored == {
        "rows": 40, "ids": 40, "versions": [1], "per_minute": 40, "letters": distinct_letters,
    }  # fmt: skip
    landed = dict(client.execute("SELECT event_id, attributes FROM events"))
    assert set(landed) == {e["event_id"] for e in fixed}
    for event in fixed:
        assert json.loads(landed[event["event_id"]]) == {
            "queue": event["attributes"]["queue"]["name"],
            "position": event["attributes"]["queue"]["position"],
            "busy_period": event["attributes"]["busy_period"],
        }

    again = _redrive(settings, *args)
    assert again["now_valid"] == 41
    assert (again["produced"], again["already_landed"]) == (0, 41)
    wait_until_drained(settings.kafka_bootstrap, drained)
    assert _stored(client) == stored

    dry = _redrive(settings, "--since", since, "--dry-run")
    assert dry["matched"] == 47 + 6
    assert dry["produced"] == 0
    assert dry["still_invalid"] == {"invalid_value": 5, "missing_field": 6}
