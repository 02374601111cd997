"""A gateway's sending rate as a token bucket, with time passed in rather than read.

The bucket refills at ``per_second`` up to ``burst`` tokens; each SMS takes one. Keeping the
state a small value (tokens, last update) and the clock an argument makes the math testable to
the microsecond and lets the caller keep one bucket per gateway in whatever table it likes. A
fresh :class:`TokenBucket` (0 tokens at the epoch) refills to a full burst on first use.

Time is kept in integer microseconds: float epoch seconds lose the last digits, and a request
retried exactly at the ``send_at`` it was given must find its token there.
"""

import math
from datetime import UTC, datetime, timedelta

import msgspec

from orchestration.guardrails.clock import to_local
from schemas.guardrails import RateLimit

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: Float slack when comparing tokens to 1, far below any real refill.
_SLACK = 1e-9


class TokenBucket(msgspec.Struct, frozen=True, kw_only=True):
    """Tokens left at ``updated_us`` (epoch microseconds)."""

    tokens: float = 0.0
    updated_us: int = 0


def epoch_us(moment: datetime) -> int:
    """Exact epoch microseconds of an aware instant."""
    return (to_local(moment) - _EPOCH) // _MICROSECOND


def try_take(
    bucket: TokenBucket, limit: RateLimit, now: datetime
) -> tuple[TokenBucket, datetime | None]:
    """Take a token at ``now`` if one is free.

    Returns the new bucket and ``None`` when the SMS may go, or the bucket unchanged and the
    instant a whole token will be free. A clock that went backwards refills nothing, so a late
    caller cannot mint tokens.
    """
    now_us = max(epoch_us(now), bucket.updated_us)
    refilled = bucket.tokens + (now_us - bucket.updated_us) * limit.per_second / 1e6
    tokens = min(float(limit.burst), refilled)
    if tokens + _SLACK >= 1.0:
        return TokenBucket(tokens=max(0.0, tokens - 1.0), updated_us=now_us), None
    wait_us = math.ceil((1.0 - tokens) * 1e6 / limit.per_second)
    return bucket, _EPOCH + (now_us + wait_us) * _MICROSECOND
