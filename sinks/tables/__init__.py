"""One module per entity: its DDL, its insert statement and how a topic message becomes a row."""
