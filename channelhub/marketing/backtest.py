"""Back-testing a rule: what it would have decided over stored history, sending nothing.

:func:`backtest` folds the canonical events ClickHouse holds through the live nudge stage's
own core (:class:`streams.nudge_core.NudgeCore`, one :class:`PartitionNudges` per partition
of ``channel.events``, events in offset order, each partition with its share of the gateway's
rate) with the rule file under test *and* the rules already enabled, as if the file had been
dropped into the rule directory: the rules compete for the same caps across rules and the same
gateway tokens, so a rule's decisions depend on its neighbours. It returns a
:class:`Backtest` report: the candidate's nudges per local day and prefecture, its outcomes by
guardrail reason, the subscribers and triggers it shares with each enabled rule, and the SMS
budget its approved nudges would have used. Rows in, report out: reading ClickHouse is
:mod:`channelhub.marketing.history`'s job, printing the CLI's.

The core decides on event time only, so a fold of the same events from the same (empty) state
gives the live stage's decisions exactly: every one, with its outcome, reason, instant and send
time, in the order each partition made them. That includes requests due at the same instant
(the end of quiet hours releases every request held for it at once): the stage re-decides them
in the order of their nudge ids, made of the rule id and the trigger event's id, which the
back-test derives alike, so even which of them take the first gateway tokens comes out the
same. There are four exceptions worth knowing:

- **Subscribers are pseudonyms.** ClickHouse holds no MSISDN, so each pseudonym gets a
  stand-in number (:class:`StandIns`). Nothing the core decides reads the number except the
  holdout group, a hash of rule id and MSISDN. For a rule the live stage runs, membership is
  taken from its recorded decisions (a ``holdout`` outcome, or an approval, rate limit or
  budget refusal that comes after the holdout check); for a new rule, a rule whose
  ``holdout_share`` the candidate changes, or a subscriber the live stage never took that far,
  it is drawn from the pseudonym instead: the same share of different people. The report
  counts both (``holdout_observed``, ``holdout_drawn``).
- **State before the fold.** Caps, journeys, held requests and opt-outs from before the first
  event read are unknown: the fold starts ``warmup`` before the reported window, and is exact
  when that reaches back to the start of the live stage's history.
- **Campaigns** share caps and gateway tokens with the rules, but their chunks are not events:
  a window in which campaigns were sent is approximated without them.
- **The live rule directory may have changed** during the window (rules are reloaded while the
  stage runs); the back-test runs today's directory throughout. It reports whether the text
  under test is a published version of its content item (``published_version``; a draft is
  back-tested all the same, before it is published).
- **The service catalogue is taken at event time.** The stage suggests the self-service ways
  open when it reads an event and refuses a text naming an SMS code retired by the moment of
  its decision (``retired_service``); the back-test folds ``catalogue_events`` up to each
  event's time for both (:func:`orchestration.rules.guidance.in_context`). For live traffic
  the two agree but for the stage's catalogue poll (``rules_reload_seconds``) and the table's
  times, kept to the second; traffic replayed long after it happened was nudged live with the
  catalogue of the replay's day.

Within those, it also assumes the table holds what the stage read: a duplicate event the sink
dropped was skipped by the stage too (the stage remembers a subscriber's recent event ids), and
a local broker restarted within the window starts its offsets over.
"""

import dataclasses
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import groupby
from pathlib import Path
from typing import NamedTuple

import msgspec

from kernel.clock import from_ms, to_ms
from kernel.settings import Settings
from orchestration.catalogue import Catalogue, fold
from orchestration.content import Content
from orchestration.content.gate import rule_item
from orchestration.dispatch import encode_sms
from orchestration.guardrails import Budget, BudgetState, GuardrailPolicy, in_holdout
from orchestration.guardrails.budget import charge, would_exceed
from orchestration.guardrails.clock import to_local
from orchestration.rules import SHIPPED_RULES_DIR, Rule, guidance, load_rule_file, load_rules
from orchestration.rules.errors import RuleConfigError
from schemas import Event
from schemas.catalogue import CatalogueEvent
from schemas.events import PERSONAL_ATTRIBUTES
from schemas.nudges import DecidedNudge, NudgeRequest
from streams.nudge_core import NudgeCore, PartitionNudges
from streams.nudges import partition_policy

