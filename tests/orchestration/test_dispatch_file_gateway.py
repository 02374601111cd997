"""The demo gateway: one JSON line per nudge, idempotent across restarts, instant receipts."""

import asyncio
import json
from pathlib import Path

from orchestration.dispatch import DeliveryReceipt, FileGateway, GatewayReport, OutboundSms

LONG = OutboundSms(nudge_id="n-long", msisdn="13800000001", text="余" * 150)
SHORT = OutboundSms(nudge_id="n-short", msisdn="13900000002", text="Reply 1 to confirm")


def test_appends_one_line_per_nudge_and_reports_delivery(tmp_path: Path) -> None:
    outbox = tmp_path / "sms" / "outbox.jsonl"
    reports: list[GatewayReport] = []
    gateway = FileGateway(outbox, on_report=reports.append)

    async def scenario() -> None:
        await gateway.send(LONG)
        await gateway.send(SHORT)
        await gateway.send(LONG)

    asyncio.run(scenario())
    lines = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert [(line["nudge_id"], line["segments"], line["data_coding"]) for line in lines] == [
        ("n-long", 3, 8),
        ("n-short", 1, 0),
    ]
    assert lines[0]["text"] == LONG.text
    assert [(r.nudge_id, r.status) for r in reports if isinstance(r, DeliveryReceipt)] == [
        ("n-long", "delivered")
    ] * 3 + [("n-short", "delivered")]


def test_a_new_gateway_on_the_same_file_does_not_resend(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    first = asyncio.run(FileGateway(outbox).send(LONG))
    again = asyncio.run(FileGateway(outbox).send(LONG))
    assert again == first
    assert len(outbox.read_text().splitlines()) == 1
