"""d. The broker restarts under a running pipeline (a broker of the test's own, on its port).

The local broker keeps everything in memory, so a restart loses every topic, record and
committed offset (the README says so). What must hold: the collector answers 503 while the
broker is gone and 200 again once it is back, by itself; every stage either reconnects or
exits, and one that exited is started again as ``channelhub up``'s supervisor would; and a
malformed record sent again after the restart, at the same offset as before, is a second
dead letter, not dropped as a duplicate of the first.
"""

from pathlib import Path

import httpx
import msgspec
import pytest

from channelhub.platform import broker as tansu
from channelhub.platform.broker import topic_names
from channelhub.platform.health import http_ok
from kernel.settings import Settings
from tests.factories import make_event
from tests.faults.pipeline import Pipeline, produce
from tests.fixtures.services import StartService, free_port, start_process
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.integration

MALFORMED = b'{"event_type": "ivr.abandoned", "note": "sent by a client that is not ours"}'


def _post(settings: Settings, events: list[dict[str, object]]) -> httpx.Response:
    return httpx.post(
        f"{settings.collector_url}/v1/events",
        content=msgspec.json.encode(events),
        headers={
            "Authorization": f"Bearer {settings.collector_token.get_secret_value()}",
            "Content-Type": "application/json",
        },
        timeout=30,
    )


def test_a_broker_restart_is_survived_and_no_dead_letter_is_lost(
    settings: Settings, clickhouse_db: str, start_service: StartService, tmp_path: Path
) -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    settings = settings.model_copy(update={"kafka_bootstrap": bootstrap})
    broker = start_process(tansu.spec(bootstrap), tmp_path / "broker")
    try:
        tansu.ensure_topics(bootstrap, topic_names(settings), settings.topic_partitions)
        start_service(
            "collector", "channelhub.ingest.collector", settings,
            health=http_ok(f"{settings.collector_url}/health"),
        )  # fmt: skip
        pipeline = Pipeline(settings, start_service)
        assert _post(settings, [make_event() for _ in range(100)]).status_code == 200
        produce(settings, [(None, MALFORMED)])
        before = pipeline.drain()
        assert (before.rows, before.dead_letters) == (100, 1)

        broker.stop()
        refused = _post(settings, [make_event()])
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"]

        broker.start()
        broker.wait_healthy()
        tansu.ensure_topics(bootstrap, topic_names(settings), settings.topic_partitions)
        batch = [make_event() for _ in range(100)]  # a client sends the same batch again
        wait_for(
            lambda: _post(settings, batch).status_code == 200,
            "the collector to accept events again by itself", timeout=90, every=1.0,
        )  # fmt: skip
        produce(settings, [(None, MALFORMED)])
        after = pipeline.drain()
        print("stages that exited after the broker restart and were started again:",
              pipeline.revived)  # fmt: skip
        assert (after.rows, after.distinct, after.per_minute) == (200, 200, 200)
        assert (after.dead_letters, after.distinct_dead_letters) == (2, 2)
    finally:
        broker.stop()
