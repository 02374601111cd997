"""Where alert transitions go: the alerts topic first, then the optional webhook.

The topic is the record (the sink turns it into ``alert_events``), so a transition counts as
made only once the broker acknowledged it; the webhook is a courtesy on top, called after
that, with a timeout, and its failures are logged, never raised: a chat room that is down
must not stop alerts from being recorded.
"""

import logging
from collections.abc import Callable, Sequence

import httpx
import msgspec

from channelhub.ingest.producer import Producer
from schemas.alerts import AlertEvent

log = logging.getLogger(__name__)

PostJson = Callable[[str, bytes, float], None]


def post_json(url: str, body: bytes, timeout: float) -> None:
    """POST ``body`` as JSON; any non-2xx answer raises."""
    response = httpx.post(
        url, content=body, headers={"Content-Type": "application/json"}, timeout=timeout
    )
    response.raise_for_status()


class Recorder:
    """Produces each transition keyed by its rule, waits for the broker, then calls the hook."""

    def __init__(
        self,
        producer: Producer,
        *,
        webhook_url: str = "",
        webhook_timeout: float = 5.0,
        post: PostJson = post_json,
    ) -> None:
        self._producer = producer
        self._webhook_url = webhook_url
        self._webhook_timeout = webhook_timeout
        self._post = post

    def record(self, events: Sequence[AlertEvent]) -> None:
        """Raises :class:`~channelhub.ingest.producer.DeliveryError` if the broker did not
        acknowledge them all; the caller then keeps its previous state and tries again."""
        if not events:
            return
        bodies = [msgspec.json.encode(e) for e in events]
        for event, body in zip(events, bodies, strict=True):
            self._producer.send(event.rule_id.encode(), body)
        self._producer.flush()
        for event, body in zip(events, bodies, strict=True):
            log.warning("%s %s: %s", event.event_type, event.rule_id, event.message)
            if self._webhook_url:
                self._call_webhook(event, body)

    def _call_webhook(self, event: AlertEvent, body: bytes) -> None:
        try:
            self._post(self._webhook_url, body, self._webhook_timeout)
        except Exception as e:  # any failure of the hook is only logged
            log.error("alert webhook failed for %s %s: %s", event.event_type, event.alert_id, e)
