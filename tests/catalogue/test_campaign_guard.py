"""No campaign may point to a retired SMS code: ``channelhub campaign create`` refuses a template
that names one, in one line, on the real broker and ClickHouse; a template naming open codes
is created. For any text, the codes found are retired ones the text names as whole numbers."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from channelhub.catalogue.seed import seed, seed_records
from kernel.settings import Settings
from orchestration.catalogue import fold
from schemas.catalogue import SmsHallCode
from sinks import migrations
from tests.catalogue.test_cli import RETIRING, _ok, _request_id
from tests.fixtures.cli import run_cli
from tests.fixtures.services import Topics
from tests.orchestration.test_catalogue import open_request, retire_request, whole

EXAMPLE = (
    Path(__file__).resolve().parents[2] / "orchestration/campaigns/examples/sms_hall_winback.toml"
)
RETIRED = fold([*seed_records(datetime(2026, 3, 2, tzinfo=UTC)),
                *whole(retire_request("query.points", "sms"))])  # fmt: skip


def test_a_retired_code_is_found_only_as_a_whole_number() -> None:
    assert RETIRED.retired_codes_in("发送0103到10086查积分") == ["0103"]
    assert RETIRED.retired_codes_in("发送0101到10086 01031 10103") == []


def test_a_code_counts_as_retired_from_its_retirement_until_it_is_opened_again() -> None:
    retiring = whole(retire_request("query.points", "sms"))
    retired_at = retiring[-1].at
    reopening = [
        msgspec.structs.replace(e, at=retired_at + timedelta(days=1))
        for e in whole(open_request("query.points", SmsHallCode(code="0103")))
    ]
    catalogue = fold([*seed_records(datetime(2026, 3, 2, tzinfo=UTC)), *retiring, *reopening])
    text = "发送0103到10086查积分"
    assert catalogue.retired_codes_in(text, retired_at - timedelta(seconds=1)) == []
    assert catalogue.retired_codes_in(text, retired_at) == ["0103"]
    assert catalogue.retired_codes_in(text, retired_at + timedelta(hours=23)) == ["0103"]
    assert catalogue.retired_codes_in(text, retired_at + timedelta(days=1)) == []
    assert catalogue.retired_codes_in(text) == []


@given(st.lists(st.sampled_from(["0103", "0101", "到", "1", " ", "发送", "10086"]), max_size=12))
def test_the_codes_found_are_retired_and_named(parts: list[str]) -> None:
    text = "".join(parts)
    found = RETIRED.retired_codes_in(text)
    assert set(found) <= {"0103"}
    assert ("0103" in found) == bool(re.search(r"(?<!\d)0103(?!\d)", text))


def _campaign(tmp_path: Path, campaign_id: str, codes: str) -> Path:
    text = (
        EXAMPLE.read_text(encoding="utf-8")
        .replace('id = "sms-hall-winback"', f'id = "{campaign_id}"')
        .replace("发送0101到10086查实时话费", f"发送{codes}到10086")
        .replace("0102查月账单", "")
    )
    file = tmp_path / f"{campaign_id}.toml"
    file.write_text(text, encoding="utf-8")
    return file


@pytest.mark.integration
def test_campaign_create_refuses_a_template_naming_a_retired_code(
    settings: Settings, topics: Topics, clickhouse_db: str, tmp_path: Path
) -> None:
    migrations.migrate(settings)
    seed(settings)
    retiring = _request_id(
        _ok(settings, "request-retire", "query.points", "--channel", "sms", "--by", "billing")
    )
    for step, who in RETIRING:
        _ok(settings, "step", retiring, step, "--by", who)
    refused = run_cli(settings, "campaign", "create", str(_campaign(tmp_path, "points", "0103")),
                      "--by", "marketing")  # fmt: skip
    assert refused.returncode == 1, refused.stdout + refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert "tells people to send 0103, retired from the SMS hall" in line
    created = run_cli(settings, "campaign", "create", str(_campaign(tmp_path, "bills", "0101")),
                      "--by", "marketing")  # fmt: skip
    assert created.returncode == 0, created.stderr