#: Events folded per call of the core, as a batch of the live stage (batch size changes no
#: decision: eviction, the only per-call work, drops states no decision reads).
CHUNK = 5000
#: How many days before the window a fold starts by default, so caps and held nudges carry in.
DEFAULT_WARMUP_DAYS = 7.0
#: Progress is reported every this many events.
PROGRESS_EVERY = 100_000
#: What a segment costs when the rule sets no budget of its own: the budget's default rate.
DEFAULT_FEN_PER_SEGMENT: int = next(
    f.default for f in msgspec.structs.fields(Budget) if f.name == "fen_per_segment"
)


class StoredEvent(NamedTuple):
    """One row of ``events``, as :mod:`channelhub.marketing.history` reads it."""

    partition: int
    offset: int
    event_id: str
    event_type: str
    channel: str
    occurred_ms: int
    subscriber: str  # the pseudonym; "" for an event about equipment
    session_id: str
    prefecture: str
    brand: str  # "" for none
    attributes: str  # JSON, personal attributes pseudonymised


class Decided(NamedTuple):
    """One decision as ``nudge_decisions`` records it, the subscriber by pseudonym."""

    nudge_id: str
    subscriber: str
    outcome: str
    reason: str  # "" for none
    decided_ms: int
    send_ms: int | None  # send_at, when a hold ends (the table keeps the second); None for none


class StandIns:
    """A stand-in MSISDN for each pseudonym, and back.

    Events must carry a valid MSISDN to decode and to be nudged; numbers are handed out in
    order of first sight (``13000000000``, ``13000000001``...), so two pseudonyms never share
    one.
    """

    def __init__(self) -> None:
        self._numbers: dict[str, str] = {}
        self._pseudonyms: dict[str, str] = {}

    def number(self, pseudonym: str) -> str:
        number = self._numbers.get(pseudonym)
        if number is None:
            number = f"13{len(self._numbers):09d}"
            self._numbers[pseudonym] = number
            self._pseudonyms[number] = pseudonym
        return number

    def pseudonym(self, number: str) -> str:
        return self._pseudonyms[number]


@dataclass
class Membership:
    """The holdout group as the back-test can know it (see the module docstring).

    ``observed`` maps (rule id, pseudonym) to membership as the live stage decided it; it is
    consulted only for ``observable`` rule ids.
    """

    standins: StandIns
    observed: Mapping[tuple[str, str], bool]
    observable: frozenset[str]
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def __call__(self, rule_id: str, msisdn: str, share: float) -> bool:
        if share <= 0.0:
            return False  # nobody is held out: nothing to know
        pseudonym = self.standins.pseudonym(msisdn)
        if rule_id in self.observable:
            known = self.observed.get((rule_id, pseudonym))
            if known is not None:
                self.counts[rule_id, "observed"] += 1
                return known
        self.counts[rule_id, "drawn"] += 1
        return in_holdout(rule_id, pseudonym, share)


@dataclass(frozen=True)
class Plan:
    """What to back-test, against what, over which window.

    ``live`` is the rule directory as the live stage runs it (file order); ``policy`` one
    partition's guardrail policy (:func:`streams.nudges.partition_policy`). Requests triggered
    in ``[start, end)`` are reported; the fold starts ``warmup`` earlier.
    """

    candidate: Rule
    live: tuple[Rule, ...]
    policy: GuardrailPolicy
    start: datetime
    end: datetime
    warmup: timedelta = timedelta(0)

    @property
    def folded_from(self) -> datetime:
        return self.start - self.warmup

    def rules(self) -> tuple[Rule, ...]:
        """The live rules with the candidate where its file would sort among theirs (or in
        place of the live rule with its id: an edited rule), enabled whatever it says."""
        candidate = _enabled(self.candidate)
        others = [r for r in self.live if r.id != candidate.id]
        same = next((r for r in self.live if r.id == candidate.id), None)
        name = Path((same or candidate).source).name
        before = [r for r in others if Path(r.source).name < name]
        return (*before, candidate, *others[len(before) :])

    def observable(self) -> frozenset[str]:
        """Rule ids whose recorded holdout membership holds for this run: the live rules, and
        the candidate only if it keeps its live namesake's ``holdout_share``."""
        live = {r.id: r.guardrails.holdout_share for r in self.live}
        share = self.candidate.guardrails.holdout_share
        return frozenset(i for i in live if i != self.candidate.id or live[i] == share)


