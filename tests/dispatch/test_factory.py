"""The gateway the settings name, and the settings it refuses to start with."""

from pathlib import Path

import pytest

from kernel.errors import ConfigError
from orchestration.dispatch import FileGateway, SmppGateway, WebhookGateway, build_gateway
from tests.fixtures.services import local_settings


def test_file_gateway_writes_under_the_state_dir(tmp_path: Path) -> None:
    gateway = build_gateway(local_settings(state_dir=tmp_path), print)
    assert isinstance(gateway, FileGateway)
    assert gateway.path == tmp_path / "sms" / "outbox.jsonl"
    assert gateway.on_report is print


def test_webhook_gateway_sends_the_token_as_bearer() -> None:
    gateway = build_gateway(
        local_settings(
            sms_gateway="webhook", sms_webhook_url="https://sms.example/send",
            sms_webhook_token="s3cret", sms_gateway_timeout_seconds=3,
        ),
        print,
    )  # fmt: skip
    assert isinstance(gateway, WebhookGateway)
    assert (gateway.url, gateway.headers) == (
        "https://sms.example/send",
        {"Authorization": "Bearer s3cret"},
    )
    assert (gateway.timeout.connect, gateway.timeout.read) == (3, 3)


def test_smpp_gateway_binds_with_the_settings() -> None:
    gateway = build_gateway(
        local_settings(
            sms_gateway="smpp", sms_smpp_host="smsc.example", sms_smpp_port=2776,
            sms_smpp_system_id="hub", sms_smpp_password="pw", sms_smpp_bind="transmitter",
            sms_smpp_source_addr="1008601",
        ),
        print,
    )  # fmt: skip
    assert isinstance(gateway, SmppGateway)
    assert (gateway.host, gateway.port, gateway.system_id, gateway.password) == (
        "smsc.example",
        2776,
        "hub",
        "pw",
    )
    assert (gateway.bind, gateway.source_addr) == ("transmitter", "1008601")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"sms_gateway": "webhook"}, "CHANNELHUB_SMS_WEBHOOK_URL"),
        ({"sms_gateway": "smpp", "sms_smpp_host": ""}, "CHANNELHUB_SMS_SMPP_HOST"),
    ],
)  # fmt: skip
def test_a_gateway_without_what_it_needs_is_refused_at_start(
    values: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        build_gateway(local_settings(**values), print)
