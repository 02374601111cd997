"""The SMS hall deep-dive: what customers text to 10086, how it is matched, what nobody
understood, and how far charged services get through two-step confirmation.

Texts are free and personal. The sink already stored every subscriber number in them as its
pseudonym token (``msisdn:k<id>.<hex>``, :mod:`kernel.scrub`); the unknown-text samples are
stored with each token, and every other run of :data:`MASKED_DIGITS` or more digits (an
account number), replaced by :data:`MASK`, so texts that differ only in their numbers are one
group, with a count of distinct senders instead of any sender.

The texts and the unknown ones are read from their per-minute tables
(:mod:`sinks.tables.channel_rollups`), so ranges are whole minutes, as every page's are; they
count what the sink inserted, which holds no duplicates. Confirmations are counted per dialogue
(``session_id``) whose first prompt was sent in the range, followed for :data:`FOLLOW` after
it, longer than the hall's 10-minute confirmation timeout, from ``sms_confirmations_per_hour``
(:mod:`sinks.tables.session_rollups`): per dialogue and hour, states a duplicate cannot change
(the prompt's time and command, the reply, whether the service ran and worked), merged here
over the hours read. Those are whole hours: a dialogue counts what it did from the hour the
range starts in to the end of the hour that holds the range's end plus :data:`FOLLOW`, the
same as reading ``events`` from the range's start to exactly :data:`FOLLOW` after its end for
every dialogue that prompts once and is over within :data:`FOLLOW`.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from clickhouse_driver import Client

from sinks.tables.channel_rollups import MASK, MASKED_DIGITS

__all__ = ["MASK", "MASKED_DIGITS", "confirmations", "messages", "unknown_texts"]

FOLLOW = timedelta(hours=1)
MATCH_KINDS = ("exact", "menu", "fuzzy", "unknown")

MESSAGES = """
SELECT match_kind, matched_code, sum(texts) AS n
FROM sms_texts_per_minute
WHERE minute >= toDateTime(%(start)s) AND minute < toDateTime(%(end)s)
GROUP BY match_kind, matched_code
"""

UNKNOWN_TEXTS = """
SELECT masked, countMerge(texts) AS n, uniqExactMerge(senders) AS senders
FROM sms_unknown_texts_per_minute
WHERE minute >= toDateTime(%(start)s) AND minute < toDateTime(%(end)s)
GROUP BY masked
ORDER BY n DESC, masked
LIMIT %(limit)s
"""

CONFIRMATIONS = """
SELECT code,
       count() AS prompted,
       countIf(reply = 'yes') AS yes,
       countIf(reply = 'no') AS no,
       countIf(reply = 'timeout') AS timed_out,
       countIf(ran) AS done,
       countIf(worked) AS succeeded
FROM (
    SELECT session_id,
           anyIfMerge(code_state) AS code,
           anyIfMerge(reply_state) AS reply,
           maxMerge(done_state) AS ran,
           maxMerge(succeeded_state) AS worked
    FROM sms_confirmations_per_hour
    WHERE hour >= toStartOfHour(toDateTime(%(start)s)) AND hour < toDateTime(%(follow)s)
    GROUP BY session_id
    HAVING minIfMerge(prompted_ms_state) >= %(start_ms)s
       AND minIfMerge(prompted_ms_state) < %(end_ms)s
)
GROUP BY code
"""


@dataclass(frozen=True)
class Messages:
    """Texts received in the range by match kind, and by the command they matched."""

    by_kind: dict[str, int]
    by_code: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    def top_codes(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` most used commands, ties by code."""
        return sorted(self.by_code.items(), key=lambda item: (-item[1], item[0]))[:n]


@dataclass(frozen=True)
class UnknownText:
    text: str
    """With every subscriber token and every run of :data:`MASKED_DIGITS`+ digits replaced
    by :data:`MASK`."""
    messages: int
    senders: int


@dataclass(frozen=True)
class Confirmation:
    """Two-step confirmation of one command: prompts, the replies, and what got done.

    A prompt not answered yet has no reply; ``done`` counts dialogues where the service then
    ran, ``succeeded`` those where it worked.
    """

    code: str
    prompted: int
    yes: int
    no: int
    timed_out: int
    done: int
    succeeded: int

    @property
    def unanswered(self) -> int:
        return self.prompted - self.yes - self.no - self.timed_out


def messages(client: Client, start: datetime, end: datetime) -> Messages:
    by_kind: Counter[str] = Counter(dict.fromkeys(MATCH_KINDS, 0))
    by_code: Counter[str] = Counter()
    for kind, code, n in client.execute(MESSAGES, _range(start, end)):
        by_kind[kind] += int(n)
        if code:
            by_code[code] += int(n)
    return Messages(dict(by_kind), dict(by_code))


def unknown_texts(client: Client, start: datetime, end: datetime, limit: int) -> list[UnknownText]:
    """The ``limit`` most frequent texts nothing matched, masked, most frequent first."""
    rows = client.execute(UNKNOWN_TEXTS, {**_range(start, end), "limit": limit})
    return [UnknownText(text, int(n), int(senders)) for text, n, senders in rows]


def confirmations(client: Client, start: datetime, end: datetime) -> list[Confirmation]:
    """One row per command that asked for confirmation, most prompted first."""
    rows = client.execute(CONFIRMATIONS, _range(start, end))
    found = [Confirmation(code, *(int(n) for n in counts)) for code, *counts in rows]
    return sorted(found, key=lambda c: (-c.prompted, c.code))


def _range(start: datetime, end: datetime) -> dict[str, int]:
    return {
        "start": int(start.timestamp()),
        "end": int(end.timestamp()),
        "follow": int((end + FOLLOW).timestamp()),
        "start_ms": int(start.timestamp()) * 1000,
        "end_ms": int(end.timestamp()) * 1000,
    }
