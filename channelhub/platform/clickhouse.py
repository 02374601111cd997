"""The local ClickHouse: a config of our own, the start spec, and a ``SELECT 1`` probe.

Debian's clickhouse-server 18.16 is started with ``--config-file=<ours>`` so it never touches
``/etc/clickhouse-server`` or ``/var/lib/clickhouse``: everything lives under
``<state_dir>/clickhouse/`` (config, users, ``data/``) and ``<state_dir>/logs/``. The data
directory is kept across ``down``/``up``, so tables survive a restart.

What we found on 18.16 by trying: it runs as root and as an unprivileged user alike;
``users_config`` is resolved next to the config file (any working directory works);
preprocessed configs land in
``<path>/preprocessed_configs``; an idle client connection delays SIGTERM shutdown by up to
``poll_interval`` (10 s by default), so the profile sets it to 1 s. Directory settings keep the
trailing ``/`` that 18.16's own config uses, since it joins them to file names as strings.
"""

import xml.etree.ElementTree as ET
from pathlib import Path

from clickhouse_driver import Client

from channelhub.platform import prereqs
from channelhub.platform.health import tcp_open
from channelhub.platform.process import ServiceSpec
from kernel.settings import Settings


def home(settings: Settings) -> Path:
    """``<state_dir>/clickhouse``: config files and the data directory."""
    return settings.state_dir.resolve() / "clickhouse"


def data_dir(settings: Settings) -> Path:
    return home(settings) / "data"


def server_log(settings: Settings) -> Path:
    return settings.state_dir.resolve() / "logs" / "clickhouse-server.log"


def server_error_log(settings: Settings) -> Path:
    return settings.state_dir.resolve() / "logs" / "clickhouse-server.err.log"


def _tree(root_tag: str, spec: dict[str, object]) -> ET.Element:
    """Nested dicts → XML elements; lists repeat the tag; values are escaped by ElementTree."""
    root = ET.Element(root_tag)

    def add(parent: ET.Element, tag: str, value: object) -> None:
        if isinstance(value, list):
            for item in value:
                add(parent, tag, item)
            return
        element = ET.SubElement(parent, tag)
        if isinstance(value, dict):
            for key, child in value.items():
                add(element, key, child)
        else:
            element.text = str(value)

    for key, value in spec.items():
        add(root, key, value)
    ET.indent(root)
    return root


def _dir(path: Path) -> str:
    return f"{path}/"  # as in 18.16's own config: it appends file names to these strings


def server_config(settings: Settings) -> ET.Element:
    """The server config: localhost only, our ports, our directories, UTC."""
    data = data_dir(settings)
    return _tree(
        "yandex",
        {
            "logger": {
                "level": "information",
                "log": server_log(settings),
                "errorlog": server_error_log(settings),
                "size": "100M",
                "count": 3,
            },
            "listen_host": settings.clickhouse_host,
            "tcp_port": settings.clickhouse_port,
            "http_port": settings.clickhouse_http_port,
            "path": _dir(data),
            "tmp_path": _dir(data / "tmp"),
            "user_files_path": _dir(data / "user_files"),
            "format_schema_path": _dir(data / "format_schemas"),
            "users_config": "users.xml",
            "default_profile": "default",
            "default_database": "default",
            "timezone": "UTC",
            "max_concurrent_queries": 100,
            # On SIGTERM 18.16 waits this long for open connections (default 5 s); keep the
            # stop well inside the grace period so it shuts down cleanly instead of SIGKILL.
            "shutdown_wait_unfinished": 2,
            # 18.16 defaults are 5 and 8 GiB (allocated on demand); a laptop wants less.
            "mark_cache_size": 512 * 1024 * 1024,
            "uncompressed_cache_size": 512 * 1024 * 1024,
        },
    )


