"""``channelhub pseudonyms rotate``: carry every stored pseudonym to the active key.

After the pseudonym key rotates (a new ``CHANNELHUB_PSEUDONYM_KEY`` with a higher
``CHANNELHUB_PSEUDONYM_KEY_ID``, the old key moved to ``CHANNELHUB_PSEUDONYM_RETIRED_KEYS``),
the services write new rows under the new key while ClickHouse still holds the history under
the old one. Until this runs, a subscriber's old and new rows do not join, and an opt-out
recorded before the change would not keep the subscriber out of a campaign audience.

A pseudonym is chained (:mod:`kernel.pseudonym`): the current one is computed from the stored
one, so this needs no MSISDN and never sees one. The work is ClickHouse's own, done where
the data is:

1. **Find** every String column of every MergeTree table of the database (so a table added
   later is covered without a change here), and every distinct pseudonym under a retired key
   in them: subscriber columns, ``msisdn:`` tokens in free text, pseudonymised attributes.
2. **Map**: the current form of each, computed here, loaded into a ``Join`` table,
   ``default.<db>_pseudonym_rekey``, dropped at the end. The one difference between the
   versions is chosen here from ``version()``: ClickHouse 18.16 takes no database in
   ``joinGet`` and looks for the map in its default database (in a mutation too, whatever the
   session's), while a current server is given the qualified name.
3. **Rewrite** with ``ALTER TABLE … UPDATE`` mutations, each column through one expression
   that splits the text at the retired key's prefix and replaces each pseudonym through the
   map, leaving everything else as it was. A column of the sorting key cannot be updated: the
   rows whose key holds a retired pseudonym are inserted again re-keyed and the old rows
   deleted (``opt_outs`` only, today). A table with materialized views on it would count such
   inserts twice, so one is refused instead.
4. **Check** that no retired pseudonym is left in any column.

Every step is idempotent: a run that stops half-way is simply run again. The sink and the
nudge stage must already run with the new key ring, so nothing new is written under the old
key while this runs (a row that still is makes the check fail and says to run again).
"""

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from clickhouse_driver import Client

from kernel.errors import StorageError
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from sinks.client import connect, database_name, storage_errors

log = logging.getLogger(__name__)

#: Rows of the map per insert.
_MAP_BATCH = 100_000
#: How long one table's mutations may take before the rotation gives up (it can be rerun).
MUTATION_TIMEOUT_SECONDS = 3600.0


@dataclass(frozen=True)
class TableColumns:
    """A table's String, Nullable(String) and Array(String) columns, and which of them its
    sorting or partition key uses."""

    table: str
    columns: tuple[str, ...]
    key_columns: tuple[str, ...]
    has_views: bool
    arrays: frozenset[str] = frozenset()
    nullables: frozenset[str] = frozenset()

    def holds(self, column: str, retired: list[int]) -> str:
        """SQL: ``column`` holds a pseudonym under one of ``retired``."""
        if column in self.arrays:
            return f"arrayExists(x -> {_holds('x', retired)}, {column})"
        return _holds(self.text(column), retired)

    def text(self, column: str) -> str:
        """SQL: all of ``column``'s text: an array's items joined by spaces, NULL as ''."""
        if column in self.arrays:
            return f"arrayStringConcat({column}, ' ')"
        return f"ifNull({column}, '')" if column in self.nullables else column

    def rekeyed(self, column: str, retired: list[int], join: str) -> str:
        """SQL: ``column`` re-keyed (:func:`_rekeyed`), item by item for an array, NULL kept."""
        if column in self.arrays:
            return f"arrayMap(x -> {_rekeyed('x', retired, join)}, {column})"
        if column in self.nullables:
            inner = _rekeyed(f"assumeNotNull({column})", retired, join)
            return f"if(isNull({column}), {column}, {inner})"
        return _rekeyed(column, retired, join)

    def any_holds(self, columns: tuple[str, ...], retired: list[int]) -> str:
        """SQL: any of ``columns`` holds a pseudonym under one of ``retired``."""
        return " OR ".join(f"({self.holds(c, retired)})" for c in columns) or "0"


@dataclass
class Rotation:
    """What a rotation did: per table, the rows re-keyed."""

    key_id: int
    pseudonyms: int = 0
    rows: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"key_id": self.key_id, "pseudonyms": self.pseudonyms, "rows": self.rows}


