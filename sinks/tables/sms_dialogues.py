"""``channelhub.sms_dialogues``: the SMS confirmation dialogues the nudge stage summarised once
they were over, and ``sms_confirmations_per_minute``, their sums per minute of the first prompt
and command: all the SMS hall's confirmation panel reads.

Merging each dialogue's per-hour states (``sms_confirmations_per_hour``,
:mod:`sinks.tables.session_rollups`) at query time took close to a second for a day of a
province: millions of dialogues, each a group. The stage keyed by subscriber follows each
dialogue (:mod:`orchestration.sms_dialogues`), so a dialogue is a row here when it is over,
and the panel sums about 1440 rows per command per day of its range, whole minutes.

The sink inserts a dialogue once (its id is the same when the stage summarises it again after
a restart), so the materialized view sums every row it sees. The events stored before the
stage summarised dialogues are summarised once by this table's fill, which the migration runs:
the panel's definitions before, each dialogue grouped from all its stored events.
"""

from typing import Any

from kernel.pseudonym import Pseudonymizer
from schemas.dialogues import DialogueSummarised
from sinks.engines import replacing_merge_tree, summing_merge_tree
from sinks.tables import Table, View, letters, millis, moment

NAME = "sms_dialogues"

CREATE_SMS_DIALOGUES = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{NAME} (
    dialogue_id String,
    subscriber String,
    prompted_at DateTime('UTC'),
    prompted_ms UInt16,
    code String,
    reply String,
    ran UInt8,
    worked UInt8,
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) {replacing_merge_tree(partition_by="toYYYYMM(prompted_at)", order_by="dialogue_id")}
"""

COLUMNS = (
    "dialogue_id", "subscriber", "prompted_at", "prompted_ms", "code", "reply", "ran", "worked",
    "kafka_partition", "kafka_offset", "ingested_at",
)  # fmt: skip


def _values(d: DialogueSummarised, pseudonymize: Pseudonymizer) -> tuple[str, tuple[Any, ...]]:
    """The dialogue's id and its row, from ``sms.dialogues``; no reply is ``''``."""
    prompted = moment(d.prompted_at)
    return d.dialogue_id, (
        d.dialogue_id,
        pseudonymize(d.msisdn),
        prompted,
        millis(prompted),
        d.code,
        d.reply or "",
        int(d.ran),
        int(d.worked),
    )


TABLE = Table[DialogueSummarised](
    name=NAME,
    create_statements=(CREATE_SMS_DIALOGUES,),
    columns=COLUMNS,
    id_column="dialogue_id",
    time_column="prompted_at",
    values=_values,
)

_MS = "toUInt64(occurred_at) * 1000 + occurred_ms"
_PROMPTED = "event_type = 'sms.confirmation_requested'"
_SERVICE = "event_type = 'sms.service_completed'"

#: The dialogues of the events stored before the stage summarised them, as the panel grouped
#: them: per session with a prompt, its first prompt's time, the command, any reply, whether
#: the service ran and whether it worked. Its id, in letters only as the stage's ids are.
FILL_DIALOGUES = f"""
INSERT INTO {{db}}.{NAME} ({", ".join(COLUMNS)})
SELECT concat('stored-', {letters("lower(hex(sipHash64(session_id)))")}, '-dialogue'),
       subscriber,
       toDateTime(intDiv(prompted, 1000)), prompted % 1000,
       code, reply, ran, worked,
       0 AS kafka_partition, toUInt64(0) AS kafka_offset, now() AS ingested_at
FROM (
    SELECT session_id, subscriber,
           minIf({_MS}, {_PROMPTED}) AS prompted,
           anyIf(visitParamExtractString(attributes, 'code'), {_PROMPTED}) AS code,
           anyIf(visitParamExtractString(attributes, 'reply'),
                 event_type = 'sms.confirmation_replied') AS reply,
           max({_SERVICE}) AS ran,
           max({_SERVICE} AND visitParamExtractBool(attributes, 'success')) AS worked
    FROM {{db}}.events
    WHERE channel = 'sms' AND subscriber != '' AND {{slice}}
      AND event_type IN ('sms.confirmation_requested', 'sms.confirmation_replied',
                         'sms.service_completed')
    GROUP BY session_id, subscriber
    HAVING countIf({_PROMPTED}) > 0
)
WHERE (SELECT count() FROM {{db}}.{NAME} WHERE {{slice}}) = 0
"""

SMS_CONFIRMATIONS_PER_MINUTE = View(
    name="sms_confirmations_per_minute",
    create_statements=(
        f"""
CREATE TABLE IF NOT EXISTS {{db}}.sms_confirmations_per_minute (
    minute DateTime('UTC'),
    code String,
    prompted UInt64,
    yes UInt64,
    no UInt64,
    timed_out UInt64,
    done UInt64,
    succeeded UInt64
) {summing_merge_tree(partition_by="toYYYYMM(minute)", order_by="minute, code")}
""",
        f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.sms_confirmations_per_minute_mv
TO {{db}}.sms_confirmations_per_minute
AS SELECT toStartOfMinute(prompted_at) AS minute,
          code,
          count() AS prompted,
          countIf(reply = 'yes') AS yes,
          countIf(reply = 'no') AS no,
          countIf(reply = 'timeout') AS timed_out,
          countIf(ran = 1) AS done,
          countIf(worked = 1) AS succeeded
FROM {{db}}.{NAME}
GROUP BY minute, code
""",
    ),
    fill_statements=(FILL_DIALOGUES,),
)
