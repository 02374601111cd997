"""The deployment gives each service only what it uses, and each starts with what it gets.

``docker-compose.yml`` is read as compose reads it (anchors and merge keys resolved); every
``${VAR...}`` becomes a strong stand-in value (or its default), and each channelhub service's
environment must then build the settings and pass the start-up checks of that service, while
holding no secret it does not use. The init job creates the topics with the lifecycles the
local stack gives them.
"""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from pydantic import SecretStr

from channelhub.platform.isolated import local_settings
from channelhub.platform.topics import topic_configs
from kernel.settings import SecretName, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SECRET_FIELDS = {
    f"CHANNELHUB_{name.upper()}"
    for name, field in Settings.model_fields.items()
    if field.annotation is SecretStr
}
#: What each service holds beyond the common settings, and the secrets its start-up checks.
HOLDS: dict[str, tuple[set[str], tuple[SecretName, ...]]] = {
    "init": ({"CLICKHOUSE_PASSWORD"}, ()),
    "worker": (set(), ()),
    "nudger": ({"PSEUDONYM_KEY"}, ("pseudonym_key",)),
    "waits": (set(), ()),
    "campaigns": ({"CLICKHOUSE_PASSWORD"}, ()),
    "dispatcher": ({"SMS_WEBHOOK_TOKEN", "SMS_CALLBACK_TOKEN", "SMS_SMPP_PASSWORD"}, ()),
    "sink": ({"CLICKHOUSE_PASSWORD", "PSEUDONYM_KEY"}, ("pseudonym_key",)),
    "collector": ({"COLLECTOR_TOKEN"}, ("collector_token",)),
    "dashboard": (
        {"DASHBOARD_SECRET_KEY", "DASHBOARD_CLICKHOUSE_PASSWORD"},
        ("dashboard_secret_key",),
    ),
    "alerts": ({"CLICKHOUSE_PASSWORD"}, ()),
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def _value(text: Any) -> str:
    """``text`` with each ``${VAR:-default}`` as its default, every other one a strong value."""
    return _VARIABLE.sub(
        lambda m: m[3] if m[2] == "-" else f"{m[1].lower()}-".ljust(40, "x"), str(text)
    )


def test_every_channelhub_service_is_covered() -> None:
    ours = {
        name for name, s in COMPOSE["services"].items() if s.get("image") == "channelhub:latest"
    }
    assert ours == set(HOLDS)


@pytest.mark.parametrize("service", sorted(HOLDS))
def test_a_service_holds_only_the_secrets_it_uses(service: str) -> None:
    environment = COMPOSE["services"][service]["environment"]
    held = {name for name in environment if name in SECRET_FIELDS}
    assert held == {f"CHANNELHUB_{name}" for name in HOLDS[service][0]}
    unknown = {
        name for name in environment
        if name.removeprefix("CHANNELHUB_").lower() not in Settings.model_fields
    }  # fmt: skip
    assert not unknown, f"not a setting: {unknown}"


@pytest.mark.parametrize("service", sorted(HOLDS))
def test_a_service_starts_with_what_it_gets(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"CHANNELHUB_{name.upper()}", raising=False)
    for name, value in COMPOSE["services"][service]["environment"].items():
        monkeypatch.setenv(name, _value(value))
    monkeypatch.chdir(tmp_path)  # no .env file of this checkout
    settings = Settings()
    assert settings.environment == "production"
    settings.refuse_weak_secrets(*HOLDS[service][1])
    if service == "dashboard":
        settings.check_dashboard_secrets()
        assert settings.dashboard_clickhouse_user == "dashboard"


def test_the_dashboard_runs_under_gunicorn_and_is_checked_there() -> None:
    dashboard = COMPOSE["services"]["dashboard"]
    assert dashboard["command"] == ["python", "-m", "dashboards"]  # gunicorn, see its __main__
    assert "http://127.0.0.1:8050/login" in " ".join(dashboard["healthcheck"]["test"])


def test_the_init_job_creates_the_topics_with_the_local_lifecycles() -> None:
    environment = COMPOSE["services"]["init"]["environment"]
    lifecycles = (
        "kafka_replay_horizon_hours",
        "kafka_retention_hours",
        "kafka_compaction_lag_hours",
    )
    compose = local_settings(
        **{name: _value(environment[f"CHANNELHUB_{name.upper()}"]) for name in lifecycles}
    )
    assert topic_configs(compose) == topic_configs(local_settings())


def test_the_init_script_puts_no_password_into_sql() -> None:
    script = (ROOT / "deploy/clickhouse/dashboard-user.sh").read_text()
    sql = script[script.index("<<SQL") : script.rindex("\nSQL")]
    assert "PASSWORD" not in sql
    assert "sha256_hash BY '${hash}'" in sql
    assert "CREATE QUOTA" in sql
    assert "GRANT SELECT ON ${CLICKHOUSE_DB}.* TO dashboard" in sql
    assert "--password" not in script
    assert "max_result_rows = ${rows}," in sql


def test_the_dashboard_user_s_row_limit_is_the_settings_one() -> None:
    """ClickHouse enforces the limit the back-test pages within: both read one variable,
    whose compose default is the setting's."""
    default = local_settings().dashboard_result_rows
    expected = f"${{CHANNELHUB_DASHBOARD_RESULT_ROWS:-{default}}}"
    assert (
        COMPOSE["services"]["clickhouse"]["environment"]["CHANNELHUB_DASHBOARD_RESULT_ROWS"]
        == expected
    )
    for name in ("dashboard", "sink"):
        environment = COMPOSE["services"][name]["environment"]
        assert environment["CHANNELHUB_DASHBOARD_RESULT_ROWS"] == expected, name
