"""Rows of ``nudge_dispatches`` and ``nudge_receipts``: ids, pseudonyms, event-time partitions."""

from datetime import UTC, datetime

from kernel.pseudonym import Pseudonymizer
from orchestration.dispatch import DeliveryReceipt
from schemas.nudges import Dispatch
from sinks.tables import nudge_dispatches, nudge_receipts
from tests.dispatch.nudges import APPROVED_AT, msisdn

PSEUDONYMIZE = Pseudonymizer(b"test-key")
INGESTED = datetime(2026, 3, 2, 12, tzinfo=UTC)
AT = datetime(2026, 3, 2, 9, 31, 5, 250000, tzinfo=UTC)


def test_dispatch_row_is_keyed_by_nudge_and_never_holds_the_number() -> None:
    sent = Dispatch(
        nudge_id="n-1", rule_id="satisfaction_survey", msisdn=msisdn(1),
        text=f"回复TD退订 {msisdn(7)}", goal="survey_reply", status="sent", gateway="file",
        message_ids=("n-1.1", "n-1.2"), segments=2, approved_at=APPROVED_AT, dispatched_at=AT,
    )  # fmt: skip
    key, row = nudge_dispatches.TABLE.row(
        sent, partition=3, offset=9, ingested_at=INGESTED,
        pseudonymize=PSEUDONYMIZE,
    )  # fmt: skip
    values = dict(zip(nudge_dispatches.COLUMNS, row, strict=True))
    assert key == "n-1"
    assert msisdn(1) not in repr(row)
    assert msisdn(7) not in repr(row)
    assert values["subscriber"] == PSEUDONYMIZE(msisdn(1))
    assert (values["status"], values["message_ids"], values["segments"]) == (
        "sent",
        ["n-1.1", "n-1.2"],
        2,
    )
    assert (values["campaign_id"], values["error"]) == ("", "")
    assert (values["approved_at"], values["dispatched_ms"]) == (APPROVED_AT, 250)
    assert (values["kafka_partition"], values["kafka_offset"]) == (3, 9)


def test_receipt_row_is_keyed_by_message_and_status() -> None:
    receipt = DeliveryReceipt(
        gateway="smpp", message_id="4f2a", nudge_id=None, status="failed", at=AT,
        error_code="011",
    )  # fmt: skip
    key, row = nudge_receipts.TABLE.row(
        receipt, partition=0, offset=1, ingested_at=INGESTED,
        pseudonymize=PSEUDONYMIZE,
    )  # fmt: skip
    values = dict(zip(nudge_receipts.COLUMNS, row, strict=True))
    assert key == values["receipt_id"] == "4f2a:failed"
    assert (values["nudge_id"], values["error_code"], values["received_at"]) == ("", "011", AT)
