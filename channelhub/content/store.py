"""Reading and writing ``channel.content``: what the ``channelhub content`` commands do.

As for the catalogue (:mod:`channelhub.catalogue.store`): every write reads the topic to its
end, folds it (:func:`orchestration.content.fold`) and asks the fold whether it would accept
the new record; one it would refuse is not written, and the refusal is the error. Whether the
person holds the step's role (for the item's branch, for the branch roles) is checked against
the staff file first. Marking a version ``knowledge_checked`` runs the knowledge-base check
(:mod:`orchestration.content.knowledge`) on its text, and the record's note says what was
checked.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from clickhouse_driver import Client

from channelhub.content.seed import seed_records
from channelhub.ingest import ledger
from channelhub.recovery import topics
from channelhub.simulator.catalog import SMS_SERVICES
from kernel.errors import ConfigError
from kernel.settings import Settings
from orchestration.catalogue import load_staff, staff_file
from orchestration.content import (
    DRAFTER,
    STEPS,
    Content,
    KnowledgeCheckError,
    RefusedError,
    Version,
    fold,
    knowledge,
    role_for,
)
from orchestration.rules import SHIPPED_RULES_DIR, load_rules
from orchestration.rules.fields import common_fields
from schemas import content as records
from schemas.campaign_spec import TEMPLATE_FIELDS
from schemas.content import (
    BRANCH_ROLES,
    ContentEvent,
    Drafted,
    Rejected,
    Role,
    Step,
    StepTaken,
    branch_of,
)
from sinks.client import storage_errors
from sinks.tables import content_events


@dataclass(frozen=True)
class Read:
    """The content as folded from a source, and how many records there did not decode."""

    content: Content
    unreadable: int


@dataclass(frozen=True)
class Seeding:
    """What ``seed`` did: records written, already there, and items whose text in use is not
    the one they started with (each a line saying what to do)."""

    written: int
    present: int
    unpublished: list[str]


def read_topic(settings: Settings) -> Read:
    """The content folded from every record of ``channel.content``, in topic order."""
    reader = topics.consumer(settings.kafka_bootstrap, "channelhub-content-reader")
    try:
        tps = topics.partitions(reader, [settings.topic_content])
        ends = topics.end_offsets(reader, tps)
        read = sorted(
            ((r.partition, r.offset, r.value) for r in topics.read_to_end(reader, ends)),
            key=lambda r: (r[0], r[1]),
        )
    finally:
        reader.close()
    return _folded(value for _, _, value in read)


def read_clickhouse(client: Client, db: str) -> Read:
    """The content folded from ``content_events``: what the sink has written so far."""
    with storage_errors("cannot read the published content"):
        rows = client.execute(content_events.IN_ORDER.format(db=db))
    return _folded(content_events.record_json(row) for row in rows)


def _folded(values: Iterable[bytes | None]) -> Read:
    events, unreadable = ledger.decoded(values, records.decode)
    return Read(content=fold(events), unreadable=unreadable)


def seed(settings: Settings, *, at: datetime | None = None) -> Seeding:
    """Write the seed of every template in use whose item has no version yet."""
    content = read_topic(settings).content
    wanted = seed_records(at or datetime.now(UTC))
    missing = [r for r in wanted if content.judge(r) is None]
    present = [r for r in wanted if content.has_applied(r.event_id)]
    _produce(settings, missing)
    changed = [
        f"{r.item}: its text in use is not published; run `channelhub content draft {r.item} "
        "TEXT` and its reviews"
        for r in wanted
        if r not in missing and r not in present
        and content.published_version(r.item, r.text) is None
    ]  # fmt: skip
    return Seeding(written=len(missing), present=len(present), unpublished=changed)


def draft(settings: Settings, item: str, text: str, *, by: str, note: str = "") -> Drafted:
    """``by``, a branch maintainer for the item's branch, drafts its next version."""
    _require(settings, by, DRAFTER, item)
    content = read_topic(settings).content
    found = content.items.get(item)
    last = None if found is None else found.last
    event = ledger.checked(
        Drafted,
        event_id=records.new_id(), item=item, version=1 if last is None else last.number + 1,
        who=by, at=datetime.now(UTC), text=text, note=note,
    )  # fmt: skip
    _write(settings, content, event)
    return event


