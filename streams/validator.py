"""The validation stage: raw topic → canonical topic or dead-letter topic, in batches.

Group ``<group_prefix>-validate`` on ``settings.topic_raw``, on the shared stage runtime
(:mod:`streams.runtime`: fetch, produce, commit after acknowledgement, rebalance, progress).
Its fold routes every message with :func:`streams.routing.route`, which never raises, so no
message a channel system or any other client writes to the raw topic can stop it.
At-least-once: after a crash the uncommitted tail is routed again with the same event ids and
dead-letter ids, which the ClickHouse sink collapses.
"""

from datetime import UTC, datetime, timedelta

from streams.acks import Offsets
from streams.produce import Record, send_records
from streams.routing import RawMessage, route
from streams.runtime import Acks, BatchStage, Fetched


class RawValidator(BatchStage):
    """Consumes ``settings.topic_raw`` as group ``<group_prefix>-validate``."""

    stage = "validate"

    def topics(self) -> list[str]:
        return [self.settings.topic_raw]

    def started_message(self) -> str:
        s = self.settings
        return f"validating {s.topic_raw} → {s.topic_events} | {s.topic_dlq}"

    async def fold(self, fetched: Fetched) -> tuple[Acks, Offsets]:
        s = self.settings
        topics = {"events": s.topic_events, "dlq": s.topic_dlq}
        now = datetime.now(UTC)
        skew = timedelta(seconds=s.clock_skew_seconds)
        out: dict[str, list[Record]] = {"events": [], "dlq": []}
        commit: Offsets = {}
        for tp, records in fetched.items():
            for r in records:
                message = RawMessage(
                    r.value, r.key, r.topic, r.partition, r.offset, r.timestamp / 1000
                )
                routed = route(message, now=now, skew=skew)
                out[routed.destination].append((routed.key, routed.value))
            commit[tp] = records[-1].offset + 1
        pending = []
        for destination, routed_records in out.items():
            self.counts[destination] += len(routed_records)
            if routed_records:
                pending += await send_records(self.producer, topics[destination], routed_records)
        return pending, commit