def users_config(settings: Settings) -> ET.Element:
    """``default`` and the configured user, plus the dashboard's read-only user; 127.0.0.1 only.

    The dashboard's profile has ``readonly`` = 1: the server refuses it every INSERT, DDL and
    setting change, so the web process cannot alter data whatever a request makes it run. Its
    query time limit lives in the profile for the same reason (a readonly user may not send
    one), and it protects the live refresh from a heavy range. Its quota caps what it may
    spend per minute (queries, errors, query time), as the deployment's does.
    """
    localhost = {"ip": "127.0.0.1"}
    user = {
        "password": settings.clickhouse_password.get_secret_value(),
        "networks": localhost,
        "profile": "default",
        "quota": "default",
    }
    dashboard = {
        "password": settings.dashboard_clickhouse_password.get_secret_value(),
        "networks": localhost,
        "profile": "dashboard",
        "quota": "dashboard",
    }
    users = {
        "default": user,
        settings.clickhouse_user: user,
        settings.dashboard_clickhouse_user: dashboard,
    }
    unlimited = {"duration": 3600, "queries": 0, "errors": 0, "result_rows": 0, "read_rows": 0}
    default_profile = {
        "max_memory_usage": 4_000_000_000,
        # An idle client connection holds a shutdown for up to poll_interval
        # (10 s by default on 18.16): 1 s keeps `down` and Ctrl-C quick.
        "poll_interval": 1,
    }
    return _tree(
        "yandex",
        {
            "profiles": {
                "default": default_profile,
                "dashboard": {
                    **default_profile,
                    "readonly": 1,
                    "max_execution_time": settings.dashboard_query_seconds,
                    "max_memory_usage": 2_000_000_000,
                    # A grouping past half the limit goes on in files instead of failing:
                    # a day of a province's sessions answers slowly rather than not at all.
                    "max_bytes_before_external_group_by": 1_000_000_000,
                    "max_result_rows": settings.dashboard_result_rows,
                    "result_overflow_mode": "throw",
                },
            },
            "users": users,
            "quotas": {
                "default": {"interval": {**unlimited, "execution_time": 0}},
                "dashboard": {
                    "interval": {
                        **unlimited,
                        "duration": 60,
                        "queries": 1200,
                        "errors": 300,
                        "execution_time": 240,
                    }
                },
            },
        },
    )


def render(settings: Settings) -> Path:
    """Write ``config.xml`` and ``users.xml`` under ``<state_dir>/clickhouse``; return config."""
    directory = home(settings)
    (data_dir(settings)).mkdir(parents=True, exist_ok=True)
    server_log(settings).parent.mkdir(parents=True, exist_ok=True)
    for name, element in (
        ("config.xml", server_config(settings)),
        ("users.xml", users_config(settings)),
    ):
        ET.ElementTree(element).write(directory / name, encoding="utf-8", xml_declaration=True)
    return directory / "config.xml"


def client(settings: Settings, database: str = "default", timeout: float = 10.0) -> Client:
    """A clickhouse-driver client for the configured server (native protocol)."""
    return Client(
        host=settings.clickhouse_host,
        port=settings.clickhouse_port,
        user=settings.clickhouse_user,
        password=settings.clickhouse_password.get_secret_value(),
        database=database,
        connect_timeout=min(timeout, 2.0),
        send_receive_timeout=timeout,
    )


def probe(settings: Settings) -> None:
    """Healthy when ``SELECT 1`` answers over the native protocol."""
    # A TCP check first: the driver logs a traceback for every refused connection.
    tcp_open(settings.clickhouse_host, settings.clickhouse_port)()
    ch = client(settings, timeout=2.0)
    try:
        ch.execute("SELECT 1")
    finally:
        ch.disconnect()


def endpoint(settings: Settings) -> str:
    host = settings.clickhouse_host
    return (
        f"{host}:{settings.clickhouse_port} (native), "
        f"http://{host}:{settings.clickhouse_http_port}/"
    )


def spec(settings: Settings) -> ServiceSpec:
    """clickhouse-server with a config rendered at each start (settings may change ports)."""
    config = home(settings) / "config.xml"
    return ServiceSpec(
        name="clickhouse",
        argv=[str(prereqs.clickhouse_server()), f"--config-file={config}"],
        health=lambda: probe(settings),
        endpoint=endpoint(settings),
        startup_timeout=60.0,
        stop_grace=8.0,
        infrastructure=True,
        extra_logs=(server_error_log(settings),),
        cwd=home(settings),
        prepare=lambda: render(settings),
    )
