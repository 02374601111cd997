"""Content items as ``channelhub content list`` and ``show`` print them: lines for people,
plain data for ``--json``."""

from typing import Any

from orchestration.content import Content, Item, Version
from schemas.content import ContentEvent, Drafted, Rejected, Seeded, StepTaken


def item_summary(item: Item) -> str:
    """The item, the version in use, and the version in review with what it waits for."""
    published = item.published
    in_use = f"v{published.number} published" if published else "nothing published"
    last = item.last
    pending = ""
    if last is not None and last is not published:
        upcoming = last.next_step
        waits = f"next {upcoming[0]} by a {upcoming[1]}" if upcoming else last.status
        pending = f"; v{last.number} {last.status} at {last.last_step}, {waits}"
    return f"{item.item_id}  {in_use}{pending}"


def list_lines(content: Content) -> list[str]:
    lines = [f"{len(content.items)} content items"]
    lines += [f"  {item_summary(content.items[name])}" for name in sorted(content.items)]
    return lines


def list_data(content: Content) -> list[dict[str, Any]]:
    return [item_data(content.items[name], trail=False) for name in sorted(content.items)]


def item_data(item: Item, *, trail: bool = True) -> dict[str, Any]:
    published = item.published
    data: dict[str, Any] = {
        "item": item.item_id,
        "published_version": published.number if published else None,
        "published_text": published.text if published else None,
        "versions": [_version_data(v) for v in item.versions],
    }
    if trail:
        data["trail"] = [
            {
                "event_id": event.event_id,
                "version": event.version,
                "action": _action(event),
                "who": event.who,
                "role": _role(event),
                "at": event.at.isoformat(),
                "note": _note(event),
                "refused": None if refusal is None else refusal.message,
            }
            for event, refusal in item.trail
        ]
    return data


def _version_data(version: Version) -> dict[str, Any]:
    upcoming = version.next_step
    return {
        "version": version.number,
        "status": version.status,
        "text": version.text,
        "drafted_by": version.draft.who,
        "at_step": version.last_step,
        "next_step": upcoming[0] if upcoming else None,
        "next_role": upcoming[1] if upcoming else None,
    }


def trail_lines(item: Item) -> list[str]:
    """The item's versions with their texts, then every record taken or refused."""
    lines = [item_summary(item)]
    lines += [f"  v{v.number} {v.status}: {v.text}" for v in item.versions]
    for event, refusal in item.trail:
        said = f": {_note(event)}" if _note(event) else ""
        mark = f"  REFUSED {refusal.message}" if refusal else ""
        lines.append(
            f"  {event.at.isoformat()}  v{event.version} {_action(event)} by {event.who} as "
            f"{_role(event)}{said}{mark}"
        )
    return lines


def _action(event: ContentEvent) -> str:
    if isinstance(event, StepTaken):
        return event.step
    if isinstance(event, Rejected):
        return "rejected"
    return "seeded as published" if isinstance(event, Seeded) else "drafted"


def _role(event: ContentEvent) -> str:
    if isinstance(event, StepTaken | Rejected):
        return event.role
    return "system" if isinstance(event, Seeded) else "branch_maintainer"


def _note(event: ContentEvent) -> str:
    if isinstance(event, Rejected):
        return event.reason
    return event.note if isinstance(event, Drafted | StepTaken) else ""
