"""The dispatcher SIGKILLed mid-run, three times, against a real SMSC: no SMS part goes out twice,
and every nudge ends with exactly one dispatch outcome.

Real processes: the Tansu broker, the test SMSC (npm ``smpp``) and ``python -m streams
--stage dispatch``, killed by its PID and started again on the same state dir (its send
journal). The test waits for the dispatcher group to have committed every record of
``nudges.outbound`` before it reads what reached the SMSC, so "nothing more arrives" is a
fact, not a sleep.
"""

import os
import signal
from collections import Counter, defaultdict
from pathlib import Path

import msgspec
import pytest
from kafka import KafkaProducer

from channelhub.platform.health import tcp_open
from kernel.settings import Settings
from orchestration.dispatch.gateway import UNKNOWN_AFTER_CRASH, UNKNOWN_AFTER_LOST_ANSWER
from schemas.nudges import DecidedNudge, Dispatch
from tests.dispatch.nudges import approved
from tests.dispatch.records import dispatches, part
from tests.fixtures.services import StartService, Topics, free_port, start_process
from tests.fixtures.waiting import group_lag, wait_for
from tests.orchestration.smpp_server import smsc_spec, submits

pytestmark = pytest.mark.integration

NUDGES = 1200
LONG = "尊敬的客户 " + "您本月的话费账单已出 详情请登录网上营业厅查询 " * 4  # two UCS-2 parts
KILL_AT = (0.15, 0.4, 0.65)
"""Kill when this share of the SMS parts has reached the SMSC."""


def _produce(settings: Settings, nudges: list[DecidedNudge]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    for nudge in nudges:
        value = msgspec.json.encode(nudge)
        producer.send(settings.topic_nudges_outbound, value, key=nudge.request.msisdn.encode())
    producer.flush()
    producer.close()


def test_sigkill_three_times_mid_run_sends_no_part_twice_and_settles_every_nudge(
    settings: Settings, topics: Topics, start_service: StartService, tmp_path: Path
) -> None:
    port, log = free_port(), tmp_path / "smsc" / "submits.jsonl"
    smsc = start_process(smsc_spec(port, log), tmp_path / "smsc")
    try:
        s = settings.model_copy(
            update={
                "sms_gateway": "smpp", "sms_smpp_port": port, "dispatcher_web_port": free_port(),
                "dispatch_concurrency": 8,
            }
        )  # fmt: skip
        nudges = [approved(i, text=LONG if i % 3 == 0 else "") for i in range(NUDGES)]
        parts = NUDGES + len(range(0, NUDGES, 3))
        _produce(s, nudges)
        dispatcher = start_service(
            "dispatcher", "streams", s, "--stage", "dispatch",
            health=tcp_open("127.0.0.1", s.dispatcher_web_port), timeout=120,
        )  # fmt: skip
        for share in KILL_AT:
            wait_for(lambda: len(submits(log)) >= share * parts, f"{share:.0%} of the parts")  # noqa: B023
            assert dispatcher.pid is not None
            os.kill(dispatcher.pid, signal.SIGKILL)
            assert dispatcher.wait(timeout=10) == -signal.SIGKILL
            assert len(submits(log)) < parts, "the dispatcher finished before it was killed"
            dispatcher.start()
            dispatcher.wait_healthy()
        group, outbound = f"{s.group_prefix}-dispatch", [s.topic_nudges_outbound]
        wait_for(
            lambda: group_lag(s.kafka_bootstrap, group, outbound) == 0,
            "the dispatcher to commit every nudge",
            timeout=60,
        )
    finally:
        smsc.stop()

    submitted = submits(log)
    by_number: dict[str, dict[int, str]] = defaultdict(dict)
    for submit in submitted:
        by_number[submit["destination_addr"]][part(submit)] = submit["message_id"]
    twice = {
        key: n
        for key, n in Counter((sm["destination_addr"], part(sm)) for sm in submitted).items()
        if n > 1
    }
    assert not twice, f"parts submitted more than once: {twice}"

    records = dispatches(s)
    outcomes: dict[str, set[Dispatch]] = defaultdict(set)
    for record in records:
        outcomes[record.nudge_id].add(record)
    assert set(outcomes) == {n.request.nudge_id for n in nudges}
    assert {nudge_id for nudge_id, o in outcomes.items() if len(o) > 1} == set()

    unknown = 0
    for nudge in nudges:
        [dispatch] = outcomes[nudge.request.nudge_id]
        taken = by_number.get(nudge.request.msisdn, {})
        in_order = tuple(taken[part] for part in sorted(taken))
        if dispatch.status == "sent":
            assert in_order, f"{nudge.request.nudge_id} is sent but reached no SMSC"
            assert dispatch.message_ids == in_order
            assert dispatch.segments == len(in_order)
        else:
            unknown += 1
            assert (dispatch.error or "").split(":")[0] in (
                UNKNOWN_AFTER_CRASH,
                UNKNOWN_AFTER_LOST_ANSWER,
            )
            assert set(dispatch.message_ids) <= set(in_order)
    print(
        f"\n{NUDGES} nudges ({parts} SMS parts), {len(KILL_AT)} SIGKILLs: {len(submitted)} "
        f"parts reached the SMSC, none twice; {NUDGES - unknown} sent, {unknown} failed as "
        f"unknown after a crash; {len(records)} dispatch records, {len(records) - NUDGES} of "
        "them produced again from the journal"
    )
