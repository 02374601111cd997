"""Secrets fail closed: every weak secret refused outside development, in one line at start.

The table covers each secret a process uses, each way it can be weak, and each environment
outside development; the start-up test runs every service's real entry point in production
with a weak secret and reads what it says.
"""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import ValidationError
from werkzeug.security import generate_password_hash

from dashboards import auth
from kernel.errors import ConfigError
from kernel.settings import (
    BIND_HOSTS,
    DEV_CALLBACK_TOKEN,
    MIN_SECRET_BYTES,
    PLACEHOLDERS,
    SecretName,
)
from tests.fixtures.services import local_settings

SECRETS: tuple[SecretName, ...] = get_args(SecretName)
STRONG: dict[str, str] = {name: f"{name}-".ljust(MIN_SECRET_BYTES, "x") for name in SECRETS}
WEAK = {
    "empty": "",
    "placeholder": next(iter(PLACEHOLDERS)),
    "short": "s" * (MIN_SECRET_BYTES - 1),
}


@pytest.mark.parametrize("environment", ["test", "production"])
@pytest.mark.parametrize("weakness", sorted(WEAK))
@pytest.mark.parametrize("name", SECRETS)
def test_each_weak_secret_is_refused_outside_development(
    name: str, weakness: str, environment: str
) -> None:
    settings = local_settings(environment=environment, **{**STRONG, name: WEAK[weakness]})
    with pytest.raises(ConfigError, match=f"CHANNELHUB_{name.upper()}"):
        settings.refuse_weak_secrets(*SECRETS)


@pytest.mark.parametrize("environment", ["test", "production"])
def test_strong_secrets_pass_and_only_the_named_ones_are_checked(environment: str) -> None:
    local_settings(environment=environment, **STRONG).refuse_weak_secrets(*SECRETS)
    # A worker that takes no callbacks starts without a callback token.
    local_settings(
        environment=environment, **{**STRONG, "sms_callback_token": ""}
    ).refuse_weak_secrets("collector_token")
    # ... and one that holds no pseudonym key does not need a good one.
    local_settings(environment=environment, **{**STRONG, "pseudonym_key": ""}).refuse_weak_secrets(
        "dashboard_secret_key"
    )


def test_development_accepts_the_placeholders() -> None:
    local_settings().refuse_weak_secrets(*SECRETS)
    assert local_settings().sms_callback_token.get_secret_value() == DEV_CALLBACK_TOKEN


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "example.com", ""])
@pytest.mark.parametrize("name", BIND_HOSTS)
def test_development_refuses_to_listen_beyond_loopback(name: str, host: str) -> None:
    with pytest.raises(ValidationError, match=f"CHANNELHUB_{name.upper()}=127.0.0.1"):
        local_settings(**{name: host})
    local_settings(environment="production", **STRONG, **{name: host})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_development_listens_on_any_loopback_address(host: str) -> None:
    local_settings(**dict.fromkeys(BIND_HOSTS, host))


def _users(tmp_path: Path, password: str) -> Path:
    path = tmp_path / "users.toml"
    path.write_text(
        f'[users.ana]\nroles = ["analyst"]\npassword_hash = "{generate_password_hash(password)}"\n'
    )
    return path


def test_the_development_users_are_refused_by_their_passwords_wherever_they_live(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="published development password"):
        auth.refuse_development_users(auth.load_users(auth.DEV_USERS_FILE))
    rehashed = _users(tmp_path, "dev-ops")  # a copy under another name, hashed again
    with pytest.raises(ConfigError, match="'ana' has a published development password"):
        auth.refuse_development_users(auth.load_users(rehashed))
    auth.refuse_development_users(auth.load_users(_users(tmp_path, "a password of her own")))


ENTRY_POINTS: dict[str, tuple[list[str], dict[str, str]]] = {
    "sink": (["-m", "sinks"], {}),
    "worker all": (["-m", "streams"], {}),
    "worker nudges": (["-m", "streams", "--stage", "nudges"], {}),
    "worker dispatch": (
        ["-m", "streams", "--stage", "dispatch"],
        {"CHANNELHUB_SMS_GATEWAY": "webhook", "CHANNELHUB_SMS_WEBHOOK_URL": "http://127.0.0.1:9/"},
    ),
    "collector": (["-m", "channelhub.ingest.collector"], {}),
    "dashboard": (["-m", "dashboards"], {}),
    "alerts": (["-m", "dashboards.alerts"], {}),
    "handsets": (["-m", "channelhub.simulator.handsets"], {}),
    "topics": (["-m", "channelhub.platform.broker"], {}),
    "channelhub": (["-m", "channelhub.cli", "status"], {}),
}
#: The secret each entry point uses (those that hold none are missing).
USES = {
    "sink": "pseudonym_key",
    "worker all": "pseudonym_key",
    "worker nudges": "pseudonym_key",
    "collector": "collector_token",
    "dashboard": "dashboard_secret_key",
    "worker dispatch": "sms_callback_token",
}
CASES = [(service, secret, weakness) for service, secret in USES.items() for weakness in WEAK]


def _environment(tmp_path: Path, **secrets: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CHANNELHUB_")},
        **{f"CHANNELHUB_{k.upper()}": v for k, v in {**STRONG, **secrets}.items()},
        "CHANNELHUB_ENVIRONMENT": "production",
        "CHANNELHUB_STATE_DIR": str(tmp_path),
        "CHANNELHUB_KAFKA_BOOTSTRAP": "127.0.0.1:9",
    }


@pytest.mark.parametrize(("service", "secret", "weakness"), CASES)
def test_every_service_started_in_production_with_a_weak_secret_says_so_in_one_line(
    service: str, secret: str, weakness: str, tmp_path: Path
) -> None:
    args, extra = ENTRY_POINTS[service]
    env: dict[str, Any] = {**_environment(tmp_path, **{secret: WEAK[weakness]}), **extra}
    result = subprocess.run(
        [sys.executable, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{service}: {secret} is ")
    assert f"CHANNELHUB_{secret.upper()}" in lines[0]


@pytest.mark.parametrize("service", sorted(set(ENTRY_POINTS) - set(USES)))
def test_a_service_that_holds_no_secret_is_not_asked_for_one(service: str, tmp_path: Path) -> None:
    """With every secret empty it gets past start-up, to fail later on the missing broker or
    ClickHouse, or to run: whatever it says, it is not about a secret."""
    args, extra = ENTRY_POINTS[service]
    env = {**_environment(tmp_path, **dict.fromkeys(STRONG, "")), **extra}
    try:
        result = subprocess.run(
            [sys.executable, *args], env=env, cwd=tmp_path, capture_output=True, text=True,
            timeout=15,
        )  # fmt: skip
        said = result.stderr
    except subprocess.TimeoutExpired as running:  # it started: no refusal at all
        said = (running.stderr or b"").decode() if isinstance(running.stderr, bytes) else ""
    assert "is empty; set CHANNELHUB_" not in said, said
