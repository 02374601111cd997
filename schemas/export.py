"""JSON Schema export: the contract channel systems validate their events against.

An event type with other accepted versions (:mod:`schemas.upcast`) is described as any one of
its versions, in its own file and in the union, because the platform accepts each of them.
"""

from pathlib import Path

import msgspec

from schemas.envelope import Envelope
from schemas.events import EVENT_TYPES, Event
from schemas.upcast import UPCASTERS

UNION_FILE = "channelhub-event.schema.json"


def export(directory: Path) -> list[Path]:
    """Write the schema of the whole event union and one file per event type; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    other_versions = [u.schema for _, u in sorted(UPCASTERS.items())]
    written = [
        _write(directory / UNION_FILE, _any_of(Event, other_versions), "any channelhub event")
    ]
    for event_type, cls in sorted(EVENT_TYPES.items()):
        versions = [u.schema for (t, _), u in sorted(UPCASTERS.items()) if t == event_type]
        written.append(
            _write(directory / f"{event_type}.schema.json", _any_of(cls, versions), event_type)
        )
    return written


def _any_of(canonical: object, versions: list[type[Envelope]]) -> dict[str, object]:
    """The canonical type's schema, or any of it and the other versions when there are some."""
    if not versions:
        return msgspec.json.schema(canonical)
    schemas, components = msgspec.json.schema_components(
        (canonical, *versions), ref_template="#/$defs/{name}"
    )
    return {"anyOf": list(schemas), "$defs": components}


def _write(path: Path, schema: dict[str, object], title: str) -> Path:
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, **schema}
    path.write_bytes(msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n")
    return path