def rotate(settings: Settings, *, progress: Callable[[str], None] = log.info) -> Rotation:
    """Re-key every pseudonym in the settings' database made under a retired key of the
    settings' key ring."""
    db = database_name(settings)
    ring = Pseudonymizer.from_settings(settings)
    # In the default database: the only one where this server's joinGet finds the map.
    client = connect(settings, database=False)
    try:
        with storage_errors(f"cannot re-key the pseudonyms of ClickHouse database {db!r}"):
            return rekey(client, db, ring, progress)
    finally:
        client.disconnect()


def rekey(
    client: Client, db: str, ring: Pseudonymizer, progress: Callable[[str], None]
) -> Rotation:
    """:func:`rotate` on ``client``, whose session's database must be ``default``."""
    result = Rotation(key_id=ring.key_id)
    retired = ring.retired_ids()
    if not retired:
        progress(f"key {ring.key_id} is the only key: nothing to rotate")
        return result
    tables = string_columns(client, db)
    affected = {t.table: n for t in tables if (n := _count(client, db, t, retired))}
    if not affected:
        progress(f"every pseudonym is under key {ring.key_id} already")
        return result
    olds = _retired_pseudonyms(client, db, [t for t in tables if t.table in affected], retired)
    mapping = _map(olds, ring)
    result.pseudonyms = len(mapping)
    progress(f"{len(mapping)} pseudonyms under keys {retired} in {len(affected)} tables")
    table = f"{db}_pseudonym_rekey"
    ((version,),) = client.execute("SELECT version()")
    join = table if int(str(version).split(".")[0]) < 20 else f"default.{table}"
    client.execute(f"DROP TABLE IF EXISTS default.{table}")
    client.execute(
        f"CREATE TABLE default.{table} (old String, new String) ENGINE = Join(ANY, LEFT, old)"
    )
    try:
        for start in range(0, len(mapping), _MAP_BATCH):
            client.execute(
                f"INSERT INTO default.{table} (old, new) VALUES",
                mapping[start : start + _MAP_BATCH],
            )
        for t in tables:
            if t.table in affected:
                progress(f"{t.table}: re-keying {affected[t.table]} rows")
                _rewrite(client, db, t, retired, join)
                result.rows[t.table] = affected[t.table]
    finally:
        client.execute(f"DROP TABLE IF EXISTS default.{table}")
    left = {t.table: n for t in tables if (n := _count(client, db, t, retired))}
    if left:
        raise StorageError(
            f"rows under retired keys remain after re-keying: {left}; a service still writes "
            "under a retired key: restart every service with the new key ring, then run "
            "`channelhub pseudonyms rotate` again"
        )
    progress(f"every pseudonym is under key {ring.key_id} now")
    return result


def string_columns(client: Client, db: str) -> list[TableColumns]:
    """Every MergeTree table of ``db`` with its String, Nullable(String) and Array(String)
    columns, in name order."""
    tables = client.execute(
        """
        SELECT name, sorting_key, partition_key,
               notEmpty(dependencies_table) AS has_views
        FROM system.tables
        WHERE database = %(db)s AND engine LIKE '%%MergeTree'
        ORDER BY name
        """,
        {"db": db},
    )
    columns: dict[str, list[str]] = {}
    kinds: dict[tuple[str, str], str] = {}
    for table, column, kind in client.execute(
        """
        SELECT table, name, type FROM system.columns
        WHERE database = %(db)s AND type IN ('String', 'Array(String)', 'Nullable(String)')
        ORDER BY table, name
        """,
        {"db": db},
    ):
        columns.setdefault(table, []).append(column)
        kinds[table, column] = kind
    found = []
    for table, sorting, partition, has_views in tables:
        if table not in columns:
            continue
        keys = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", f"{sorting} {partition}"))
        names = tuple(columns[table])
        found.append(
            TableColumns(
                table,
                names,
                tuple(c for c in names if c in keys),
                bool(has_views),
                frozenset(c for c in names if kinds[table, c] == "Array(String)"),
                frozenset(c for c in names if kinds[table, c] == "Nullable(String)"),
            )
        )
    return found


def _pattern(retired: list[int]) -> str:
    """The regular expression of a pseudonym under one of ``retired``."""
    return rf"k(?:{'|'.join(map(str, retired))})[.][0-9a-f]{{32}}"


def _holds(column: str, retired: list[int]) -> str:
    """SQL: ``column`` holds a pseudonym under one of ``retired``."""
    return f"match({column}, '{_pattern(retired)}')"


def _count(client: Client, db: str, t: TableColumns, retired: list[int]) -> int:
    rows = client.execute(
        f"SELECT count() FROM {db}.{t.table} WHERE {t.any_holds(t.columns, retired)}"
    )
    return int(rows[0][0])


