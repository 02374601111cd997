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
"""

from dataclasses import dataclass
from datetime import datetime

from clickhouse_driver import Client

from orchestration.catalogue import Retired
from schemas.catalogue import SmsHallCode

UNMET = """
SELECT arrayElement(%(owners)s, indexOf(%(keys)s, key)) AS owner,
       uniqExact(event_id) AS requests, uniqExact(subscriber) AS people
FROM (
    SELECT event_id, subscriber, occurred_at,
           concat(channel, ' ', multiIf(
               event_type = 'ivr.menu_selected', visitParamExtractString(attributes, 'key_path'),
               event_type = 'sms.message_received',
                   lowerUTF8(visitParamExtractString(attributes, 'text')),
               event_type = 'kiosk.service_completed',
                   visitParamExtractString(attributes, 'service'),
               visitParamExtractString(attributes, 'function'))) AS key
    FROM events
    WHERE event_type IN ('ivr.menu_selected', 'sms.message_received',
                         'web.function_unavailable', 'wap.function_unavailable',
                         'kiosk.service_completed')
      AND occurred_at >= toDateTime(%(start)s) AND occurred_at < toDateTime(%(end)s)
      AND (event_type != 'sms.message_received'
           OR visitParamExtractString(attributes, 'match_kind') = 'unknown')
)
WHERE indexOf(%(keys)s, key) > 0
  AND toUInt32(occurred_at) >= arrayElement(%(since)s, indexOf(%(keys)s, key))
GROUP BY owner
"""


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
    if not retired:
        return []
    keys: list[str] = []
    owners: list[int] = []
    since: list[int] = []
    for i, entry in enumerate(retired):
        for key in _keys(entry):
            if key not in keys:  # one code's keyword that is also another's text
                keys.append(key)
                owners.append(i)
                since.append(int(entry.at.timestamp()))
    params = {
        "keys": keys,
        "owners": owners,
        "since": since,
        "start": min(since),
        "end": int(end.timestamp()),
    }
    counts = {
        int(owner): (int(requests), int(people))
        for owner, requests, people in client.execute(UNMET, params)
    }
    found = [
        Unmet(r.service, r.channel, r.slot, r.at, *counts.get(i, (0, 0)))
        for i, r in enumerate(retired)
    ]
    return sorted(found, key=lambda u: (-u.requests, u.channel, u.slot))
