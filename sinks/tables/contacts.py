"""``channelhub.contacts``: the contacts the nudge stage counted as they began, and
``contacts_per_minute``, their sums per minute of their first event and channel: all the
cross-channel page reads for its contact mix and re-contact rate.

Grouping a day of a province's events by session took seconds (the mix) or more memory than
the dashboard may use (re-contact). The stage keyed by subscriber sees each session begin
(:mod:`orchestration.contacts`), so a contact is a row here when it opens, and a re-contacted
session one more row when the next contact of its subscriber begins within 24 h. Both sums
are then a few thousand rows of ``contacts_per_minute`` for any range of whole minutes.

The sink inserts a contact once (its id is the same when the stage counts it again after a
restart), so the materialized view sums every row it sees. The events stored before the stage
counted contacts are counted once by this table's fill, which the migration runs: the same
definitions grouped over the stored events, each session's earliest event standing for its
first received one.
"""

from typing import Any

from kernel.pseudonym import Pseudonymizer
from schemas.contacts import RECONTACT_WINDOW_MS, ContactCounted
from sinks.engines import replacing_merge_tree, summing_merge_tree
from sinks.tables import Table, View, letters, moment, uint

NAME = "contacts"

CREATE_CONTACTS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{NAME} (
    contact_id String,
    kind String,
    subscriber String,
    channel String,
    first_at DateTime('UTC'),
    first_ms UInt16,
    opens_session UInt8,
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) {replacing_merge_tree(partition_by="toYYYYMM(first_at)", order_by="contact_id")}
"""

COLUMNS = (
    "contact_id", "kind", "subscriber", "channel", "first_at", "first_ms", "opens_session",
    "kafka_partition", "kafka_offset", "ingested_at",
)  # fmt: skip


def _values(c: ContactCounted, pseudonymize: Pseudonymizer) -> tuple[str, tuple[Any, ...]]:
    """The contact's id and its row, from ``channel.contacts``."""
    at = moment(c.first_at)
    return c.contact_id, (
        c.contact_id,
        c.kind,
        pseudonymize(c.msisdn),
        c.channel,
        at,
        uint(at.microsecond // 1000, 16),
        int(c.opens_session),
    )


TABLE = Table[ContactCounted](
    name=NAME,
    create_statements=(CREATE_CONTACTS,),
    columns=COLUMNS,
    id_column="contact_id",
    time_column="first_at",
    values=_values,
)

_MS = "toUInt64(occurred_at) * 1000 + occurred_ms"
_ROW_END = "0 AS kafka_partition, toUInt64(0) AS kafka_offset, now() AS ingested_at"


#: A stored session's id, in letters only as the stage's ids are.
_STORED_ID = f"concat('stored-', {letters('lower(hex(sipHash64(session_id)))')})"
_SESSIONS = f"""
    SELECT session_id, subscriber, argMin(channel, {_MS}) AS first_channel, min({_MS}) AS first
    FROM {{db}}.events
    WHERE subscriber != '' AND {{slice}}
    GROUP BY session_id, subscriber
"""

#: The contacts opened by the events stored before the stage counted them: per channel and
#: session, its earliest event; the session's earliest channel opens it.
FILL_OPENED = f"""
INSERT INTO {{db}}.{NAME} ({", ".join(COLUMNS)})
SELECT concat({_STORED_ID}, '-', channel), 'opened', subscriber,
       channel, toDateTime(intDiv(first_pair, 1000)), first_pair % 1000,
       channel = first_channel, {_ROW_END}
FROM (
    SELECT session_id, subscriber, channel, min({_MS}) AS first_pair
    FROM {{db}}.events
    WHERE subscriber != '' AND {{slice}}
    GROUP BY session_id, subscriber, channel
) AS pairs ALL INNER JOIN ({_SESSIONS}) AS sessions USING session_id, subscriber
WHERE (SELECT count() FROM {{db}}.{NAME} WHERE kind = 'opened' AND {{slice}}) = 0
"""

#: The stored sessions another session of the same subscriber began after, within 24 h.
FILL_RECONTACTED = f"""
INSERT INTO {{db}}.{NAME} ({", ".join(COLUMNS)})
SELECT concat({_STORED_ID}, '-recontacted'), 'recontacted',
       subscriber, first_channel, toDateTime(intDiv(first, 1000)), first % 1000, 0, {_ROW_END}
FROM (
    SELECT session_id, subscriber, first_channel, first,
           countIf(other > first AND other <= first + {RECONTACT_WINDOW_MS}
                   AND other_session != session_id) AS again
    FROM ({_SESSIONS}) AS sessions ALL LEFT JOIN (
        SELECT subscriber, session_id AS other_session, min({_MS}) AS other
        FROM {{db}}.events
        WHERE subscriber != '' AND {{slice}}
        GROUP BY subscriber, session_id
    ) AS others USING subscriber
    GROUP BY session_id, subscriber, first_channel, first
)
WHERE again > 0
  AND (SELECT count() FROM {{db}}.{NAME} WHERE kind = 'recontacted' AND {{slice}}) = 0
"""

CONTACTS_PER_MINUTE = View(
    name="contacts_per_minute",
    create_statements=(
        f"""
CREATE TABLE IF NOT EXISTS {{db}}.contacts_per_minute (
    minute DateTime('UTC'),
    channel String,
    opened UInt64,
    sessions UInt64,
    recontacted UInt64
) {summing_merge_tree(partition_by="toYYYYMM(minute)", order_by="minute, channel")}
""",
        f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.contacts_per_minute_mv TO {{db}}.contacts_per_minute
AS SELECT toStartOfMinute(first_at) AS minute,
          channel,
          countIf(kind = 'opened') AS opened,
          countIf(kind = 'opened' AND opens_session = 1) AS sessions,
          countIf(kind = 'recontacted') AS recontacted
FROM {{db}}.{NAME}
GROUP BY minute, channel
""",
    ),
    fill_statements=(FILL_OPENED, FILL_RECONTACTED),
)
