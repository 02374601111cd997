"""What a web hall is served: the newest published version of its item, never a draft, and a
refusal that says how to fix a request for something it cannot show."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channelhub.ingest.http_batch import RequestRefusedError
from channelhub.ingest.web_content import served
from orchestration.content import STEPS, Content, fold
from schemas.content import ContentEvent, Drafted, Rejected, StepTaken

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ITEM = "web:changsha:roaming"
PEOPLE = {"branch_maintainer": "editor", "branch_administrator": "branch_admin",
          "column_owner": "column", "service_centre": "centre"}  # fmt: skip


def _version(number: int, ending: str, item: str = ITEM) -> list[ContentEvent]:
    """Version ``number`` drafted, then ``published`` (its four reviews), ``rejected`` at the
    first review, or left ``in_review`` after two of them."""
    at = T0 + timedelta(days=number)
    drafted = Drafted(
        event_id=str(uuid.uuid4()), item=item, version=number, who="editor", at=at,
        text=f"第{number}版",
    )  # fmt: skip
    events: list[ContentEvent] = [drafted]
    if ending == "rejected":
        rejected = Rejected(
            event_id=str(uuid.uuid4()), item=item, version=number, who="branch_admin", at=at,
            role="branch_administrator", reason="措辞不当",
        )  # fmt: skip
        return [*events, rejected]
    steps = STEPS if ending == "published" else STEPS[:2]
    return events + [
        StepTaken(event_id=str(uuid.uuid4()), item=item, version=number, who=PEOPLE[role],
                  at=at + timedelta(hours=i + 1), step=step, role=role)
        for i, (step, role) in enumerate(steps)
    ]  # fmt: skip


def _refused(content: Content, prefecture: str, name: str) -> RequestRefusedError:
    with pytest.raises(RequestRefusedError) as refused:
        served(content, prefecture, name)
    assert refused.value.status == 404
    return refused.value


def test_the_published_version_is_served_with_its_number_and_time() -> None:
    content = fold(_version(1, "published"))
    answer = served(content, "changsha", "roaming")
    assert (answer.item, answer.version, answer.text) == (ITEM, 1, "第1版")
    assert answer.published_at == T0 + timedelta(days=1, hours=4)


def test_a_newer_draft_leaves_the_published_version_served_until_it_is_published() -> None:
    history = _version(1, "published") + _version(2, "in_review")
    assert served(fold(history), "changsha", "roaming").version == 1
    last_two_reviews = _version(2, "published")[3:]
    answer = served(fold(history + last_two_reviews), "changsha", "roaming")
    assert (answer.version, answer.text) == (2, "第2版")


def test_a_draft_alone_is_not_served_and_the_refusal_says_what_it_waits_for() -> None:
    refusal = _refused(fold(_version(1, "in_review")), "changsha", "roaming")
    assert refusal.code == "not_published"
    assert "version 1 waits for knowledge_checked by a service_centre" in refusal.message
    assert "channelhub content show web:changsha:roaming" in refusal.message


def test_an_unknown_item_or_prefecture_is_refused_with_what_there_is() -> None:
    content = fold(_version(1, "published") + _version(1, "in_review", "web:changsha:draft"))
    refusal = _refused(content, "changsha", "nothing")
    assert refusal.code == "unknown_item"
    assert "changsha's web hall has published roaming." in refusal.message
    assert "`channelhub content draft web:changsha:nothing TEXT`" in refusal.message
    assert "nothing published yet" in _refused(content, "zhuzhou", "roaming").message
    refusal = _refused(content, "atlantis", "roaming")
    assert refusal.code == "unknown_prefecture"
    assert "changsha" in refusal.message


@given(st.lists(st.sampled_from(["published", "rejected"]), max_size=6),
       st.sampled_from(["published", "rejected", "in_review"]))  # fmt: skip
def test_what_is_served_is_always_the_newest_published_version(
    endings: list[str], last: str
) -> None:
    endings = [*endings, last]
    content = fold(e for n, ending in enumerate(endings, 1) for e in _version(n, ending))
    published = [n for n, ending in enumerate(endings, 1) if ending == "published"]
    if published:
        answer = served(content, "changsha", "roaming")
        assert (answer.version, answer.text) == (published[-1], f"第{published[-1]}版")
    else:
        assert _refused(content, "changsha", "roaming").code == "not_published"
