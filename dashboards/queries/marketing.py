"""The nudge funnel of one rule or campaign: asked → decided → sent → delivered → converted.

Every stage counts nudges (``nudge_id``), restricted to the nudges *requested* in the chosen
time range, so the stages of one row describe the same population and only shrink. A nudge's
fate is its last decision (a held nudge is decided again later; of one instant's decisions,
the one written last); a ``duplicate`` refusal is a replayed request's echo, not a fate, and
is left out. A nudge counts as delivered when every part the gateway accepted has a
``delivered`` receipt. Which version of the template went out is counted over the nudges sent
(``template_version`` 0: sent before publishing was in force).

Times cross as Unix seconds (``toDateTime(%(start)s)``), as in :mod:`dashboards.queries.volume`.
"""

from dataclasses import dataclass, field
from datetime import datetime

from clickhouse_driver import Client

from sinks.tables.nudge_decisions import LATEST

_REQUESTED = """
SELECT nudge_id FROM nudge_requests
WHERE rule_id = %(rule)s
  AND requested_at >= toDateTime(%(start)s) AND requested_at < toDateTime(%(end)s)
"""

REQUESTED = f"SELECT uniqExact(nudge_id) FROM ({_REQUESTED})"

FATES = f"""
SELECT final_outcome, final_reason, count()
FROM (
    SELECT nudge_id,
           argMax(outcome, {LATEST}) AS final_outcome,
           argMax(reason, {LATEST}) AS final_reason
    FROM nudge_decisions
    WHERE rule_id = %(rule)s AND reason != 'duplicate' AND nudge_id IN ({_REQUESTED})
    GROUP BY nudge_id
)
GROUP BY final_outcome, final_reason
"""

DISPATCHED = f"""
SELECT status, uniqExact(nudge_id) FROM nudge_dispatches
WHERE rule_id = %(rule)s AND nudge_id IN ({_REQUESTED})
GROUP BY status
"""

DELIVERED = f"""
SELECT count() FROM (
    SELECT nudge_id, any(parts) AS parts, uniqExact(message_id) AS delivered
    FROM (
        SELECT nudge_id, length(message_ids) AS parts, arrayJoin(message_ids) AS message_id
        FROM nudge_dispatches
        WHERE rule_id = %(rule)s AND status = 'sent' AND nudge_id IN ({_REQUESTED})
    ) AS parts_sent
    ALL INNER JOIN (
        SELECT message_id FROM nudge_receipts WHERE status = 'delivered' GROUP BY message_id
    ) AS delivered_parts USING message_id
    GROUP BY nudge_id
)
WHERE delivered = parts
"""

CONVERTED = f"""
SELECT arm, uniqExact(nudge_id) FROM nudge_conversions
WHERE rule_id = %(rule)s AND nudge_id IN ({_REQUESTED})
GROUP BY arm
"""

SENT_VERSIONS = """
SELECT template_version, uniqExact(nudge_id) FROM nudge_requests
WHERE rule_id = %(rule)s
  AND requested_at >= toDateTime(%(start)s) AND requested_at < toDateTime(%(end)s)
  AND nudge_id IN (
      SELECT nudge_id FROM nudge_dispatches WHERE rule_id = %(rule)s AND status = 'sent'
  )
GROUP BY template_version
ORDER BY template_version
"""

SOURCES = "SELECT DISTINCT rule_id FROM nudge_requests ORDER BY rule_id"


@dataclass(frozen=True)
class Funnel:
    """One rule's (or ``campaign:<id>``'s) nudges requested in a time range, stage by stage."""

    requested: int
    approved: int
    holdout: int
    held: int  # still waiting (quiet hours, a live call, the gateway's rate) at the range's end
    suppressed: dict[str, int] = field(default_factory=dict)  # reason → nudges
    sent: int = 0
    failed: int = 0
    delivered: int = 0
    converted_sent: int = 0
    converted_holdout: int = 0
    #: Template version → nudges sent with it (0: before publishing was in force).
    sent_versions: dict[int, int] = field(default_factory=dict)


def funnel(client: Client, rule_id: str, start: datetime, end: datetime) -> Funnel:
    """The funnel of ``rule_id`` for nudges requested in ``[start, end)`` (aware times)."""
    params = {"rule": rule_id, "start": int(start.timestamp()), "end": int(end.timestamp())}
    ((requested,),) = client.execute(REQUESTED, params)
    fates: dict[str, int] = {}
    suppressed: dict[str, int] = {}
    for outcome, reason, n in client.execute(FATES, params):
        fates[outcome] = fates.get(outcome, 0) + n
        if outcome == "suppressed":
            suppressed[reason] = n
    dispatched = dict(client.execute(DISPATCHED, params))
    ((delivered,),) = client.execute(DELIVERED, params)
    converted = dict(client.execute(CONVERTED, params))
    return Funnel(
        requested=requested,
        approved=fates.get("approved", 0),
        holdout=fates.get("holdout", 0),
        held=fates.get("held", 0),
        suppressed=dict(sorted(suppressed.items(), key=lambda kv: -kv[1])),
        sent=dispatched.get("sent", 0),
        failed=dispatched.get("failed", 0),
        delivered=delivered,
        converted_sent=converted.get("sent", 0),
        converted_holdout=converted.get("holdout", 0),
        sent_versions=dict(client.execute(SENT_VERSIONS, params)),
    )


def sources(client: Client) -> list[str]:
    """Every rule and campaign (``campaign:<id>``) that has asked for a nudge."""
    return [rule for (rule,) in client.execute(SOURCES)]
