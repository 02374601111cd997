"""ClickHouse projections of the topics.

``sinks.tables`` keeps each table's DDL, columns and row building together as a ``Table``;
``sinks.routes`` pairs every table with the topic whose contract (``schemas.registry``) names
it, and decodes that topic's records into the contract's type; ``sinks.migrations`` applies
numbered, idempotent migrations (``channelhub migrate``) made of the tables' statements;
``sinks.writer`` batches, deduplicates and writes the rows, and ``sinks.stage`` runs it as a
stage of the shared runtime that fills the tables (``python -m sinks``).
"""