def plan_for(
    settings: Settings,
    candidate: Rule,
    *,
    days: float,
    end: datetime,
    warmup: timedelta,
    rules_dir: Path | None = None,
) -> tuple[Plan, list[RuleConfigError]]:
    """The plan for back-testing ``candidate`` over the ``days`` before ``end`` beside the
    enabled rules of ``rules_dir`` (default: the nudge stage's directory), and the errors of
    the files the stage skips too. The one way the CLI and the campaigns page build a plan."""
    directory = rules_dir or settings.rules_dir or SHIPPED_RULES_DIR
    live, errors = load_rules(directory)
    plan = Plan(
        candidate=candidate, live=tuple(r for r in live if r.enabled),
        policy=partition_policy(settings), start=end - timedelta(days=days), end=end,
        warmup=warmup,
    )  # fmt: skip
    return plan, errors


def rule_from_text(text: str, name: str) -> Rule:
    """The rule in ``text``, as a rule file named ``name`` would load (the name places it among
    the enabled rules); raises :class:`RuleConfigError`, its message naming ``name``."""
    name = Path(name).name or "rule.toml"
    with tempfile.TemporaryDirectory(prefix="channelhub-rule-") as folder:
        path = Path(folder) / name
        path.write_text(text, encoding="utf-8")
        try:
            rule = load_rule_file(path)
        except RuleConfigError as e:
            raise RuleConfigError(name, e.rule, e.field, e.problem) from None
    return dataclasses.replace(rule, source=name)


class DayPrefecture(msgspec.Struct, frozen=True, kw_only=True):
    """The candidate's nudges decided on one local day for one prefecture."""

    day: date
    prefecture: str
    sent: int
    holdout: int


class Overlap(msgspec.Struct, frozen=True, kw_only=True):
    """What the candidate shares with one enabled rule: subscribers both sent an SMS in the
    window, and trigger events both answered with an approved SMS."""

    rule_id: str
    subscribers: int
    triggers: int


class BudgetUse(msgspec.Struct, frozen=True, kw_only=True):
    """The SMS the candidate's approvals would have cost, billed as the SMS centre bills
    (:mod:`orchestration.guardrails.budget`), and how many went past the rule's budget."""

    messages: int
    segments: int
    fen: int
    fen_per_segment: int
    max_messages: int | None
    max_fen: int | None
    over_budget: int


class Backtest(msgspec.Struct, frozen=True, kw_only=True):
    """What the candidate rule would have done in the window (see the module docstring).

    ``outcomes`` counts each request once, by how it ended: ``approved``, ``holdout``,
    ``suppressed:<reason>``, or ``held:<reason>`` when still waiting at the window's end;
    ``holds`` counts every "not now" on the way (a request held for quiet hours and then for
    the gateway counts twice).
    """

    rule_id: str
    source: str
    start: datetime
    end: datetime
    folded_from: datetime
    rules: list[str]
    events: int
    unreadable: int
    partitions: int
    requested: int
    outcomes: dict[str, int]
    holds: dict[str, int]
    nudged_subscribers: int
    by_day_prefecture: list[DayPrefecture]
    overlap: list[Overlap]
    overlap_any_rule: int
    budget: BudgetUse
    holdout_observed: int
    holdout_drawn: int
    #: The published version of the candidate's content item (``rule:<id>``) whose text it
    #: is; None for a text no published version has (a draft) or before publishing began.
    published_version: int | None = None
    #: Whether publishing was in force (``content_events`` holds a record): without it the
    #: live stage runs any text.
    publishing: bool = False
    #: Catalogue records folded as the events' time reached them.
    catalogue_records: int = 0


@dataclass(frozen=True)
class Ledgers:
    """The catalogue and content records a back-test reads beside the events: the catalogue
    in topic order (folded up to each event's time), the content folded to its end."""

    catalogue: tuple[CatalogueEvent, ...] = ()
    content: Content = field(default_factory=Content)


@dataclass(frozen=True)
class Replay:
    """The report, and every decision of the candidate in the window, in the order made."""

    report: Backtest
    decisions: tuple[Decided, ...]


