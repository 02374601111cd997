"""ClickHouse projections of the event topics.

``sinks.tables`` keeps each table's DDL, insert columns and row building together;
``sinks.schema`` registers every CREATE once; ``sinks.migrations`` applies numbered, idempotent
migrations (``channelhub migrate``); ``sinks.writer`` batches, deduplicates and writes the
rows, and ``sinks.stage`` runs it as a stage of the shared runtime that fills the tables
(``python -m sinks``).
"""
