"""The fault suite's oracle: the nudge decisions a list of events must end in, recomputed from
the specification rather than by the nudge core.

The fault suite checks the decisions the running pipeline wrote to ClickHouse. Checking them
against the nudge core folded offline would only prove that the core agrees with itself, so a
bug in the core would pass both sides. This module decides again, from what the product says:

- the rules are read from the shipped TOML files (``orchestration/rules/config``) with
  ``tomllib``, and their conditions are tested here against facts computed here;
- the guardrails are the documented checks in their documented order (duplicate, expired,
  opted out, not due, quiet hours, live call, caps, holdout, gateway rate), each written out
  below with plain integers: microseconds for instants, epoch seconds for caps, exact
  fractions for the token bucket, a fixed UTC+8 for the province's local time (Asia/Shanghai
  has had no daylight saving since 1991);
- each partition is one plain loop over its events in offset order, with a dict per
  subscriber, a heap of held requests and the watermark (newest event time of the partition).

What is shared with the production code, and why that does not make this circular:

- :func:`schemas.nudges.nudge_id`: how a nudge's id is named (a hash of rule and trigger). It
  decides nothing; sharing it is what lets the two sides' ids be compared at all.
- ``orchestration.rules.guidance.WAYS``: the catalogue table of each item's SMS code and web
  and WAP functions, read as data like the TOML files. (Importing it loads the
  ``orchestration.rules`` package; nothing from it but the table is used.)
- the event schemas (:mod:`schemas`): the input, already decoded and validated, and
  :func:`schemas.routing_key`, the Kafka key the validator writes each event with.
- ``murmur2`` of the Kafka client: which partition the broker puts a key in, a fact about
  Kafka, not a decision of ours.

The holdout hash and the opt-out grammar are written out again here from their docstrings.
Nothing of ``streams``, the guardrail policy and state, rule evaluation, journeys or
attribution is imported (``tests/faults/test_oracle.py`` checks the import list); goals and
conversions are left out because no decision depends on them.
"""

import heapq
import math
import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from fractions import Fraction
from hashlib import sha256
from pathlib import Path
from typing import Any

from kafka.partitioner.default import murmur2

import orchestration
from orchestration.rules.guidance import WAYS
from schemas import Event, event_type_of, routing_key
from schemas.nudges import nudge_id

#: nudge id, outcome, reason ("" for none), decided at (epoch ms): one row of nudge_decisions.
Decided = tuple[str, str, str, int]

RULES_DIR = Path(orchestration.__file__).parent / "rules" / "config"

SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US
LOCAL_OFFSET_US = 8 * HOUR_US  # Asia/Shanghai, all year
WEEK_S = 7 * 86_400

# From the nudge stage's and the guardrails' documentation: what each remembers and for how
# long, and how long a request waits when the subscriber is still in a call.
RECENT_EVENTS = 32  # event ids per subscriber, to drop at-least-once duplicates
LATE_MS = 15 * 60_000  # an event this much older than the subscriber's newest is a replay
REMEMBERED_DECISIONS = 64  # final decisions per subscriber, within a week, for "duplicate"
LIVE_CALL_TIMEOUT_MS = 2 * 3_600_000  # a call silent this long is over
LIVE_CALL_RETRY_US = 2 * MINUTE_US
UNKNOWN = "unknown"  # the item when the customer never said what they wanted

#: Event types whose own attributes say what the customer was after.
ITEM_ATTRIBUTE = {
    "ivr.menu_selected": "item",
    "ivr.self_service_completed": "item",
    "ivr.agent_requested": "topic",
    "agent.request_handled": "topic",
    "sms.confirmation_requested": "service",
    "sms.service_completed": "service",
    "kiosk.service_completed": "service",
}


# --- the rules, as the TOML files say -------------------------------------------------------


@dataclass(frozen=True)
class Guardrails:
    """A rule's ``[rule.guardrails]``, with the documented default for anything not given."""

    rule_per_day: int | None = 1
    rule_per_week: int | None = 3
    all_per_day: int | None = 3
    all_per_week: int | None = 10
    rolling_week: bool = False
    quiet: tuple[int, int] = (21 * HOUR_US, 8 * HOUR_US)  # local start, end: µs into the day
    drop_in_quiet_hours: bool = False
    holdout_share: float = 0.0
    allow_in_live_call: bool = False
    max_age_us: int = DAY_US
    opt_out_codes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Condition:
    """``field op value``, tested only on the trigger ``on`` names, if it names one."""

    field: str
    op: str
    value: object
    on: str | None