@dataclass
class _Tally:
    """Everything counted while folding, for the report."""

    standins: StandIns
    plan: Plan
    events: int = 0
    unreadable: int = 0
    partitions: int = 0
    requested: int = 0
    decisions: list[Decided] = field(default_factory=list)
    decided: set[str] = field(default_factory=set)
    holds: Counter[str] = field(default_factory=Counter)
    days: Counter[tuple[date, str, str]] = field(default_factory=Counter)
    sent_to: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    sent_for: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    spent: BudgetState = field(default_factory=BudgetState)
    segments: int = 0
    over_budget: int = 0
    catalogue_records: int = 0

    def count(self, decided: Iterable[DecidedNudge], requests: Iterable[NudgeRequest]) -> None:
        start, end, rule = self.plan.start, self.plan.end, self.plan.candidate
        self.requested += sum(
            r.rule_id == rule.id and start <= r.requested_at < end for r in requests
        )
        for d in decided:
            r, decision = d.request, d.decision
            if not start <= r.requested_at < end:
                continue
            pseudonym = self.standins.pseudonym(r.msisdn)
            if decision.outcome == "approved":
                self.sent_to[r.rule_id].add(pseudonym)
                self.sent_for[r.rule_id].add(r.trigger_event_id)
            if r.rule_id != rule.id:
                continue
            reason = decision.reason or ""
            send_ms = None if decision.send_at is None else to_ms(decision.send_at)
            self.decisions.append(
                Decided(r.nudge_id, pseudonym, decision.outcome, reason,
                        to_ms(decision.decided_at), send_ms)
            )  # fmt: skip
            if decision.outcome == "held":
                self.holds[reason] += 1
                continue
            if r.nudge_id in self.decided:
                continue  # a later "duplicate" of a decided nudge: the first decision stands
            self.decided.add(r.nudge_id)
            if decision.outcome in ("approved", "holdout"):
                day = to_local(decision.decided_at).date()
                self.days[day, r.prefecture, decision.outcome] += 1
            if decision.outcome == "approved":
                self._bill(r.text, rule)

    def _bill(self, text: str, rule: Rule) -> None:
        budget = rule.guardrails.budget
        segments = encode_sms(text).segments
        cost = segments * (budget.fen_per_segment if budget else DEFAULT_FEN_PER_SEGMENT)
        if budget is not None and would_exceed(self.spent, budget, cost):
            self.over_budget += 1
        self.spent = charge(self.spent, cost)
        self.segments += segments

    def report(self, membership: Membership) -> Backtest:
        plan, rule = self.plan, self.plan.candidate
        outcomes = Counter(final_outcomes(self.decisions).values())
        mine, triggers = self.sent_to[rule.id], self.sent_for[rule.id]
        others = [r for r in plan.rules() if r.id != rule.id]
        budget = rule.guardrails.budget
        days = sorted({(day, prefecture) for day, prefecture, _ in self.days})
        return Backtest(
            rule_id=rule.id,
            source=rule.source,
            start=plan.start,
            end=plan.end,
            folded_from=plan.folded_from,
            rules=[r.id for r in plan.rules()],
            events=self.events,
            unreadable=self.unreadable,
            partitions=self.partitions,
            requested=self.requested,
            outcomes=dict(sorted(outcomes.items())),
            holds=dict(sorted(self.holds.items())),
            nudged_subscribers=len(mine),
            by_day_prefecture=[
                DayPrefecture(
                    day=day,
                    prefecture=prefecture,
                    sent=self.days[day, prefecture, "approved"],
                    holdout=self.days[day, prefecture, "holdout"],
                )
                for day, prefecture in days
            ],
            overlap=[
                Overlap(
                    rule_id=r.id,
                    subscribers=len(mine & self.sent_to[r.id]),
                    triggers=len(triggers & self.sent_for[r.id]),
                )
                for r in others
            ],
            overlap_any_rule=len(mine & set().union(*(self.sent_to[r.id] for r in others))),
            budget=BudgetUse(
                messages=self.spent.messages,
                segments=self.segments,
                fen=self.spent.fen,
                fen_per_segment=budget.fen_per_segment if budget else DEFAULT_FEN_PER_SEGMENT,
                max_messages=budget.max_messages if budget else None,
                max_fen=budget.max_fen if budget else None,
                over_budget=self.over_budget,
            ),
            holdout_observed=membership.counts[rule.id, "observed"],
            holdout_drawn=membership.counts[rule.id, "drawn"],
        )


