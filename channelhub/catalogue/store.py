"""Reading and writing ``channel.catalogue``: what the ``channelhub service`` commands do.

Every write reads the topic to its end first, folds it (:func:`orchestration.catalogue.fold`),
and asks the fold whether it would accept the new record (:meth:`Catalogue.judge`); a record
it would refuse is not written, and the refusal is the error. The topic, not ClickHouse, is
read for this: a step typed right after the request must see the request, whatever the sink's
batching. Two people writing at the same instant can still both pass; the fold, replayed by
every reader, accepts the first and refuses the second, which stays in the trail as refused.

Whether the person holds the role a request or step is taken in is checked here, against the
staff file (:mod:`orchestration.catalogue.staff`), before anything is read.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import msgspec
from clickhouse_driver import Client

from channelhub.catalogue.follow import Follower, LiveWays
from channelhub.ingest import ledger
from kernel.errors import ConfigError
from kernel.settings import Settings
from orchestration.catalogue import (
    STEPS,
    Catalogue,
    RefusedError,
    Workflow,
    fold,
    load_staff,
    role_for,
    staff_file,
)
from schemas import catalogue as records
from schemas.catalogue import (
    CatalogueChannel,
    CatalogueEvent,
    Entry,
    OpenRequested,
    RetireRequested,
    Role,
    ServiceSeeded,
    Step,
    StepTaken,
)
from sinks.client import storage_errors
from sinks.tables import catalogue_events

#: The shortest request id prefix the commands take for a whole id.
MIN_PREFIX = 4


RequestT = TypeVar("RequestT", OpenRequested, RetireRequested)


@dataclass(frozen=True)
class Read:
    """The catalogue as folded from a source, and how many records there did not decode."""

    catalogue: Catalogue
    unreadable: int


def follower(settings: Settings, client_id: str) -> Follower:
    """A follower of ``settings``' catalogue topic (:mod:`channelhub.catalogue.follow`)."""
    return Follower(settings.kafka_bootstrap, settings.topic_catalogue, client_id=client_id)


def live_ways(settings: Settings, client_id: str) -> LiveWays:
    """This process's self-service ways kept on the catalogue, read every
    ``rules_reload_seconds`` (as the nudge stage re-reads its rules)."""
    return LiveWays(follower(settings, client_id), settings.rules_reload_seconds)


def read_topic(settings: Settings) -> Read:
    """The catalogue folded from every record of ``channel.catalogue``, in topic order."""
    reader = follower(settings, "channelhub-catalogue-reader")
    try:
        catalogue = reader.refresh()
    finally:
        reader.close()
    return Read(catalogue=catalogue, unreadable=reader.unreadable)


def read_clickhouse(client: Client, db: str) -> Read:
    """The catalogue folded from ``catalogue_events``: what the sink has written so far."""
    with storage_errors("cannot read the service catalogue"):
        rows = client.execute(catalogue_events.IN_ORDER.format(db=db))
    return _folded(catalogue_events.record_json(row) for row in rows)


def _folded(values: Iterable[bytes | None]) -> Read:
    events, unreadable = ledger.decoded(values, records.decode)
    return Read(catalogue=fold(events), unreadable=unreadable)


def write_new(settings: Settings, wanted: Sequence[ServiceSeeded]) -> tuple[int, int]:
    """Write those of ``wanted`` the topic does not hold yet (the seed: records with fixed
    ids); (written, already there)."""
    catalogue = read_topic(settings).catalogue
    missing = [r for r in wanted if not catalogue.has_applied(r.event_id)]
    _produce(settings, missing)
    return len(missing), len(wanted) - len(missing)


def request_open(
    settings: Settings, service: str, entries: tuple[Entry, ...], *, by: str, reason: str = ""
) -> OpenRequested:
    """Ask, for ``by``'s department, to open ``service`` with ``entries``."""
    return _request(settings, OpenRequested, service, by, reason, entries=entries)


def request_retire(
    settings: Settings,
    service: str,
    channels: tuple[CatalogueChannel, ...],
    *,
    by: str,
    reason: str = "",
) -> RetireRequested:
    """Ask, for ``by``'s department, to retire ``service`` from ``channels`` (none: all)."""
    return _request(settings, RetireRequested, service, by, reason, channels=channels)


