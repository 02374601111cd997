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
(``session_id``) whose first prompt was sent in the range, once it is over: the nudge stage
summarises each dialogue at its service's completion, at a "no" or "timeout" reply, or once it
has had no event for :data:`FOLLOW`, longer than the hall's 10-minute confirmation timeout
(:mod:`orchestration.sms_dialogues`), and a materialized view sums the summaries per minute of
the first prompt and command (:mod:`sinks.tables.sms_dialogues`). So the panel reads about
1440 rows per command per day of its range, where merging each dialogue's per-hour states
(``sms_confirmations_per_hour``) made millions of groups a day of a province; a dialogue still
open is not counted yet. The migration that made the summaries filled them from the stored
events with the definitions the panel applied to them before.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from clickhouse_driver import Client

from schemas.dialogues import DIALOGUE_FOLLOW_MS
from sinks.tables.channel_rollups import MASK, MASKED_DIGITS

__all__ = ["MASK", "MASKED_DIGITS", "confirmations", "messages", "unknown_texts"]

#: A dialogue is over, at the latest, once it has had no event for this long.
FOLLOW = timedelta(milliseconds=DIALOGUE_FOLLOW_MS)
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
SELECT code, sum(prompted), sum(yes), sum(no), sum(timed_out), sum(done), sum(succeeded)
FROM sms_confirmations_per_minute
WHERE minute >= toDateTime(%(start)s) AND minute < toDateTime(%(end)s)
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
    return {"start": int(start.timestamp()), "end": int(end.timestamp())}
