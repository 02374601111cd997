"""The gateway a dispatcher process sends through, built from the settings.

``sms_gateway`` picks the adapter: ``file`` (the local platform has no SMSC, so SMS become
lines of ``<state_dir>/sms/outbox.jsonl``), ``webhook`` (an HTTP aggregator) or ``smpp`` (the
operator's SMSC). A setting the chosen adapter cannot work without is a
:class:`~kernel.errors.ConfigError` at start, not a refusal on the first nudge.
"""

from pathlib import Path

from kernel.errors import ConfigError
from kernel.settings import Settings
from orchestration.dispatch.file_gateway import FileGateway
from orchestration.dispatch.gateway import Gateway, ReportCallback
from orchestration.dispatch.smpp import SmppGateway
from orchestration.dispatch.webhook import WebhookGateway


def outbox_path(settings: Settings) -> Path:
    """Where the file gateway writes: under the state dir, beside the other services' data."""
    return settings.state_dir / "sms" / "outbox.jsonl"


def journal_dir(settings: Settings) -> Path:
    """Where the send journals are, one file per partition of the outbound topic: under the
    state dir, so every dispatcher of one machine finds a partition's journal."""
    return settings.state_dir / "dispatch" / "journal"


def build_gateway(settings: Settings, on_report: ReportCallback) -> Gateway:
    """The adapter ``settings.sms_gateway`` names, reporting receipts and replies to
    ``on_report``."""
    s = settings
    if s.sms_gateway == "file":
        return FileGateway(outbox_path(s), on_report)
    if s.sms_gateway == "webhook":
        _check_webhook(s)
        token = s.sms_webhook_token.get_secret_value()
        return WebhookGateway(
            s.sms_webhook_url,
            headers={"Authorization": f"Bearer {token}"} if token else None,
            timeout=s.sms_gateway_timeout_seconds,
            on_report=on_report,
        )
    if not s.sms_smpp_host:
        raise ConfigError(
            "sms_gateway is 'smpp' but sms_smpp_host is empty; set CHANNELHUB_SMS_SMPP_HOST to "
            "the SMSC's address"
        )
    return SmppGateway(
        s.sms_smpp_host,
        s.sms_smpp_port,
        system_id=s.sms_smpp_system_id,
        password=s.sms_smpp_password.get_secret_value(),
        system_type=s.sms_smpp_system_type,
        source_addr=s.sms_smpp_source_addr,
        bind=s.sms_smpp_bind,
        timeout=s.sms_gateway_timeout_seconds,
        on_report=on_report,
    )


def _check_webhook(settings: Settings) -> None:
    if not settings.sms_webhook_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"sms_gateway is 'webhook' but sms_webhook_url is {settings.sms_webhook_url!r}; "
            "set CHANNELHUB_SMS_WEBHOOK_URL to the aggregator's http(s) endpoint"
        )
