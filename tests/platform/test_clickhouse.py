"""The local clickhouse-server 18.16: our config, SELECT 1, the DDL we rely on, restarts."""

import urllib.request
import uuid
import xml.etree.ElementTree as ET
from datetime import date, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from channelhub.platform import clickhouse, pids
from channelhub.platform.process import ManagedProcess
from kernel.settings import Settings
from tests.fixtures.services import ClickHouseServer, free_port, local_settings


def test_config_renders_our_ports_directories_and_a_localhost_only_user(tmp_path: Path) -> None:
    settings = local_settings(
        state_dir=tmp_path,
        clickhouse_port=29001,
        clickhouse_http_port=28124,
        clickhouse_password=SecretStr("a<b&'c\""),
    )
    config = ET.parse(clickhouse.render(settings)).getroot()
    users = ET.parse(tmp_path / "clickhouse" / "users.xml").getroot()

    assert config.findtext("tcp_port") == "29001"
    assert config.findtext("http_port") == "28124"
    assert config.findall("listen_host")[0].text == "127.0.0.1"
    data = tmp_path.resolve() / "clickhouse" / "data"
    assert config.findtext("path") == f"{data}/"
    for key in ("tmp_path", "user_files_path", "format_schema_path"):
        assert (config.findtext(key) or "").startswith(f"{data}/")
        assert (config.findtext(key) or "").endswith("/")
    assert config.findtext("logger/log") == str(tmp_path.resolve() / "logs/clickhouse-server.log")
    assert users.findtext("users/default/password") == "a<b&'c\""
    assert [ip.text for ip in users.findall("users/default/networks/ip")] == ["127.0.0.1"]


@pytest.mark.integration
def test_server_answers_select_1_natively_and_over_http(
    clickhouse_server: ClickHouseServer,
) -> None:
    clickhouse.probe(clickhouse_server.settings)
    url = f"http://{clickhouse_server.host}:{clickhouse_server.http_port}/?query=SELECT%201"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.read() == b"1\n"


@pytest.mark.integration
def test_the_ddl_we_rely_on_runs_on_this_server(settings: Settings, clickhouse_db: str) -> None:
    client = clickhouse.client(settings, database=clickhouse_db)
    client.execute(
        "CREATE TABLE events (d Date, ts DateTime('UTC'), id String, channel String) "
        "ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(d) ORDER BY (channel, id)"
    )
    client.execute(
        "CREATE TABLE per_channel (d Date, channel String, n UInt64) "
        "ENGINE = SummingMergeTree() PARTITION BY toYYYYMM(d) ORDER BY (d, channel)"
    )
    client.execute(
        "CREATE MATERIALIZED VIEW per_channel_mv TO per_channel AS "
        "SELECT d, channel, count() AS n FROM events GROUP BY d, channel"
    )
    row = (date(2026, 11, 27), datetime(2026, 11, 27, 7, 30), "e1", "ivr")
    client.execute("INSERT INTO events (d, ts, id, channel) VALUES", [row, row])

    assert client.execute("SELECT count() FROM events FINAL") == [(1,)]
    assert client.execute("SELECT sum(n) FROM per_channel") == [(2,)]
    [(type_name, ts)] = client.execute("SELECT toTypeName(ts), ts FROM events LIMIT 1")
    assert type_name == "DateTime('UTC')"
    assert ts.replace(tzinfo=None) == datetime(2026, 11, 27, 7, 30)
    client.disconnect()


@pytest.mark.integration
def test_data_survives_a_restart_in_the_same_state_dir(
    clickhouse_server: ClickHouseServer, tmp_path: Path
) -> None:
    settings = local_settings(
        state_dir=tmp_path, clickhouse_port=free_port(), clickhouse_http_port=free_port()
    )
    table = f"restart_{uuid.uuid4().hex[:8]}"
    with ManagedProcess(clickhouse.spec(settings), tmp_path) as server:
        client = clickhouse.client(settings)
        client.execute(f"CREATE TABLE {table} (n UInt32) ENGINE = MergeTree() ORDER BY n")
        client.execute(f"INSERT INTO {table} (n) VALUES", [(i,) for i in range(1000)])
        client.disconnect()
        first_pid = server.pid
    assert first_pid is not None
    assert pids.group_members(first_pid) == []

    with ManagedProcess(clickhouse.spec(settings), tmp_path):
        client = clickhouse.client(settings)
        assert client.execute(f"SELECT count(), sum(n) FROM {table}") == [(1000, 499500)]
        client.disconnect()
