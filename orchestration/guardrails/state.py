"""What the guardrails remember about one subscriber, small enough for every subscriber.

Part of the nudge stage's per-subscriber state, keyed by MSISDN, so the MSISDN is not repeated
here. ``array_like`` (encoded without field names, see :mod:`streams.nudge_state`); a typical
one is a few dozen bytes:

- ``sent``: per rule (or ``campaign:<id>``), epoch seconds of sends in the last 7 days, the
  most a calendar or rolling week cap can look back; older ones are pruned on every decision.
- ``opt_outs``: scope → epoch seconds of the opt-out; scope :data:`ALL` is the global opt-out,
  any other scope is an opt-out code a rule lists. Opt-outs never expire.
- ``decided``: ``(digest of the nudge id, epoch seconds)`` of the most recent final decisions
  (:func:`id_digest`: 9 bytes encoded where the id takes 33), newest last,
  bounded by count and by :data:`~schemas.guardrails.HORIZON`, so a replayed
  trigger is recognised without the row growing forever.
"""

import hashlib
from datetime import datetime

import msgspec

from orchestration.guardrails.clock import epoch
from schemas.guardrails import HORIZON

#: The opt-out scope that stops every rule and campaign.
ALL = "*"

_HORIZON_S = int(HORIZON.total_seconds())


def id_digest(text: str) -> int:
    """A stable 64-bit digest of an id (unlike ``hash``, the same in every process): what a
    subscriber's state remembers an event or nudge id by; two of one subscriber's recent ids
    share one with odds of 2⁻⁶⁴."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest())


class SubscriberState(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, array_like=True
):
    """One subscriber's guardrail memory; see the module docstring for each field."""

    sent: dict[str, tuple[int, ...]] = msgspec.field(default_factory=dict)
    opt_outs: dict[str, int] = msgspec.field(default_factory=dict)
    decided: tuple[tuple[int, int], ...] = ()

    def has_decided(self, nudge_id: str) -> bool:
        """Whether a final decision for ``nudge_id`` is still remembered."""
        digest = id_digest(nudge_id)
        return any(known == digest for known, _ in self.decided)

    def remember(self, nudge_id: str, now: datetime, keep: int) -> "SubscriberState":
        """Record a final decision, keeping at most ``keep`` ids from the last 7 days."""
        now_s = epoch(now)
        recent = [(known, at) for known, at in self.decided if now_s - at < _HORIZON_S]
        recent.append((id_digest(nudge_id), now_s))
        return msgspec.structs.replace(self, decided=tuple(recent[-keep:]))

    def record_send(self, rule_id: str, now: datetime) -> "SubscriberState":
        """Count a send of ``rule_id`` at ``now`` and drop every send older than 7 days."""
        now_s = epoch(now)
        sent: dict[str, tuple[int, ...]] = {}
        for rule, times in self.sent.items():
            kept = tuple(at for at in times if now_s - at < _HORIZON_S)
            if kept:
                sent[rule] = kept
        sent[rule_id] = (*sent.get(rule_id, ()), now_s)
        return msgspec.structs.replace(self, sent=sent)