def final_outcomes(decisions: Iterable[Decided]) -> dict[str, str]:
    """How each nudge ended, by nudge id: its first decision that is not a hold (``approved``,
    ``holdout`` or ``suppressed:<reason>``; a later ``duplicate`` of a decided nudge changes
    nothing), else ``held:<reason>`` of its last hold, still waiting."""
    final: dict[str, str] = {}
    waiting: dict[str, str] = {}
    for d in decisions:
        if d.outcome == "held":
            waiting[d.nudge_id] = f"held:{d.reason}"
        elif d.nudge_id not in final:
            final[d.nudge_id] = f"suppressed:{d.reason}" if d.outcome == "suppressed" else d.outcome
    return {**waiting, **final}


def _enabled(rule: Rule) -> Rule:
    """``rule`` as if its file said ``enabled = true``: a rule is back-tested before it is
    switched on."""
    return dataclasses.replace(rule, spec=msgspec.structs.replace(rule.spec, enabled=True))


def backtest(
    plan: Plan,
    rows: Iterable[StoredEvent],
    memberships: Mapping[tuple[str, str], bool],
    progress: Callable[[str], None] = lambda line: None,
    ledgers: Ledgers | None = None,
) -> Replay:
    """Fold ``rows`` (ordered by partition, then offset) through the live core under
    ``plan``; ``memberships`` is the holdout membership the live stage recorded, by (rule id,
    pseudonym); ``ledgers`` the catalogue and content records (none: the static ways, nothing
    retired, nothing published). See the module docstring for what makes the result exact."""
    ledgers = ledgers or Ledgers()
    standins = StandIns()
    membership = Membership(standins, memberships, plan.observable())
    policy = msgspec.structs.replace(plan.policy, holdout=membership)
    history = fold(ledgers.catalogue)
    core = NudgeCore(rules=plan.rules(), policy=policy, retired_codes=history.retired_codes_in)
    tally = _Tally(standins, plan)
    with guidance.in_context() as follow:
        for partition, stored in groupby(rows, key=lambda row: row.partition):
            tally.partitions += 1
            part = PartitionNudges()
            catalogue = _CatalogueAt(ledgers.catalogue, follow)
            for chunk in _chunks(_decoded(stored, standins, tally), catalogue):
                out = core.process(part, chunk)
                tally.count(out.decided, out.requests)
                if tally.events // PROGRESS_EVERY != (tally.events - len(chunk)) // PROGRESS_EVERY:
                    progress(f"partition {partition}: {tally.events:,} events folded")
            tally.catalogue_records = max(tally.catalogue_records, catalogue.applied)
    report = tally.report(membership)
    candidate = plan.candidate
    report = msgspec.structs.replace(
        report,
        published_version=ledgers.content.published_version(
            rule_item(candidate.id), candidate.spec.template
        ),
        publishing=bool(ledgers.content.items),
        catalogue_records=tally.catalogue_records,
    )
    return Replay(report, tuple(tally.decisions))


class _CatalogueAt:
    """The catalogue of one partition's fold, advanced record by record as the events' time
    reaches each record's, its ways made those of the fold's context (``follow``)."""

    def __init__(
        self, records: tuple[CatalogueEvent, ...], follow: Callable[[Catalogue], bool]
    ) -> None:
        self.records = records
        self.follow = follow
        self.catalogue = Catalogue()
        self.applied = 0
        follow(self.catalogue)  # each partition starts from before the first record

    def due(self, at_ms: int) -> bool:
        """Whether a record not folded yet was written by ``at_ms``."""
        return self.applied < len(self.records) and to_ms(self.records[self.applied].at) <= at_ms

    def advance(self, at_ms: int) -> None:
        """Fold every record written by ``at_ms``."""
        while self.due(at_ms):
            self.catalogue.apply(self.records[self.applied])
            self.applied += 1
        self.follow(self.catalogue)


