"""Read the measured uplift of every rule and campaign: what the CLI and dashboards show.

The numbers come from the ``nudge_uplift`` view (:mod:`sinks.tables.nudge_uplift`), so
anyone with SQL access sees the same figures; this module only types them.
"""

import math

import msgspec
from clickhouse_driver import Client

from sinks.client import storage_errors


class Uplift(msgspec.Struct, frozen=True, kw_only=True):
    """Conversion of the sent and holdout groups of one rule (or ``campaign:<id>``), and the
    difference with its 95% interval; the bounds are None while a group is empty."""

    rule_id: str
    sent: int
    sent_converted: int
    holdout: int
    holdout_converted: int
    uplift: float | None
    ci_low: float | None
    ci_high: float | None


def uplift(client: Client, db: str) -> list[Uplift]:
    """Every rule and campaign with an exposure, by rule id."""
    with storage_errors(f"cannot read {db}.nudge_uplift"):
        rows = client.execute(
            f"SELECT rule_id, n_sent, conv_sent, n_holdout, conv_holdout, uplift, ci_low, "
            f"ci_high FROM {db}.nudge_uplift ORDER BY rule_id"
        )
    return [
        Uplift(
            rule_id=rule, sent=n1, sent_converted=x1, holdout=n2, holdout_converted=x2,
            uplift=_number(u), ci_low=_number(low), ci_high=_number(high),
        )
        for rule, n1, x1, n2, x2, u, low, high in rows
    ]  # fmt: skip


def _number(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else value
