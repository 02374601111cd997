"""The wait-predictor stage: each caller joining the agent queue → ``ivr.wait_predicted``.

Group ``<group_prefix>-waits`` reads every partition of ``settings.topic_events``: a queue's
state (arrivals, agents, handle times, patience) is made of every subscriber's events, which
the subscriber key spreads over all partitions, so exactly one process runs this stage
(``channelhub up`` starts one; a second would split the partitions and see half of each
queue). Each batch is folded in event-time order into :class:`orchestration.queue_wait.QueueWaits`,
and for each ``ivr.queue_entered`` the prediction goes back to ``settings.topic_events`` as a
canonical ``ivr.wait_predicted`` event keyed by the subscriber: on the subscriber's partition,
right behind the join, so the nudge stage judges it on the journey of a caller still in the
queue, in partition order, exactly as a replay or ``channelhub rules backtest`` will, and the
sink stores it in ``events`` like any event (the queue page compares it with the actual wait).

Only the four event types the state uses are decoded (a byte test on the canonical form
first); the stage's own predictions, read back, are skipped. The state is kept in memory: a
restarted stage predicts nothing for a queue until it has seen
:data:`~orchestration.queue_wait.MIN_ANSWERS` answers again. At-least-once: a re-read join is
predicted again under the same event id, which the nudge stage and the sink collapse.
"""

import logging

import msgspec

from kernel.clock import to_ms
from kernel.settings import Settings
from orchestration.queue_wait import QueueWaits, prediction_event
from schemas import Rejection, routing_key, validate
from schemas.envelope import Envelope
from schemas.events import IvrQueueEntered
from streams.acks import Offsets
from streams.produce import Record, send_records
from streams.runtime import Acks, BatchStage, Fetched

log = logging.getLogger(__name__)

#: The canonical form names its type exactly so: events of other types are never decoded.
_USED = (
    b'"event_type":"ivr.queue_entered"',
    b'"event_type":"ivr.agent_answered"',
    b'"event_type":"ivr.abandoned"',
    b'"event_type":"agent.request_handled"',
)
_encode = msgspec.json.encode


class WaitPredictor(BatchStage):
    """Consumes ``settings.topic_events`` as group ``<group_prefix>-waits`` and produces to it."""

    stage = "waits"

    def __init__(self, settings: Settings, **kwargs: object) -> None:
        super().__init__(settings, **kwargs)
        self.waits = QueueWaits(window_ms=int(self.settings.queue_wait_window_seconds * 1000))

    def topics(self) -> list[str]:
        return [self.settings.topic_events]

    def started_message(self) -> str:
        s = self.settings
        return f"predicting queue waits from {s.topic_events} → ivr.wait_predicted on it"

    async def fold(self, fetched: Fetched) -> tuple[Acks, Offsets]:
        used: list[Envelope] = []
        commit: Offsets = {}
        for tp, records in fetched.items():
            for r in records:
                value = r.value or b""
                if not any(marker in value for marker in _USED):
                    continue
                event = validate(value)
                if isinstance(event, Rejection):
                    log.error("not a canonical event at %s:%d:%d: %s", r.topic, r.partition,
                              r.offset, event)  # fmt: skip
                    continue
                used.append(event)
            commit[tp] = records[-1].offset + 1
        used.sort(key=lambda e: to_ms(e.occurred_at))  # stable: partition order within a time
        out: list[Record] = []
        for folded in used:
            prediction = self.waits.observe(folded)
            if prediction is not None and isinstance(folded, IvrQueueEntered):
                predicted = prediction_event(folded, prediction)
                out.append((routing_key(predicted), _encode(predicted)))
        self.counts.update(used=len(used), predicted=len(out))
        pending = await send_records(self.producer, self.settings.topic_events, out) if out else []
        return pending, commit