def _chunks(
    events: Iterator[tuple[int, Event]], catalogue: _CatalogueAt
) -> Iterator[list[tuple[int, Event]]]:
    """``events`` in chunks of at most :data:`CHUNK`, cut where the catalogue changes: the
    chunk before a record's time is folded with the ways before it."""
    chunk: list[tuple[int, Event]] = []
    for offset, event in events:
        at_ms = to_ms(event.occurred_at)
        if catalogue.due(at_ms):
            if chunk:
                yield chunk
                chunk = []
            catalogue.advance(at_ms)
        chunk.append((offset, event))
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _decoded(
    rows: Iterable[StoredEvent], standins: StandIns, tally: _Tally
) -> Iterator[tuple[int, Event]]:
    """(offset, event) of each row; a row that no longer decodes (the sink's scrubbing made a
    value too long for its field) is counted as unreadable and left out."""
    for row in rows:
        tally.events += 1
        try:
            yield row.offset, _event(row, standins)
        except (msgspec.ValidationError, ValueError):
            tally.unreadable += 1


_decode_event = msgspec.json.Decoder(Event).decode
_encode = msgspec.json.Encoder().encode


def _event(row: StoredEvent, standins: StandIns) -> Event:
    """The canonical event a row was made from, the pseudonyms replaced by stand-in numbers."""
    attributes: object = msgspec.Raw(row.attributes.encode())
    if any(f'"{name}"' in row.attributes for name in PERSONAL_ATTRIBUTES):
        values = msgspec.json.decode(row.attributes)
        for name in PERSONAL_ATTRIBUTES & values.keys():
            values[name] = standins.number(values[name])
        attributes = values
    envelope = {
        "event_type": row.event_type,
        "event_id": row.event_id,
        "schema_version": 1,
        "channel": row.channel,
        "occurred_at": from_ms(row.occurred_ms),
        "msisdn": standins.number(row.subscriber) if row.subscriber else None,
        "session_id": row.session_id,
        "prefecture": row.prefecture,
        "brand": row.brand or None,
        "attributes": attributes,
    }
    return _decode_event(_encode(envelope))


def _published(report: Backtest) -> str:
    item = rule_item(report.rule_id)
    if not report.publishing:
        return "publishing not in force, any text runs"
    if report.published_version is None:
        return f"this text is not a published version of {item} (a draft)"
    return f"this text is version {report.published_version} of {item}, published"


def table(report: Backtest) -> list[str]:
    """The report as the lines of a readable table."""
    r = report
    lines = [
        f"rule {r.rule_id} ({r.source}), requests from {r.start.isoformat()} "
        f"to {r.end.isoformat()}",
        f"folded {r.events:,} events of {r.partitions} partitions from "
        f"{r.folded_from.isoformat()} ({r.unreadable} unreadable), with the rules "
        + ", ".join(r.rules),
        f"requested {r.requested:,}; {r.nudged_subscribers:,} subscribers sent an SMS",
        "",
        f"{'outcome':<40}{'nudges':>10}",
        *(f"{k:<40}{n:>10,}" for k, n in r.outcomes.items()),
        "",
        f"{'held on the way, by reason':<40}{'holds':>10}",
        *(f"{k:<40}{n:>10,}" for k, n in r.holds.items()),
        "",
        f"{'local day':<12}{'sent':>8}{'holdout':>9}  sent by prefecture",
    ]
    for day, rows in groupby(r.by_day_prefecture, key=lambda d: d.day):
        cells = list(rows)
        sent, held_out = sum(c.sent for c in cells), sum(c.holdout for c in cells)
        by = ", ".join(f"{c.prefecture} {c.sent}" for c in cells if c.sent)
        lines.append(f"{day.isoformat():<12}{sent:>8,}{held_out:>9,}  {by}")
    lines += [
        "",
        f"{'overlap with the enabled rules':<40}{'subscribers':>12}{'triggers':>10}",
        *(f"{o.rule_id:<40}{o.subscribers:>12,}{o.triggers:>10,}" for o in r.overlap),
        f"{'any of them':<40}{r.overlap_any_rule:>12,}",
        "",
    ]
    b = r.budget
    limits = (
        "no budget of its own"
        if b.max_messages is None and b.max_fen is None
        else f"budget {b.max_messages} messages, {b.max_fen} fen: {b.over_budget} over it"
    )
    lines += [
        f"SMS: {b.messages:,} messages, {b.segments:,} segments, {b.fen:,} fen "
        f"({b.fen / 100:,.2f} CNY) at {b.fen_per_segment} fen a segment; {limits}",
        f"holdout membership: {r.holdout_observed:,} as the live stage decided it, "
        f"{r.holdout_drawn:,} drawn from the pseudonym",
        f"service catalogue: {r.catalogue_records:,} records folded at their time; "
        + _published(r),
    ]
    return lines
