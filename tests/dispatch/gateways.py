"""A gateway for the dispatcher's core tests: SMPP-like, one submission per SMS part, each
through the ledger it is given, so the journal's rules are exercised as the adapters use them."""

import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from orchestration.dispatch import (
    InvalidNumberError,
    OutboundSms,
    RetryableGatewayError,
    SendLedger,
    SendResult,
    SubmitLedger,
    encode_sms,
)
from orchestration.dispatch.gateway import accepted_before


class FakeGateway:
    """Accepts every part except for ``invalid`` numbers (permanent) and ``down`` nudge ids
    (retryable, until ``recover()``; ``*``: all). Counts the parts it took per nudge id and,
    with ``log``, appends ``<nudge id> <part>`` for each to that file (across processes).

    ``crash_at`` (nudge id, part): after taking that part the process exits at once, like a
    dispatcher killed between the gateway's answer and the journal's record of it.
    """

    name = "fake"

    def __init__(
        self,
        *,
        invalid: Iterable[str] = (),
        down: Iterable[str] = (),
        log: Path | None = None,
        crash_at: tuple[str, int] | None = None,
    ) -> None:
        self.invalid = set(invalid)
        self.down = set(down)
        self.log = log
        self.crash_at = crash_at
        self.accepted: Counter[str] = Counter()
        self._ledger = SendLedger()

    async def send(self, message: OutboundSms, ledger: SubmitLedger | None = None) -> SendResult:
        encoded = encode_sms(message.text, message.nudge_id)
        ledger = self._ledger if ledger is None else ledger
        ids: list[str] = []
        for part in range(encoded.segments):
            earlier = accepted_before(ledger, self.name, message.nudge_id, part)
            if earlier is not None:
                ids.extend(earlier.message_ids)
                continue
            await ledger.intend(message.nudge_id, part)
            if message.msisdn in self.invalid:
                ledger.not_taken(message.nudge_id, part)
                raise InvalidNumberError(self.name, f"{message.msisdn} is not a subscriber")
            if message.nudge_id in self.down or "*" in self.down:
                ledger.not_taken(message.nudge_id, part)
                raise RetryableGatewayError(self.name, "503 from the aggregator")
            self.accepted[message.nudge_id] += 1
            if self.log is not None:
                with self.log.open("a") as f:
                    f.write(f"{message.nudge_id} {part}\n")
            if self.crash_at == (message.nudge_id, part):
                os._exit(9)
            ids.append(f"m-{message.nudge_id}.{part + 1}")
            ledger.accepted(message.nudge_id, part, (ids[-1],))
        return SendResult(
            nudge_id=message.nudge_id, gateway=self.name,
            message_ids=tuple(ids), segments=encoded.segments,
        )  # fmt: skip

    def recover(self) -> None:
        self.down.clear()

    async def close(self) -> None:
        """Nothing to release."""


def taken(log: Path) -> Counter[tuple[str, int]]:
    """How often each (nudge id, part) reached the gateway, from its ``log``."""
    if not log.exists():
        return Counter()
    return Counter(
        (nudge_id, int(part))
        for nudge_id, part in (line.split() for line in log.read_text().splitlines())
    )
