"""Token-bucket math with the time passed in."""

from datetime import UTC, datetime, timedelta

from orchestration.guardrails import RateLimit, TokenBucket
from orchestration.guardrails.ratelimit import epoch_us, try_take

T0 = datetime(2025, 3, 10, 2, 0, tzinfo=UTC)
LIMIT = RateLimit(per_second=2.0, burst=3)


def test_fresh_bucket_allows_a_full_burst_then_holds() -> None:
    bucket = TokenBucket()
    for _ in range(3):
        bucket, free_at = try_take(bucket, LIMIT, T0)
        assert free_at is None
    assert bucket.tokens == 0.0
    held, free_at = try_take(bucket, LIMIT, T0)
    assert free_at == T0 + timedelta(seconds=0.5)  # one token at 2 per second
    assert held == bucket
    _, free_at = try_take(bucket, LIMIT, free_at)
    assert free_at is None  # retried exactly at the instant it was given, the token is there


def test_refill_is_proportional_to_elapsed_time_and_capped_at_burst() -> None:
    empty = TokenBucket(tokens=0.0, updated_us=epoch_us(T0))
    bucket, free_at = try_take(empty, LIMIT, T0 + timedelta(seconds=0.25))
    assert free_at == T0 + timedelta(seconds=0.5)
    assert bucket == empty  # nothing taken, nothing to store
    bucket, free_at = try_take(empty, LIMIT, T0 + timedelta(seconds=0.5))
    assert free_at is None
    assert bucket.tokens == 0.0
    bucket, _ = try_take(empty, LIMIT, T0 + timedelta(hours=1))
    assert bucket.tokens == 2.0  # refilled to the burst of 3, then one taken


def test_a_clock_going_backwards_mints_no_tokens() -> None:
    empty = TokenBucket(tokens=0.0, updated_us=epoch_us(T0))
    bucket, free_at = try_take(empty, LIMIT, T0 - timedelta(seconds=10))
    assert bucket == empty
    assert free_at == T0 + timedelta(seconds=0.5)


def test_sustained_rate_matches_the_limit() -> None:
    bucket, sent = TokenBucket(), 0
    for ms in range(0, 10_000, 10):  # an attempt every 10 ms for 10 s
        bucket, free_at = try_take(bucket, LIMIT, T0 + timedelta(milliseconds=ms))
        sent += free_at is None
    assert sent == 3 + 20 - 1  # the burst, then 2 per second (the last token lands at 10 s)


def test_retrying_at_the_given_instant_always_finds_a_token() -> None:
    """At an odd rate (a token every 1/3 s) waits round up, so a retry is never held again."""
    limit = RateLimit(per_second=3.0, burst=1)
    bucket, now = TokenBucket(), T0
    bucket, _ = try_take(bucket, limit, now)
    for _ in range(1000):
        held, free_at = try_take(bucket, limit, now)
        assert free_at is not None
        bucket, again = try_take(held, limit, free_at)
        assert again is None
        now = free_at
    assert abs((now - T0).total_seconds() - 1000 / 3) < 1e-3
