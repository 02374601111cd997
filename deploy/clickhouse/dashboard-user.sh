#!/bin/bash
# Run once by the ClickHouse image on an empty data volume (docker-entrypoint-initdb.d): the
# dashboard's read-only user, as the local platform configures it.
#
# - readonly = 1 makes the server refuse it every write, DDL and setting change; the limits
#   live in the profile because a readonly user may not set them per query.
# - It may read the channelhub database only (and no other: it is granted nothing else).
# - A quota caps what it may spend per minute, whatever the web process is made to run.
# - Its password never appears in SQL text (nor in query_log): only its SHA-256, computed
#   here from the environment. The admin password goes to the client through the
#   environment too (CLICKHOUSE_PASSWORD), never on a command line.
# - Its result-row limit is the platform's own setting (CHANNELHUB_DASHBOARD_RESULT_ROWS),
#   so the back-test's pages and the server's refusal agree.
set -euo pipefail
rows=${CHANNELHUB_DASHBOARD_RESULT_ROWS:?set CHANNELHUB_DASHBOARD_RESULT_ROWS}
hash=$(printf '%s' "$DASHBOARD_CLICKHOUSE_PASSWORD" | sha256sum | cut -d' ' -f1)
CLICKHOUSE_USER="$CLICKHOUSE_USER" CLICKHOUSE_PASSWORD="$CLICKHOUSE_PASSWORD" \
  clickhouse client --multiquery <<SQL
CREATE SETTINGS PROFILE IF NOT EXISTS dashboard SETTINGS
    readonly = 1, max_execution_time = 10, max_memory_usage = 2000000000,
    max_bytes_before_external_group_by = 1000000000, max_result_rows = ${rows}, result_overflow_mode = 'throw', max_threads = 4;
CREATE USER IF NOT EXISTS dashboard IDENTIFIED WITH sha256_hash BY '${hash}'
    DEFAULT DATABASE ${CLICKHOUSE_DB} SETTINGS PROFILE 'dashboard';
CREATE QUOTA IF NOT EXISTS dashboard
    FOR INTERVAL 1 minute MAX queries = 1200, errors = 300, execution_time = 240
    TO dashboard;
GRANT SELECT ON ${CLICKHOUSE_DB}.* TO dashboard;
SQL
