"""Unmet demand: requests that still arrive for what the service catalogue retired.

Once a retirement has closed an entry and no service has it open again
(:meth:`orchestration.catalogue.Catalogue.retired`), what customers still ask for there is
demand the channel no longer meets, counted from the retirement on:

- IVR: ``ivr.menu_selected`` at the retired key path (the menu no longer leads anywhere);
- SMS hall: ``sms.message_received`` the hall matched to nothing (``match_kind = 'unknown'``)
  whose whole text is the retired code or one of its keywords (in any case);
- web and WAP halls: ``*.function_unavailable`` of the retired function (its page opened, saying
  the function is withdrawn);
- kiosks: ``kiosk.service_completed`` of the retired service.

A Chinese keyword inside a longer text is not counted: the hall matches it anywhere, but the
text alone cannot say which of several it meant. Each event is counted once by its id
(``uniqExact``), so a duplicate the sink has not collapsed yet counts once; ``people`` are
distinct subscriber pseudonyms.

Months since a retirement at a province's volume are too many events to read on each view:
each key's range is read from the per-key aggregate tables of :mod:`sinks.tables.demand_rollups`
(whole hours, then whole minutes at their edges) and from ``events`` only for the seconds left
at its two ends (:func:`cover`). The states are exact (each event id and pseudonym kept), so
the answer is the one of ``events`` alone.
"""

from dataclasses import dataclass
from datetime import datetime

from clickhouse_driver import Client

from orchestration.catalogue import Retired
from schemas.catalogue import SmsHallCode
from sinks.tables.demand_rollups import DEMAND, KEY, LEVELS

#: Each retired entry's requests and people, merged over the states of ``{parts}``: the
#: buckets and raw seconds that cover each key's range, joined by ``UNION ALL``.
UNMET = """
SELECT arrayElement(%(owners)s, indexOf(%(keys)s, key)) AS owner,
       uniqExactMerge(requests) AS requests, uniqExactMerge(people) AS people
FROM ({parts})
GROUP BY owner
"""

#: Some keys' states over whole buckets of one table (``{where}``: which keys over which).
_BUCKETS = """
SELECT key, requests, people FROM {table}
WHERE {where}
"""

#: Some keys' states over seconds of raw events (``{times}``: every range read; ``{where}``:
#: which keys over which).
_RAW = f"""
SELECT key, uniqExactState(event_id) AS requests, uniqExactState(subscriber) AS people
FROM (
    SELECT {KEY} AS key, occurred_at, event_id, subscriber
    FROM events
    WHERE {DEMAND}
      AND ({{times}})
)
WHERE {{where}}
GROUP BY key
"""

#: A span's level: an index of :data:`LEVELS`, or None for raw events.
Level = int | None
#: The buckets' lengths, widest first.
LENGTHS = [seconds for *_, seconds in LEVELS]


@dataclass(frozen=True)
class Unmet:
    """Requests for one retired entry since it was retired, and how many people made them."""

    service: str
    channel: str
    slot: str
    retired_at: datetime
    requests: int
    people: int


def _keys(retired: Retired) -> list[str]:
    """What a request for ``retired`` looks like in the query: ``<channel> <slot>``, and for an
    SMS code each of its keywords as a whole text too (compared in lower case)."""
    entry = retired.entry
    if isinstance(entry, SmsHallCode):
        return [f"sms {text.lower()}" for text in (entry.code, *entry.keywords)]
    return [f"{retired.channel} {retired.slot}"]


def unmet(client: Client, retired: list[Retired], end: datetime) -> list[Unmet]:
    """Every retired entry with the requests that arrived for it until ``end``, most first."""
    keys: list[str] = []
    owners: list[int] = []
    since: dict[int, list[str]] = {}  # a retirement's time → its keys
    for i, entry in enumerate(retired):
        for key in _keys(entry):
            if key not in keys:  # one code's keyword that is also another's text
                keys.append(key)
                owners.append(i)
                since.setdefault(int(entry.at.timestamp()), []).append(key)
    query, params = _query(since, int(end.timestamp()))
    rows = client.execute(query, {**params, "keys": keys, "owners": owners}) if query else []
    counts = {int(owner): (int(requests), int(people)) for owner, requests, people in rows}
    found = [
        Unmet(r.service, r.channel, r.slot, r.at, *counts.get(i, (0, 0)))
        for i, r in enumerate(retired)
    ]
    return sorted(found, key=lambda u: (-u.requests, u.channel, u.slot))


def _query(since: dict[int, list[str]], end: int) -> tuple[str, dict[str, object]]:
    """:data:`UNMET` over the spans that cover each key's range, from its retirement (Unix
    seconds → the keys retired then) to ``end``, and its parameters; "" when every range is
    empty."""
    params: dict[str, object] = {}
    chosen: dict[Level, list[str]] = {}  # per level: which keys over which of its spans
    times: dict[tuple[int, int], str] = {}  # every raw span read, once
    for g, (start, keys) in enumerate(sorted(since.items())):
        params[f"keys_{g}"] = tuple(keys)
        spans: dict[Level, list[str]] = {}
        for s, (level, low, high) in enumerate(cover(start, end, LENGTHS)):
            params[f"from_{g}_{s}"], params[f"to_{g}_{s}"] = low, high
            column = "occurred_at" if level is None else LEVELS[level][1]
            span = (
                f"({column} >= toDateTime(%(from_{g}_{s})s)"
                f" AND {column} < toDateTime(%(to_{g}_{s})s))"
            )
            spans.setdefault(level, []).append(span)
            if level is None:
                times.setdefault((low, high), span)
        for level, found in spans.items():
            chosen.setdefault(level, []).append(f"(key IN %(keys_{g})s AND ({' OR '.join(found)}))")
    parts = [
        _BUCKETS.format(table=table, where=" OR ".join(chosen[level]))
        for level, (table, *_) in enumerate(LEVELS)
        if level in chosen
    ]
    if None in chosen:
        raw = _RAW.replace("{times}", " OR ".join(times.values()))
        parts.append(raw.replace("{where}", " OR ".join(chosen[None])))
    return (UNMET.format(parts="UNION ALL".join(parts)) if parts else ""), params


def cover(low: int, high: int, lengths: list[int], level: int = 0) -> list[tuple[Level, int, int]]:
    """The spans that cover ``[low, high)`` (Unix seconds) exactly, in time order, as (level,
    from, to): the whole buckets of ``lengths[level]`` inside it (each length a multiple of the
    next), then the narrower ones at their edges, and the seconds left as raw events (None)."""
    if low >= high:
        return []
    if level == len(lengths):
        return [(None, low, high)]
    seconds = lengths[level]
    first, last = -(-low // seconds) * seconds, high // seconds * seconds
    if first >= last:
        return cover(low, high, lengths, level + 1)
    return [
        *cover(low, first, lengths, level + 1),
        (level, first, last),
        *cover(last, high, lengths, level + 1),
    ]
