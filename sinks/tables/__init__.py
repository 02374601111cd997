"""One module per entity: its DDL, its insert statement and how a topic message becomes a row."""


def insert_statement(table: str, columns: tuple[str, ...]) -> str:
    """``INSERT INTO {db}.<table> (<columns>) VALUES`` for clickhouse-driver's row inserts."""
    return f"INSERT INTO {{db}}.{table} ({', '.join(columns)}) VALUES"


def recent_ids_query(table: str, id_column: str) -> str:
    """Ids written in the last ``%(horizon)s`` seconds of a table's ingest, for partitions
    ``%(partitions)s``: what a sink must remember so it never inserts them again."""
    return f"""
SELECT {id_column} FROM {{db}}.{table}
WHERE kafka_partition IN %(partitions)s
  AND ingested_at >= (SELECT max(ingested_at) FROM {{db}}.{table}) - %(horizon)s
"""
