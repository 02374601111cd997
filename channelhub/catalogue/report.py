"""The catalogue and the workflows as ``channelhub service list`` and ``show`` print them (lines
for people, plain data for ``--json``) and as the dashboard's ``/catalogue`` page lays them out."""

from typing import Any

import msgspec

from orchestration.catalogue import REQUESTED, REVIEWS, Catalogue, Staff, Workflow
from schemas.catalogue import (
    CATALOGUE_CHANNELS,
    CatalogueEvent,
    Entry,
    OpenRequested,
    RetireRequested,
    SmsHallCode,
    StepTaken,
    channel_of,
)


def entry_text(entry: Entry) -> str:
    channel: str = entry.__struct_config__.tag  # type: ignore[assignment]
    words = f" [{', '.join(entry.keywords)}]" if isinstance(entry, SmsHallCode) else ""
    return f"{channel} {entry.slot}{words}"


def catalogue_lines(catalogue: Catalogue) -> list[str]:
    """Per channel, each open slot and the services it serves; then the open requests."""
    lines = [f"catalogue version {catalogue.version}"]
    for channel in CATALOGUE_CHANNELS:
        offered = catalogue.channel(channel)
        lines.append(f"{channel}: {len(offered)} open")
        for slot, services in offered.items():
            keywords = sorted(
                {w for _, e in services if isinstance(e, SmsHallCode) for w in e.keywords}
            )
            words = f" [{', '.join(keywords)}]" if keywords else ""
            lines.append(f"  {slot}{words}  {', '.join(s for s, _ in services)}")
    pending = [w for w in catalogue.workflows.values() if not w.finished]
    lines.append(f"requests in progress: {len(pending)}")
    lines += [f"  {_summary(w)}" for w in pending]
    return lines


def catalogue_data(catalogue: Catalogue) -> dict[str, Any]:
    return {
        "version": catalogue.version,
        "channels": {
            channel: {
                slot: [{"service": s, "entry": msgspec.to_builtins(e)} for s, e in services]
                for slot, services in catalogue.channel(channel).items()
            }
            for channel in CATALOGUE_CHANNELS
        },
        "requests": [workflow_data(w) for w in catalogue.workflows.values() if not w.finished],
    }


def _summary(workflow: Workflow) -> str:
    request = workflow.request
    upcoming = workflow.next_step
    then = f"next {upcoming[0]} by a {upcoming[1]}" if upcoming else "done"
    return (
        f"{request.event_id}  {workflow.process} {request.service!r} for {request.department}"
        f", at {workflow.last_step}; {then}"
    )


def workflow_data(workflow: Workflow) -> dict[str, Any]:
    upcoming = workflow.next_step
    return {
        "request_id": workflow.request.event_id,
        "process": workflow.process,
        "service": workflow.request.service,
        "department": workflow.request.department,
        "at_step": workflow.last_step,
        "next_step": upcoming[0] if upcoming else None,
        "next_role": upcoming[1] if upcoming else None,
        "trail": [
            {
                "event_id": event.event_id,
                "step": event.step if isinstance(event, StepTaken) else REQUESTED[workflow.process],
                "who": event.who,
                "at": event.at.isoformat(),
                "note": _note(event),
                "refused": None if refusal is None else refusal.message,
            }
            for event, refusal in workflow.trail
        ],
    }


def trail_lines(workflow: Workflow) -> list[str]:
    """The request, then every step taken or refused, with who, as what, and when."""
    request = workflow.request
    lines = [_summary(workflow)]
    if isinstance(request, OpenRequested):
        lines.append("  entries: " + "; ".join(entry_text(e) for e in request.entries))
    else:
        lines.append("  from: " + (", ".join(request.channels) or "every channel"))
    for event, refusal in workflow.trail:
        what: str
        if isinstance(event, StepTaken):
            what, role = event.step, event.role
        else:
            what, role = REQUESTED[workflow.process], "requester"
        said = f": {_note(event)}" if _note(event) else ""
        mark = f"  REFUSED {refusal.message}" if refusal else ""
        lines.append(f"  {event.at.isoformat()}  {what} by {event.who} as {role}{said}{mark}")
    return lines


def _note(event: CatalogueEvent) -> str:
    """What the person wrote: a step's note, a request's reason."""
    if isinstance(event, StepTaken):
        return event.note
    return event.reason if isinstance(event, OpenRequested | RetireRequested) else ""


def service_rows(catalogue: Catalogue) -> list[tuple[str, dict[str, str]]]:
    """Every service with an open or retired entry, and per channel what it has there: its
    open slots, or the slots retired from it that no one has open again."""
    states: dict[str, dict[str, list[str]]] = {}
    for service in catalogue.services():
        for entry in catalogue.entries(service):
            states.setdefault(service, {}).setdefault(channel_of(entry), []).append(entry.slot)
    for retired in catalogue.retired():
        on = states.setdefault(retired.service, {}).setdefault(retired.channel, [])
        on.append(f"retired {retired.slot}")
    return [
        (service, {channel: ", ".join(slots) for channel, slots in states[service].items()})
        for service in sorted(states)
    ]


def who_may_take(staff: Staff, workflow: Workflow) -> list[str]:
    """Who may take the request's next step: the people holding its role, but for a review
    not whoever asked for the request or submitted it."""
    upcoming = workflow.next_step
    if upcoming is None:
        return []
    step, role = upcoming
    return sorted(
        name
        for name, person in staff.people.items()
        if role in person.roles and not (step in REVIEWS and name in workflow.parties)
    )
