"""Aggregate tables of ``events`` for the catalogue page's unmet demand, so the requests for a
retired entry over the weeks since its retirement are read as a few rows per hour instead of
every request of a province.

A request is keyed as the panel matches it (:data:`KEY`): ``<channel> <slot>`` for an IVR
menu selection (its key path), a web or WAP hall page of a withdrawn function and a kiosk
service; ``sms <text>``
for an SMS the hall matched to nothing, in lower case. Which entries are retired changes, so
every key is kept, not only today's retired ones; the tables are sorted by key first, so the
panel reads the retired keys' rows only.

The SMS texts kept are only those that could be a code or a keyword (:data:`DEMAND`): 1 to 8
ASCII digits (a code, :data:`schemas.catalogue.Code`), or 1 to 16 characters with no digit of
any script and no space (a keyword, :data:`schemas.catalogue.Keyword`). Anything else a
customer writes is free text: unbounded in kinds (every text its own key), and it can hold
personal data (a phone number, an address, a name with a number). A code is too short to be
a phone number (11 digits), and a keyword holds no digit at all, so no number reaches these
tables. The panel matches nothing else, so the answer is the same as over every text.

Both counts are exact and idempotent: ``requests`` keeps each event id
(``uniqExactState``), so an event the sink inserted twice counts once (as the panel's
``uniqExact(event_id)`` on ``events``), and ``people`` keeps each subscriber pseudonym, so
the distinct subscribers of any set of buckets are exact; merging a state with itself adds
nothing, so a fill run twice changes no answer and needs no guard. The price is a hash (16
bytes) per request and per person of each bucket, in each of the two tables: some 60 bytes
per request stored, about what the request's row in ``events`` takes. Pseudonyms rotated by
``channelhub pseudonyms rotate`` stay as they were in the states: a subscriber who asked both
before and after a rotation counts as two people, as in the SMS hall's senders.

Two tables of widening buckets cover a range between them (:data:`LEVELS`): whole UTC hours
from ``demand_per_hour``, the whole minutes at their edges from ``demand_per_minute``; the
seconds left (from a retirement to its next minute, from the last whole minute to the end)
are read from ``events``. Both are filled by materialized views on ``events`` and, over the
events stored before them, by fills a share of the subscribers at a time
(:data:`sinks.tables.FILL_SLICES`): a bucket's states from several shares merge into the
same answer.
"""

from sinks.engines import aggregating_merge_tree
from sinks.tables import View

#: A request's key, as the panel looks it up: ``<channel> <slot>``.
KEY = """concat(channel, ' ', multiIf(
    event_type = 'ivr.menu_selected', visitParamExtractString(attributes, 'key_path'),
    event_type = 'sms.message_received', lowerUTF8(visitParamExtractString(attributes, 'text')),
    event_type = 'kiosk.service_completed', visitParamExtractString(attributes, 'service'),
    visitParamExtractString(attributes, 'function')))"""

_TEXT = "visitParamExtractString(attributes, 'text')"

#: The events that can be a request for a catalogue entry: every menu selection, hall page of a
#: withdrawn function and kiosk service; of the SMS, those the hall matched to nothing shaped as
#: a code or a keyword.
DEMAND = f"""event_type IN ('ivr.menu_selected', 'sms.message_received',
                     'web.function_unavailable', 'wap.function_unavailable',
                     'kiosk.service_completed')
  AND (event_type != 'sms.message_received'
       OR (visitParamExtractString(attributes, 'match_kind') = 'unknown'
           AND ((lengthUTF8({_TEXT}) BETWEEN 1 AND 8 AND match({_TEXT}, '^[0-9]+$'))
                OR (lengthUTF8({_TEXT}) BETWEEN 1 AND 16
                    AND NOT match({_TEXT}, '[\\\\s\\\\p{{Z}}\\\\p{{Nd}}]')))))"""


#: :data:`DEMAND` inside a ``{db}`` template (braces doubled for ``str.format``).
_DEMAND_SQL = DEMAND.replace("{", "{{").replace("}", "}}")


def _demand(name: str, bucket: str, start_of: str) -> View:
    """The aggregate table ``name`` of each key per ``bucket`` (``start_of``: the SQL of the
    bucket an event falls in), its materialized view and its sliced fill."""
    select = f"""
SELECT {KEY} AS key, {start_of} AS {bucket},
       uniqExactState(event_id) AS requests, uniqExactState(subscriber) AS people
FROM {{db}}.events
WHERE {_DEMAND_SQL}{{where}}
GROUP BY key, {bucket}
"""
    create = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{name} (
    key String,
    {bucket} DateTime('UTC'),
    requests AggregateFunction(uniqExact, String),
    people AggregateFunction(uniqExact, String)
) {aggregating_merge_tree(partition_by=f"toYYYYMM({bucket})", order_by=f"key, {bucket}")}
"""
    view = (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.{name}_mv TO {{db}}.{name} AS "
        + select.replace("{where}", "")
    )
    fill = f"INSERT INTO {{db}}.{name} " + select.replace("{where}", "\n  AND {slice}")
    return View(name=name, create_statements=(create, view), fill_statements=(fill,))


DEMAND_PER_HOUR = _demand("demand_per_hour", "hour", "toStartOfHour(occurred_at)")
DEMAND_PER_MINUTE = _demand("demand_per_minute", "minute", "toStartOfMinute(occurred_at)")

#: The tables that cover a range, widest buckets first: (table, its bucket column, the
#: bucket's length in seconds). An hour is made of whole minutes.
LEVELS: tuple[tuple[str, str, int], ...] = (
    ("demand_per_hour", "hour", 3_600),
    ("demand_per_minute", "minute", 60),
)
