"""The service catalogue's records: seeded entries, requests and steps, in topic order."""

from sinks.migrations.statements import creates

OPERATIONS: tuple[str, ...] = creates("catalogue_events")