@dataclass(frozen=True)
class RuleSpec:
    """One rule file's ``[rule]`` table, as far as decisions depend on it."""

    id: str
    triggers: frozenset[str]
    delay_us: int
    conditions: tuple[Condition, ...]
    guardrails: Guardrails


def read_rules(directory: Path = RULES_DIR) -> list[RuleSpec]:
    """The enabled rules of ``directory``, in file-name order (the order they fire in)."""
    rules = []
    for path in sorted(directory.glob("*.toml")):
        rule = tomllib.loads(path.read_text(encoding="utf-8"))["rule"]
        if not rule.get("enabled", True):
            continue
        rules.append(
            RuleSpec(
                id=rule["id"],
                triggers=frozenset(rule["triggers"]),
                delay_us=rule.get("delay_s", 0) * SECOND_US,
                conditions=tuple(
                    Condition(c["field"], c["op"], c["value"], c.get("on"))
                    for c in rule.get("conditions", [])
                ),
                guardrails=_guardrails(rule.get("guardrails", {})),
            )
        )
    return rules


def _guardrails(table: dict[str, Any]) -> Guardrails:
    defaults = Guardrails()
    caps, window = table.get("caps", {}), table.get("quiet_hours", {})
    return Guardrails(
        rule_per_day=caps.get("rule_per_day", defaults.rule_per_day),
        rule_per_week=caps.get("rule_per_week", defaults.rule_per_week),
        all_per_day=caps.get("all_per_day", defaults.all_per_day),
        all_per_week=caps.get("all_per_week", defaults.all_per_week),
        rolling_week=caps.get("week", "calendar") == "rolling",
        quiet=(_in_day(window.get("start", time(21))), _in_day(window.get("end", time(8)))),
        drop_in_quiet_hours=window.get("policy", "hold") == "drop",
        holdout_share=table.get("holdout_share", defaults.holdout_share),
        allow_in_live_call=table.get("allow_in_live_call", defaults.allow_in_live_call),
        max_age_us=_duration_us(table.get("max_age", "PT24H")),
        opt_out_codes=frozenset(table.get("opt_out_codes", ())),
    )


def _in_day(clock: time) -> int:
    return ((clock.hour * 60 + clock.minute) * 60 + clock.second) * SECOND_US + clock.microsecond


_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


def _duration_us(value: str) -> int:
    """An ISO 8601 duration in whole days, hours, minutes and seconds (``PT24H``)."""
    match = _DURATION.fullmatch(value)
    if match is None:
        raise ValueError(f"max_age {value!r}: the oracle reads durations like 'PT24H' or 'P1D'")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * MINUTE_US + seconds * SECOND_US


# --- state -----------------------------------------------------------------------------------


@dataclass
class Request:
    """A rule asks to send one SMS for one trigger."""

    nudge_id: str
    rule: RuleSpec
    msisdn: str
    requested_us: int
    send_us: int


@dataclass
class Subscriber:
    """What the decisions need to know about one subscriber."""

    recent: list[str] = field(default_factory=list)
    newest_ms: int = 0
    opt_outs: set[str] = field(default_factory=set)
    #: (rule id, epoch second) of every send, holdouts included: what caps count.
    sent: list[tuple[str, int]] = field(default_factory=list)
    #: (nudge id, epoch second) of the final decisions still remembered.
    decided: list[tuple[str, int]] = field(default_factory=list)
    held: dict[str, Request] = field(default_factory=dict)
    # the IVR call in progress
    call_session: str | None = None
    call_last_ms: int = 0
    call_busy: bool = False
    call_item: str = UNKNOWN
    # the latest SMS-hall dialogue
    sms_session: str | None = None
    sms_service: str | None = None
    sms_reply_due: bool = False

    def live_call(self, now_ms: int) -> bool:
        return self.call_session is not None and now_ms - self.call_last_ms <= LIVE_CALL_TIMEOUT_MS


@dataclass
class Partition:
    """One partition's subscribers, watermark, token bucket, held requests and decisions."""

    rate: Fraction  # tokens per second: this partition's share of the gateway
    burst: int
    subscribers: dict[str, Subscriber] = field(default_factory=dict)
    watermark_ms: int = 0
    tokens: Fraction = Fraction(0)
    bucket_us: int = 0
    last_slot_us: int = 0
    #: (due ms, msisdn, nudge id) of every held request.
    due: list[tuple[int, str, str]] = field(default_factory=list)
    decided: set[Decided] = field(default_factory=set)