def _retired_pseudonyms(
    client: Client, db: str, tables: list[TableColumns], retired: list[int]
) -> set[str]:
    found: set[str] = set()
    for t in tables:
        for column in t.columns:
            rows = client.execute(
                f"SELECT DISTINCT arrayJoin(extractAll({t.text(column)}, %(pattern)s)) "
                f"FROM {db}.{t.table} WHERE {t.holds(column, retired)}",
                {"pattern": _pattern(retired)},
            )
            found.update(p for (p,) in rows)
    return found


def _map(olds: set[str], ring: Pseudonymizer) -> list[tuple[str, str]]:
    """(old, current) of every pseudonym; each must be the ring's (its key is checked by
    :meth:`Pseudonymizer.current` before a single row changes)."""
    mapping = []
    for old in sorted(olds):
        new = ring.current(old)
        if new is None:  # pragma: no cover - the pattern only finds the ring's key ids
            raise StorageError(f"{old} is not a pseudonym of the key ring")
        mapping.append((old, new))
    return mapping


def _rekeyed(column: str, retired: list[int], join: str) -> str:
    """SQL: ``column`` with each pseudonym under a retired key replaced through the map.

    The text is split at the key's prefix ``k<id>.``; every piece after the first starts with
    the digest of a pseudonym if the prefix began one, and is then replaced by the map's
    current pseudonym; a piece the map does not know gets its prefix back unchanged."""
    expression = column
    for key_id in retired:
        prefix = f"'k{key_id}.'"
        old = f"concat({prefix}, substring(piece, 1, 32))"
        new = f"joinGet('{join}', 'new', {old})"
        pieces = f"splitByString({prefix}, {expression})"
        expression = (
            "arrayStringConcat(arrayMap((piece, i) -> if(i = 1, piece, "
            f"if({new} = '', concat({prefix}, piece), concat({new}, substring(piece, 33)))), "
            f"{pieces}, arrayEnumerate({pieces})))"
        )
    return expression


def _rewrite(client: Client, db: str, t: TableColumns, retired: list[int], join: str) -> None:
    """Re-key one table: rows whose key holds a retired pseudonym inserted again and deleted,
    then every other column updated in place."""
    in_key = t.any_holds(t.key_columns, retired)
    if t.key_columns and _rows(client, f"SELECT count() FROM {db}.{t.table} WHERE {in_key}"):
        if t.has_views:
            raise StorageError(
                f"{t.table} has retired pseudonyms in its key and materialized views on it, "
                "which would count the re-keyed rows twice; it cannot be re-keyed in place"
            )
        all_columns = [row[0] for row in client.execute(f"DESCRIBE TABLE {db}.{t.table}")]
        # No aliases: ClickHouse would read an alias named like a column in the WHERE.
        select = ", ".join(
            t.rekeyed(c, retired, join) if c in t.columns else c for c in all_columns
        )
        client.execute(
            f"INSERT INTO {db}.{t.table} ({', '.join(all_columns)}) "
            f"SELECT {select} FROM {db}.{t.table} WHERE {in_key}"
        )
        client.execute(f"ALTER TABLE {db}.{t.table} DELETE WHERE {in_key}")
        _wait(client, db, t.table)
    updatable = tuple(c for c in t.columns if c not in t.key_columns)
    where = t.any_holds(updatable, retired)
    if updatable and _rows(client, f"SELECT count() FROM {db}.{t.table} WHERE {where}"):
        sets = ", ".join(f"{c} = {t.rekeyed(c, retired, join)}" for c in updatable)
        client.execute(f"ALTER TABLE {db}.{t.table} UPDATE {sets} WHERE {where}")
        _wait(client, db, t.table)


def _rows(client: Client, sql: str) -> int:
    return int(client.execute(sql)[0][0])


def _wait(client: Client, db: str, table: str) -> None:
    """Until every mutation of ``table`` is done (ClickHouse runs them in the background)."""
    deadline = time.monotonic() + MUTATION_TIMEOUT_SECONDS
    delay = 0.05
    running = (
        "SELECT count() FROM system.mutations "
        "WHERE database = %(db)s AND table = %(table)s AND is_done = 0"
    )
    while int(client.execute(running, {"db": db, "table": table})[0][0]):
        if time.monotonic() > deadline:
            raise StorageError(
                f"{db}.{table}: mutations still running after {MUTATION_TIMEOUT_SECONDS:.0f} s "
                "(system.mutations); run the rotation again once they finish"
            )
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
