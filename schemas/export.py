"""JSON Schema export: the contract channel systems validate their events against."""

from pathlib import Path

import msgspec

from schemas.events import EVENT_TYPES, Event

UNION_FILE = "channelhub-event.schema.json"


def export(directory: Path) -> list[Path]:
    """Write the schema of the whole event union and one file per event type; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [_write(directory / UNION_FILE, msgspec.json.schema(Event), "any channelhub event")]
    for event_type, cls in sorted(EVENT_TYPES.items()):
        written.append(
            _write(directory / f"{event_type}.schema.json", msgspec.json.schema(cls), event_type)
        )
    return written


def _write(path: Path, schema: dict[str, object], title: str) -> Path:
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, **schema}
    path.write_bytes(msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n")
    return path