# --- the loop --------------------------------------------------------------------------------


def decisions(events: Iterable[Event], partitions: int, rate_per_second: float) -> set[Decided]:
    """Every decision the nudge stage must make for ``events`` (in their produced order) on
    ``partitions`` partitions sharing a gateway of ``rate_per_second``."""
    rules = read_rules()
    share = Fraction(rate_per_second) / partitions
    parts = [Partition(rate=share, burst=max(1, round(float(share)))) for _ in range(partitions)]
    for event in events:
        part = parts[(murmur2(routing_key(event)) & 0x7FFFFFFF) % partitions]
        at_us = _epoch_us(event.occurred_at)
        part.watermark_ms = max(part.watermark_ms, at_us // 1000)
        _release(part)
        _on_event(part, rules, event, at_us)
    return set().union(*(part.decided for part in parts))


def _epoch_us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _release(part: Partition) -> None:
    """Decide again, at the watermark, every held request whose time has come."""
    while part.due and part.due[0][0] <= part.watermark_ms:
        _, held_id, msisdn = heapq.heappop(part.due)
        sub = part.subscribers[msisdn]
        _decide(part, sub, sub.held.pop(held_id), part.watermark_ms * 1000)


def _on_event(part: Partition, rules: list[RuleSpec], event: Event, at_us: int) -> None:
    if event.msisdn is None:
        return
    sub = part.subscribers.setdefault(event.msisdn, Subscriber())
    at_ms = at_us // 1000
    if event.event_id in sub.recent:
        return  # a duplicate: neither evaluated nor applied
    event_type = event_type_of(event)
    scope = opt_out_scope(event) if event_type == "sms.message_received" else None
    if scope is not None:
        sub.opt_outs.add(scope)  # however late: a subscriber who said TD is never sent to
    if at_ms < sub.newest_ms - LATE_MS:
        return  # a replay: neither evaluated nor applied
    fired = [rule for rule in rules if _fires(rule, event, event_type, sub, at_ms)]
    _update_journey(sub, event, event_type, at_ms)
    sub.recent = [*sub.recent, event.event_id][-RECENT_EVENTS:]
    sub.newest_ms = max(sub.newest_ms, at_ms)
    for rule in fired:
        request = Request(
            nudge_id=nudge_id(rule.id, event.event_id),
            rule=rule,
            msisdn=event.msisdn,
            requested_us=at_us,
            send_us=at_us + rule.delay_us,
        )
        if request.nudge_id not in sub.held:  # else a replayed trigger that is already waiting
            _decide(part, sub, request, at_us)


# --- the rules' conditions -------------------------------------------------------------------


def _fires(rule: RuleSpec, event: Event, event_type: str, sub: Subscriber, at_ms: int) -> bool:
    """Does ``event`` trigger ``rule``, judged on the subscriber *before* the event?"""
    if event_type not in rule.triggers:
        return False
    for c in rule.conditions:
        if c.on is not None and c.on != event_type:
            continue
        value = _fact(c.field, event, event_type, sub, at_ms)
        if not _holds(value, c.op, c.value):
            return False
    return True


def _holds(value: object, op: str, wanted: object) -> bool:
    if op == "eq":
        return value == wanted
    if op == "ne":
        return value != wanted
    if op in ("in", "not_in"):
        assert isinstance(wanted, list)
        return (value in wanted) == (op == "in")
    if not isinstance(value, int | float) or not isinstance(wanted, int | float):
        return False
    return {"gt": value > wanted, "ge": value >= wanted, "lt": value < wanted,
            "le": value <= wanted}[op]  # fmt: skip


def _fact(name: str, event: Event, event_type: str, sub: Subscriber, at_ms: int) -> object:
    """The value a condition names: an attribute of the event, or one of the derived facts
    the shipped rules use. An unknown name fails loudly, so a new rule field gets added here."""
    in_this_call = sub.live_call(at_ms) and sub.call_session == event.session_id
    if name == "call_busy_period":
        return in_this_call and sub.call_busy
    if name == "sms_result_reply_due":
        return sub.sms_session == event.session_id and sub.sms_reply_due
    if name in ("has_self_service_way", "online_hint"):
        item = _item(event, event_type, sub, in_this_call)
        way = WAYS.get(item)
        web, wap = (way.web_function, way.wap_function) if way else (None, None)
        if name == "has_self_service_way":
            return way is not None and bool(way.sms_code or web or wap)
        halls = [hall for hall, function in (("网上营业厅", web), ("手机营业厅", wap)) if function]
        return f"登录{'、'.join(halls)}" if halls else ""
    if hasattr(event.attributes, name):
        return getattr(event.attributes, name)
    raise KeyError(f"the oracle does not know rule field {name!r} for {event_type}; add it")


def _item(event: Event, event_type: str, sub: Subscriber, in_this_call: bool) -> str:
    """What the customer was after: named by the event, or by the call or SMS dialogue."""
    if event_type in ITEM_ATTRIBUTE:
        return str(getattr(event.attributes, ITEM_ATTRIBUTE[event_type]))
    if event.channel == "ivr":
        return sub.call_item if in_this_call else UNKNOWN
    if event.channel == "sms" and sub.sms_session == event.session_id:
        return sub.sms_service or UNKNOWN
    return UNKNOWN


def _update_journey(sub: Subscriber, event: Event, event_type: str, at_ms: int) -> None:
    """Follow the IVR call (started → ... → ended) and the SMS dialogue."""
    a: Any = event.attributes  # of the type ``event_type`` says
    if event_type == "ivr.call_started":
        sub.call_session, sub.call_last_ms = event.session_id, at_ms
        sub.call_busy, sub.call_item = a.busy_period, UNKNOWN
    elif event_type == "ivr.call_ended" and sub.call_session == event.session_id:
        sub.call_session = None
    elif event.channel == "ivr" and sub.call_session == event.session_id:
        sub.call_last_ms = max(sub.call_last_ms, at_ms)
        if event_type == "ivr.menu_selected":
            sub.call_item = a.item
        elif event_type == "ivr.agent_requested" and a.topic != UNKNOWN:
            sub.call_item = a.topic
        elif event_type == "ivr.queue_entered":
            sub.call_busy = a.busy_period
    elif event.channel == "sms":
        if sub.sms_session != event.session_id:
            sub.sms_session, sub.sms_service, sub.sms_reply_due = event.session_id, None, False
        if event_type == "sms.service_completed":
            sub.sms_service, sub.sms_reply_due = a.service, a.success
        elif event_type == "sms.reply_sent":
            sub.sms_reply_due = False


# --- the guardrails --------------------------------------------------------------------------


def _decide(part: Partition, sub: Subscriber, request: Request, now_us: int) -> None:
    """The guardrails' checks in their documented order; the first that applies decides."""
    g, now_s = request.rule.guardrails, now_us // SECOND_US

    def record(outcome: str, reason: str) -> None:
        part.decided.add((request.nudge_id, outcome, reason, now_us // 1000))

    def final(outcome: str, reason: str) -> None:
        record(outcome, reason)
        kept = [(known, at) for known, at in sub.decided if now_s - at < WEEK_S]
        sub.decided = [*kept, (request.nudge_id, now_s)][-REMEMBERED_DECISIONS:]

    def hold(reason: str, until_us: int) -> None:
        record("held", reason)
        sub.held[request.nudge_id] = request
        heapq.heappush(part.due, (-(-until_us // 1000), request.nudge_id, request.msisdn))

    opens = _quiet_until(g.quiet, now_us)
    if any(known == request.nudge_id for known, _ in sub.decided):
        record("suppressed", "duplicate")
    elif now_us - request.requested_us > g.max_age_us:
        record("suppressed", "expired")
    elif "*" in sub.opt_outs or g.opt_out_codes & sub.opt_outs:
        record("suppressed", "opted_out")
    elif now_us < request.send_us:
        hold("not_due", request.send_us)
    elif opens is not None and g.drop_in_quiet_hours:
        final("suppressed", "quiet_hours")
    elif opens is not None:
        hold("quiet_hours", opens)
    elif not g.allow_in_live_call and sub.live_call(now_us // 1000):
        hold("in_live_call", now_us + LIVE_CALL_RETRY_US)
    elif (cap := _cap_reached(sub, request.rule.id, g, now_us)) is not None:
        final("suppressed", cap)
    elif _holdout_score(request.rule.id, request.msisdn) < g.holdout_share:
        sub.sent.append((request.rule.id, now_s))
        final("holdout", "holdout")
    elif (slot := _take_token(part, now_us)) is not None:
        if slot - request.requested_us > g.max_age_us:
            record("suppressed", "expired")  # its slot comes after its trigger expires
        else:
            part.last_slot_us = slot
            hold("rate_limited", slot)
    else:
        sub.sent.append((request.rule.id, now_s))
        final("approved", "")


def _quiet_until(window: tuple[int, int], now_us: int) -> int | None:
    """When the quiet window ``now_us`` falls in ends, or None outside it (start inclusive,
    end exclusive, local wall clock; start after end crosses midnight)."""
    start, end = window
    local = now_us + LOCAL_OFFSET_US
    midnight = local - local % DAY_US - LOCAL_OFFSET_US  # today 00:00 local, as UTC µs
    clock = local % DAY_US
    if start < end:
        return midnight + end if start <= clock < end else None
    if clock >= start:
        return midnight + DAY_US + end
    return midnight + end if clock < end else None


def _cap_reached(sub: Subscriber, rule_id: str, g: Guardrails, now_us: int) -> str | None:
    """The most specific frequency cap one more send would break, counted in local days and
    weeks (calendar weeks start Monday 00:00; a rolling week is the last 7 days)."""
    local_day = (now_us + LOCAL_OFFSET_US) // DAY_US  # days since 1970-01-01, a Thursday
    day_s = (local_day * DAY_US - LOCAL_OFFSET_US) // SECOND_US
    monday = local_day - (local_day + 3) % 7
    week_s = (monday * DAY_US - LOCAL_OFFSET_US) // SECOND_US
    if g.rolling_week:
        week_s = now_us // SECOND_US - WEEK_S + 1
    mine = [at for rule, at in sub.sent if rule == rule_id]
    every = [at for _, at in sub.sent]
    for cap, times, since, reason in (
        (g.rule_per_day, mine, day_s, "frequency_cap_rule_day"),
        (g.rule_per_week, mine, week_s, "frequency_cap_rule_week"),
        (g.all_per_day, every, day_s, "frequency_cap_day"),
        (g.all_per_week, every, week_s, "frequency_cap_week"),
    ):
        if cap is not None and sum(at >= since for at in times) >= cap:
            return reason
    return None


def _holdout_score(rule_id: str, msisdn: str) -> float:
    """The subscriber's place in [0, 1) for this rule's control group: the first 8 bytes of
    SHA-256 of ``rule id, 0x1f, msisdn``, big-endian, over 2**64."""
    digest = sha256(f"{rule_id}\x1f{msisdn}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _take_token(part: Partition, now_us: int) -> int | None:
    """Take a gateway token at ``now_us``; None if one was free, else the send slot to try
    again at: when a whole token is free, and never less than one token interval after the
    previous slot handed out (a burst queues up instead of all retrying at once). The caller
    hands the slot out (``part.last_slot_us``) only if the request is held for it."""
    now_us = max(now_us, part.bucket_us)
    tokens = min(
        Fraction(part.burst), part.tokens + part.rate * (now_us - part.bucket_us) / SECOND_US
    )
    if tokens >= 1:
        part.tokens, part.bucket_us = tokens - 1, now_us
        return None
    free_us = now_us + math.ceil((1 - tokens) * SECOND_US / part.rate)
    return max(free_us, part.last_slot_us + round(SECOND_US / part.rate))


# --- opt-outs --------------------------------------------------------------------------------

_OPT_OUT_WORDS = ("TD退订", "退订TD", "TD", "退订")


def opt_out_scope(sms: Event) -> str | None:
    """What an SMS to 10086 opts out of: ``"*"`` for all, a numeric code, or None.

    Its whole text, after NFKC, upper case and dropping spaces, punctuation, symbols and control
    characters, reading ``[请]TD|退订|TD退订|退订TD`` with an optional code of 1-8 digits.
    """
    text: str = sms.attributes.text  # type: ignore[union-attr]
    folded = unicodedata.normalize("NFKC", text).upper()
    bare = "".join(ch for ch in folded if unicodedata.category(ch)[0] not in "ZPSC")
    bare = bare.removeprefix("请")
    for word in _OPT_OUT_WORDS:
        if bare.startswith(word):
            code = bare[len(word) :]
            if code == "":
                return "*"
            if len(code) <= 8 and code.isascii() and code.isdigit():
                return code
    return None
