"""The count of what a run produced, printed as the last line of ``channelhub simulate``.

Integration tests compare ClickHouse with this summary per channel and per event type, so it
counts exactly what was delivered: an event is counted when sent and taken back if the broker
later reports it undelivered.
"""

from collections import Counter
from typing import Any

from channelhub.simulator.ids import iso
from channelhub.simulator.malformed import MALFORMED_KINDS
from schemas import CHANNELS, EVENT_TYPES


class Tally:
    """Counts by event type (valid) and by kind (malformed), and the valid time span."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.valid: Counter[str] = Counter()
        self.invalid: Counter[str] = Counter()
        self.first_ms: int | None = None
        self.last_ms: int | None = None

    @property
    def events(self) -> int:
        return self.valid.total() + self.invalid.total()

    def count(self, label: str, valid: bool, t_ms: int) -> None:
        if valid:
            self.valid[label] += 1
            if self.first_ms is None:
                self.first_ms = t_ms
            self.last_ms = t_ms
        else:
            self.invalid[label] += 1

    def retract(self, label: str) -> None:
        """Take back an event the broker did not acknowledge (labels say which kind it was:
        event types contain a dot, malformed kinds do not)."""
        counter = self.valid if label in EVENT_TYPES else self.invalid
        counter[label] -= 1

    def summary(self) -> dict[str, Any]:
        by_channel = dict.fromkeys(CHANNELS, 0)
        for event_type, n in self.valid.items():
            by_channel[event_type.partition(".")[0]] += n
        return {
            "events": self.events,
            "valid": by_channel,
            "valid_by_event_type": {t: self.valid[t] for t in sorted(EVENT_TYPES)},
            "invalid": self.invalid.total(),
            "invalid_by_kind": {k: self.invalid[k] for k in MALFORMED_KINDS},
            "seed": self.seed,
            "first_occurred_at": None if self.first_ms is None else iso(self.first_ms),
            "last_occurred_at": None if self.last_ms is None else iso(self.last_ms),
        }
