"""Every panel query of the dashboard, with its page's default range.

The one list of them: the dashboard benchmark (``bench/dashboard.py``) times each, and
``tests/sinks/test_current_engine.py`` runs each on the local ClickHouse server and on the
current engine and compares the answers.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from clickhouse_driver import Client

from dashboards.filters import VolumeFilter
from dashboards.queries import (
    cross_channel,
    health,
    ivr,
    kiosks,
    marketing,
    online,
    queue,
    sms_hall,
    volume,
)


def panels(partitions: int, now: datetime) -> dict[str, Callable[[Client], Any]]:
    """Every panel query at ``now`` with its page's default range, by name; ``partitions``
    is the number of ``channel.events`` partitions the completeness panel expects."""
    minute = now.replace(second=0, microsecond=0)
    day, week = minute - timedelta(hours=24), minute - timedelta(days=7)
    f24 = VolumeFilter(start=day, end=minute)
    f7 = VolumeFilter(start=week, end=minute)
    rules = queue.Rules()
    return {
        "volume.breakdown 24h": lambda c: volume.breakdown(c, f24),
        "volume.series 24h": lambda c: volume.series(c, f24),
        "volume.breakdown 7d": lambda c: volume.breakdown(c, f7),
        "volume.series 7d": lambda c: volume.series(c, f7),
        "volume.health": lambda c: volume.health(c, now),
        "ivr.funnel 24h": lambda c: ivr.funnel(c, day, minute),
        "ivr.lead_ins 24h": lambda c: ivr.lead_ins(c, day, minute),
        "ivr.containment 24h": lambda c: ivr.containment(c, day, minute, now),
        "sms_hall.messages 24h": lambda c: sms_hall.messages(c, day, minute),
        "sms_hall.unknown_texts 24h": lambda c: sms_hall.unknown_texts(c, day, minute, 20),
        "sms_hall.confirmations 24h": lambda c: sms_hall.confirmations(c, day, minute),
        "cross_channel.mix 24h": lambda c: cross_channel.mix(c, f24),
        "cross_channel.deflection 24h": lambda c: cross_channel.deflection(c, day, minute),
        "cross_channel.recontacts 24h": lambda c: cross_channel.recontacts(c, day, minute),
        "online.functions 24h": lambda c: online.functions(c, day, minute),
        "online.reservations 24h": lambda c: online.reservations(c, day, minute, now),
        "kiosks.terminals 24h": lambda c: kiosks.terminals(c, day, minute),
        "queue.snapshot 15min": lambda c: queue.snapshot(c, now, timedelta(minutes=15), rules),
        "queue.series 3h": lambda c: queue.series(c, now, 3, rules),
        "health.events_per_second": lambda c: health.events_per_second(c, now),
        "health.dead_letters 24h": lambda c: health.dead_letters(c, day),
        "health.completeness": lambda c: health.completeness(c, partitions, now),
        "marketing.funnel 7d": lambda c: marketing.funnel(c, "survey.satisfaction", week, now),
    }
