"""Readings for alert rules from ClickHouse: one query per distinct window, not per rule."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from clickhouse_driver import Client

from dashboards.alerts.rules import Rule
from dashboards.queries import queue
from dashboards.queries.queue import QueueStats, Rules


def readings(
    client: Client, rules: Iterable[Rule], now: datetime, judged: Rules
) -> dict[str, float | None]:
    """Each rule's reading at ``now``; ``None`` where its window saw no call leave the queue."""
    windows: dict[int, QueueStats] = {}
    waiting: int | None = None
    values: dict[str, float | None] = {}
    for rule in rules:
        if rule.window_minutes is None:
            if waiting is None:
                waiting = sum(queue.waiting(client, now).values())
            values[rule.id] = float(waiting)
            continue
        minutes = rule.window_minutes
        if minutes not in windows:
            start = now - timedelta(minutes=minutes)
            windows[minutes] = queue.stats(client, start, now, judged).get("", QueueStats())
        values[rule.id] = reading(rule, windows[minutes])
    return values


def reading(rule: Rule, stats: QueueStats) -> float | None:
    if rule.kind == "service_level_below":
        return stats.service_level
    if rule.kind == "abandonment_above":
        return stats.abandonment_rate
    return stats.asa_s
