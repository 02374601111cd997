"""The content fold: a version through the four reviews in order, four eyes, a rejection back to
draft, seeds; the staff file's branches; and, for any sequence of records, a fold that never
raises, equals the replay of what it accepted, and publishes only what passed every review in
turn by someone other than its drafter."""

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestration.catalogue import NotAllowedError, load_staff
from orchestration.catalogue.staff import DEV_STAFF_FILE
from orchestration.content import STEPS, Content, Refusal, fold
from schemas.content import (
    ROLES,
    ContentEvent,
    Drafted,
    Rejected,
    StepTaken,
    branch_of,
    seeded,
)
from schemas.content import (
    STEPS as STEP_NAMES,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ITEM = "rule:ivr.long_agent_wait"
REVIEWERS = {"branch_reviewed": "bea", "column_reviewed": "col", "knowledge_checked": "sc",
             "published": "sc"}  # fmt: skip


def _id() -> str:
    return str(uuid.uuid4())


def draft(version: int, text: str = "新文本", who: str = "ann", item: str = ITEM) -> Drafted:
    return Drafted(event_id=_id(), item=item, version=version, who=who, at=T0, text=text)


def step(version: int, name: str, who: str | None = None, role: str | None = None) -> StepTaken:
    return StepTaken(
        event_id=_id(), item=ITEM, version=version, who=who or REVIEWERS[name], at=T0,
        step=name, role=role or dict(STEPS)[name],  # type: ignore[arg-type,index]
    )  # fmt: skip


def reject(version: int, role: str, who: str = "bea") -> Rejected:
    return Rejected(
        event_id=_id(), item=ITEM, version=version, who=who, at=T0, role=role,  # type: ignore[arg-type]
        reason="措辞不当",
    )  # fmt: skip


def _code(refusal: Refusal | None) -> str | None:
    return None if refusal is None else refusal.code


def _through(content: Content, version: int, *names: str) -> None:
    for name in names:
        assert content.apply(step(version, name)) is None, name


def test_a_version_is_published_after_the_four_reviews_in_order() -> None:
    content = fold([seeded(ITEM, "旧文本", at=T0)])
    assert content.published_version(ITEM, "旧文本") == 1
    assert content.apply(draft(2)) is None
    assert content.published_version(ITEM, "新文本") is None
    for name, _ in STEPS:
        assert content.items[ITEM].last.status == "in_review"  # type: ignore[union-attr]
        assert content.published_version(ITEM, "新文本") is None
        assert content.apply(step(2, name)) is None
    item = content.items[ITEM]
    assert item.published.number == 2  # type: ignore[union-attr]
    assert content.published_version(ITEM, "新文本") == 2
    assert content.published_version(ITEM, "旧文本") == 1  # still a published version
    assert item.trail[0][0].event_id == seeded(ITEM, "旧文本", at=T0).event_id


def test_a_step_out_of_turn_or_in_the_wrong_role_is_refused_with_what_is_due() -> None:
    content = fold([draft(1)])
    refusal = content.apply(step(1, "column_reviewed"))
    assert _code(refusal) == "out_of_order"
    assert refusal is not None
    assert "next step is 'branch_reviewed', taken by a branch_administrator" in refusal.message
    refusal = content.apply(step(1, "branch_reviewed", role="column_owner"))
    assert _code(refusal) == "wrong_role"
    refusal = content.apply(step(2, "branch_reviewed"))
    assert _code(refusal) == "wrong_version"


def test_no_one_reviews_or_rejects_a_version_they_drafted() -> None:
    content = fold([draft(1, who="ann")])
    refusal = content.apply(step(1, "branch_reviewed", who="ann"))
    assert _code(refusal) == "own_draft"
    assert refusal is not None
    assert "ann drafted version 1" in refusal.message
    refusal = content.apply(reject(1, "branch_administrator", who="ann"))
    assert _code(refusal) == "own_draft"
    _through(content, 1, "branch_reviewed", "column_reviewed", "knowledge_checked")
    refusal = content.apply(step(1, "published", who="ann"))
    assert _code(refusal) == "own_draft"


def test_a_rejection_at_any_review_returns_the_item_to_draft() -> None:
    for at, (_, role) in enumerate(STEPS):
        content = fold([seeded(ITEM, "旧文本", at=T0), draft(2)])
        _through(content, 2, *(name for name, _ in STEPS[:at]))
        refusal = content.apply(draft(3))
        assert _code(refusal) == "in_review"
        assert content.apply(reject(2, role, who="zed")) is None
        assert content.items[ITEM].last.status == "rejected"  # type: ignore[union-attr]
        refusal = content.apply(step(2, STEPS[at][0]))
        assert _code(refusal) == "finished"
        assert content.items[ITEM].published.number == 1  # type: ignore[union-attr]
        assert content.apply(draft(3, "第三版")) is None
        _through(content, 3, *(name for name, _ in STEPS))
        assert content.published_version(ITEM, "第三版") == 3


def test_a_rejection_is_taken_in_the_role_of_the_step_due() -> None:
    content = fold([draft(1)])
    refusal = content.apply(reject(1, "column_owner"))
    assert _code(refusal) == "wrong_role"
    assert refusal is not None
    assert "only a branch_administrator may reject it now" in refusal.message


def test_only_system_seeds_and_only_an_item_without_versions() -> None:
    content = fold([draft(1)])
    refusal = content.apply(seeded(ITEM, "旧文本", at=T0))
    assert _code(refusal) == "has_content"
    refusal = content.apply(draft(2, who="system"))
    assert _code(refusal) == "reserved_actor"
    again = seeded("rule:other", "x", at=T0)
    duplicate = fold([again]).apply(again)
    assert _code(duplicate) == "duplicate"
    assert fold([again, again]).refusals == []


def test_the_branch_roles_hold_only_for_their_branches() -> None:
    staff = load_staff(DEV_STAFF_FILE)
    assert staff.require("editor", "branch_maintainer", branch=branch_of(ITEM)).roles
    assert staff.require("zhuzhou", "branch_maintainer", branch=branch_of("web:zhuzhou:tariffs"))
    with pytest.raises(NotAllowedError, match=r"not for 'changsha'; branch_admin, editor can act"):
        staff.require("zhuzhou", "branch_administrator", branch=branch_of("web:changsha:faq"))
    with pytest.raises(ValueError, match="names no prefecture"):
        branch_of("web:atlantis:faq")
    assert {r for p in staff.people.values() for r in p.roles} >= set(ROLES)


# -- any sequence of records ---------------------------------------------------------------

PEOPLE = ("ann", "bob", "cat", "system")
TEXTS = ("甲", "乙")


@st.composite
def histories(draw: st.DrawFn) -> list[ContentEvent]:
    """Drafts, seeds, steps and rejections over two items by a few people, in any order,
    version and role, with redeliveries."""
    records: list[ContentEvent] = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(["seed", "draft", "step", "step", "step", "reject", "again"]))
        item = draw(st.sampled_from((ITEM, "web:changsha:faq")))
        who, version = draw(st.sampled_from(PEOPLE)), draw(st.integers(1, 3))
        record: ContentEvent
        if kind == "seed":
            record = seeded(item, draw(st.sampled_from(TEXTS)), at=T0)
        elif kind == "draft":
            record = Drafted(event_id=_id(), item=item, version=version, who=who, at=T0,
                             text=draw(st.sampled_from(TEXTS)))  # fmt: skip
        elif kind == "again" and records:
            record = draw(st.sampled_from(records))
        elif kind == "reject":
            record = Rejected(event_id=_id(), item=item, version=version, who=who, at=T0,
                              role=draw(st.sampled_from(ROLES)), reason="no")  # fmt: skip
        else:
            record = StepTaken(
                event_id=_id(), item=item, version=version, who=who, at=T0,
                step=draw(st.sampled_from(STEP_NAMES)), role=draw(st.sampled_from(ROLES)),
            )  # fmt: skip
        records.append(record)
    return records


def _state(content: Content) -> object:
    return {
        name: [(v.number, v.text, v.status, [s.event_id for s in v.steps]) for v in item.versions]
        for name, item in content.items.items()
        if item.versions
    }, content.revision


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=histories())
def test_any_history_folds_to_the_replay_of_what_it_accepted_and_publishes_only_reviewed_text(
    records: list[ContentEvent],
) -> None:
    content = Content()
    accepted = [r for r in records if content.apply(r) is None]
    assert _state(fold(accepted)) == _state(content)
    assert fold(accepted).refusals == []
    for item in content.items.values():
        assert [v.number for v in item.versions] == list(range(1, len(item.versions) + 1))
        assert sum(v.status == "in_review" for v in item.versions[:-1]) == 0
        for version in item.versions:
            assert [s.step for s in version.steps] == list(STEP_NAMES[: len(version.steps)])
            for taken in version.steps:
                assert taken.role == dict(STEPS)[taken.step]
                assert taken.who not in (version.draft.who, "system")
            if version.rejection is not None:
                assert version.rejection.who != version.draft.who
            if version.status == "published" and version.draft.who != "system":
                assert len(version.steps) == len(STEPS)
            if version.draft.who == "system":
                assert version.number == 1