def take_step(
    settings: Settings, item: str, step: str, *, by: str, note: str = ""
) -> tuple[StepTaken, tuple[Step, Role] | None]:
    """``by`` takes ``step`` of the item's version in review; the step after it and its role
    (None after publishing)."""
    role = role_for(step)
    if role is None:
        raise ConfigError(
            f"{step!r} is not a step of publishing; its steps: {', '.join(s for s, _ in STEPS)}"
        )
    _require(settings, by, role, item)
    content = read_topic(settings).content
    version = _last(content, item)
    fields = dict(
        event_id=records.new_id(), item=item, version=version.number, who=by,
        at=datetime.now(UTC), step=step, role=role, note=note,
    )  # fmt: skip
    refusal = content.judge(ledger.checked(StepTaken, **fields))
    if refusal is not None:  # a step out of turn is refused as such, before any check
        raise RefusedError(refusal)
    if step == "knowledge_checked":
        problems, checked = knowledge.check(
            item, version.text, fields=_fields(settings, item), codes=SMS_SERVICES.keys()
        )
        if problems:
            raise KnowledgeCheckError(
                f"version {version.number} of {item} fails the knowledge-base check: "
                f"{'; '.join(problems)}; reject it (`channelhub content reject {item} "
                "--reason ...`)"
            )
        fields["note"] = f"{note}; {checked}" if note else checked
    event = ledger.checked(StepTaken, **fields)
    _produce(settings, [event])
    following = STEPS[[s for s, _ in STEPS].index(event.step) + 1 :]
    return event, following[0] if following else None


def reject(settings: Settings, item: str, *, reason: str, by: str) -> Rejected:
    """``by``, in the role of the version's next step, sends it back to draft."""
    content = read_topic(settings).content
    version = _last(content, item)
    upcoming = version.next_step
    if upcoming is None:
        raise ConfigError(
            f"version {version.number} of {item} is {version.status}: there is nothing to "
            "reject; a change needs a new draft"
        )
    role = upcoming[1]
    _require(settings, by, role, item)
    event = ledger.checked(
        Rejected,
        event_id=records.new_id(), item=item, version=version.number, who=by,
        at=datetime.now(UTC), role=role, reason=reason,
    )  # fmt: skip
    _write(settings, content, event)
    return event


def _last(content: Content, item: str) -> Version:
    """The item's last version: the one a step or rejection is about."""
    found = content.items.get(item)
    if found is None or found.last is None:
        raise ConfigError(
            f"nothing of {item} is drafted; `channelhub content list` shows the items, "
            f"`channelhub content draft {item} TEXT` drafts it"
        )
    return found.last


def _fields(settings: Settings, item: str) -> Sequence[str]:
    """The placeholders ``item`` can fill: a rule's triggers' common fields, a campaign's."""
    kind, _, name = item.partition(":")
    if kind == "campaign":
        return TEMPLATE_FIELDS
    if kind != "rule":
        return ()
    directory = settings.rules_dir or SHIPPED_RULES_DIR
    rules, _ = load_rules(directory)
    rule = next((r for r in rules if r.id == name), None)
    if rule is None:
        raise KnowledgeCheckError(
            f"no rule {name!r} in {directory}: its template's fields are unknown; add the rule "
            "file first"
        )
    return list(common_fields(rule.spec.triggers))


def _require(settings: Settings, who: str, role: Role, item: str) -> None:
    try:
        branch = branch_of(item) if role in BRANCH_ROLES else None
    except ValueError as e:
        raise ConfigError(str(e)) from e
    load_staff(staff_file(settings)).require(
        who, role, file=str(staff_file(settings)), branch=branch
    )


def _write(settings: Settings, content: Content, event: ContentEvent) -> None:
    refusal = content.judge(event)
    if refusal is not None:
        raise RefusedError(refusal)
    _produce(settings, [event])


def _produce(settings: Settings, events: Sequence[ContentEvent]) -> None:
    ledger.append(
        settings.kafka_bootstrap, settings.topic_content, records.KEY,
        [records.encode(e) for e in events], client_id="channelhub-content",
    )  # fmt: skip