def _request(
    settings: Settings,
    kind: type[RequestT],
    service: str,
    by: str,
    reason: str,
    **what: object,
) -> RequestT:
    """A request of ``kind`` by ``by``, who must hold the requester role, checked by the fold
    and written; ``what`` is what the kind asks for (entries to open, channels to retire)."""
    person = load_staff(staff_file(settings)).require(by, "requester", file=_file(settings))
    event = ledger.checked(
        kind,
        event_id=records.new_id(), service=service, who=by, at=datetime.now(UTC),
        department=person.department, reason=reason, **what,
    )  # fmt: skip
    _write(settings, read_topic(settings).catalogue, event)
    return event


def take_step(
    settings: Settings, request: str, step: str, *, by: str, note: str = ""
) -> tuple[StepTaken, tuple[Step, Role] | None]:
    """``by`` takes ``step`` of the request whose id is (or starts with) ``request``; the
    step after it and its role (None after the last)."""
    staff = load_staff(staff_file(settings))
    catalogue = read_topic(settings).catalogue
    workflow = find_request(catalogue, request)
    process = workflow.process
    role = role_for(process, step)  # type: ignore[arg-type]  # checked just below
    if role is None:
        steps = ", ".join(name for name, _ in STEPS[process])
        raise ConfigError(f"{step!r} is not a step of the {process} process; its steps: {steps}")
    staff.require(by, role, file=_file(settings))
    event = ledger.checked(
        StepTaken,
        event_id=records.new_id(), service=workflow.request.service, who=by,
        at=datetime.now(UTC), request_id=workflow.request.event_id, step=step, role=role,
        note=note,
    )  # fmt: skip
    _write(settings, catalogue, event)
    following = STEPS[process][len(workflow.steps) + 1 :]
    return event, following[0] if following else None


def parse_entry(channel: str, value: str) -> Entry:
    """The entry ``value`` names on ``channel``: IVR keys (``3-9``), an SMS code with its
    keywords (``0207`` or ``0207:JT,家庭``), or a hall or kiosk function; :class:`ConfigError`
    says what is wrong with it."""
    if channel == "sms":
        code, _, words = value.strip().partition(":")
        fields: dict[str, object] = {"code": code, "keywords": words.split(",") if words else []}
    else:
        fields = {"keys" if channel == "ivr" else "function": value.strip()}
    try:
        return msgspec.convert({"channel": channel, **fields}, Entry)  # type: ignore[arg-type]
    except msgspec.ValidationError as e:
        raise ConfigError(f"{channel} {value!r}: {e}") from e


def find_request(catalogue: Catalogue, request: str) -> Workflow:
    """The workflow whose request id is ``request`` or starts with it (at least
    :data:`MIN_PREFIX` characters, and only one id)."""
    if request in catalogue.workflows:
        return catalogue.workflows[request]
    found = (
        [w for rid, w in catalogue.workflows.items() if rid.startswith(request.lower())]
        if len(request) >= MIN_PREFIX
        else []
    )
    if len(found) == 1:
        return found[0]
    if found:
        raise ConfigError(f"{len(found)} requests start with {request!r}; give more of the id")
    raise ConfigError(
        f"no request {request!r}; `channelhub service list` shows the requests in progress "
        f"with their ids (give the whole id, or its first {MIN_PREFIX} characters or more)"
    )


def _write(settings: Settings, catalogue: Catalogue, event: CatalogueEvent) -> None:
    refusal = catalogue.judge(event)
    if refusal is not None:
        raise RefusedError(refusal)
    _produce(settings, [event])


def _produce(settings: Settings, events: Sequence[CatalogueEvent]) -> None:
    ledger.append(
        settings.kafka_bootstrap, settings.topic_catalogue, records.KEY,
        [records.encode(e) for e in events], client_id="channelhub-catalogue",
    )  # fmt: skip


def _file(settings: Settings) -> str:
    return str(staff_file(settings))
