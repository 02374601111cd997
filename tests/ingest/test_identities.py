"""Collector identities: one token per channel system, its channels and its rate."""

import math
from datetime import UTC, datetime

import pytest

from channelhub.ingest.http_batch import judge
from channelhub.ingest.identities import Allowance, Client, clients, identify
from kernel.errors import ConfigError
from kernel.settings import CollectorClient
from tests.factories import encode, make_event
from tests.fixtures.services import local_settings

IVR = "i" * 32
SMS = "s" * 32


def _two() -> list[Client]:
    return clients(
        local_settings(
            collector_clients={
                "ivr-platform": CollectorClient(
                    token=IVR, channels=("ivr",), per_second=10, burst=20
                ),
                "sms-hall": CollectorClient(token=SMS, channels=("sms",)),
            }
        )
    )


def test_each_token_names_its_client_and_nothing_else_does() -> None:
    known = _two()
    assert identify(f"Bearer {IVR}", known).name == "ivr-platform"  # type: ignore[union-attr]
    assert identify(f"bearer {SMS}", known).name == "sms-hall"  # type: ignore[union-attr]
    for header in (None, "", IVR, f"Basic {IVR}", f"Bearer {IVR}x", "Bearer ", "Bearer"):
        assert identify(header, known) is None, header


def test_without_clients_the_collector_token_may_send_every_channel() -> None:
    (default,) = clients(local_settings())
    assert default.name == "default"
    assert default.channels == {"ivr", "sms", "web", "wap", "kiosk", "agent"}


@pytest.mark.parametrize(
    ("configured", "complaint"),
    [
        ({"a": {"token": IVR, "channels": ["fax"]}}, "unknown channels \\['fax'\\]"),
        ({"a": {"token": IVR, "channels": ["ivr"]}, "b": {"token": IVR, "channels": ["sms"]}},
         "share a token"),
        ({"a": {"token": "", "channels": ["ivr"]}}, "empty token"),
    ],
)  # fmt: skip
def test_a_client_list_that_cannot_work_is_refused_at_start(
    configured: dict[str, dict[str, object]], complaint: str
) -> None:
    settings = local_settings(
        collector_clients={n: CollectorClient.model_validate(c) for n, c in configured.items()}
    )
    with pytest.raises(ConfigError, match=complaint):
        clients(settings)


def test_outside_development_every_client_token_must_be_strong() -> None:
    weak = local_settings(
        environment="production",
        pseudonym_key="k" * 32,
        collector_clients={"kiosks": CollectorClient(token="short", channels=("kiosk",))},
    )
    with pytest.raises(ConfigError, match="collector client 'kiosks' is 5 bytes long"):
        weak.refuse_weak_secrets("collector_token")


def test_an_event_of_another_channel_is_a_dead_letter_that_names_the_rule() -> None:
    ivr, sms = encode(make_event("ivr.abandoned")), encode(make_event("sms.message_received"))
    judged = judge(
        [ivr, sms], topic_raw="raw", topic_dlq="dlq", received_at=_now(),
        client="ivr-platform", channels=frozenset({"ivr"}),
    )  # fmt: skip
    assert (judged.accepted, judged.rejected) == (1, 1)
    refused = judged.results[1]
    assert (refused["reason_code"], refused["field"]) == ("channel_not_allowed", "$.channel")
    assert refused["message"] == "client 'ivr-platform' may send ivr events only; this one is sms"
    assert [r.topic for r in judged.records] == ["raw", "dlq"]


def _now() -> datetime:
    return datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_the_allowance_is_a_bucket_of_events_all_or_none() -> None:
    client = Client("ivr-platform", b"t", frozenset({"ivr"}), per_second=10.0, burst=20)
    allowance = Allowance(client, now=0.0)
    assert allowance.take(15, now=0.0) == 0.0
    assert allowance.take(10, now=0.0) == pytest.approx(0.5)  # 5 left, 5 more in 0.5 s
    assert allowance.take(10, now=0.5) == 0.0
    assert allowance.take(21, now=100.0) == math.inf  # larger than the burst: never
    assert allowance.take(20, now=100.0) == 0.0  # the refill stops at the burst
    assert allowance.take(1, now=99.0) == pytest.approx(0.1)  # a clock going back mints nothing
