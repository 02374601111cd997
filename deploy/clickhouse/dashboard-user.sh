#!/bin/bash
# Run once by the ClickHouse image on an empty data volume (docker-entrypoint-initdb.d): the
# dashboard's read-only user, as the local platform configures it. readonly = 1 makes the
# server refuse it every write and DDL; the time limit lives in the profile because a
# readonly user may not set it per query.
set -euo pipefail
clickhouse client --user "$CLICKHOUSE_USER" --password "$CLICKHOUSE_PASSWORD" --multiquery <<SQL
CREATE SETTINGS PROFILE IF NOT EXISTS dashboard SETTINGS readonly = 1, max_execution_time = 10;
CREATE USER IF NOT EXISTS dashboard IDENTIFIED WITH sha256_password BY '${DASHBOARD_CLICKHOUSE_PASSWORD}'
    SETTINGS PROFILE 'dashboard';
GRANT SELECT ON ${CLICKHOUSE_DB}.* TO dashboard;
SQL
