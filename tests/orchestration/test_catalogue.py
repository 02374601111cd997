"""The catalogue fold: the two processes step by step, four eyes, slots, and refusals that say
how to fix the request; and, for any sequence of records, a fold that never raises and equals
the replay of the records it accepted."""

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channelhub.catalogue.seed import seed_records
from orchestration.catalogue import (
    REVIEWS,
    STEPS,
    Catalogue,
    NotAllowedError,
    StaffFileError,
    fold,
    load_staff,
    role_for,
)
from orchestration.catalogue.staff import DEV_STAFF_FILE
from schemas import content
from schemas.catalogue import (
    CATALOGUE_CHANNELS,
    ROLES,
    CatalogueEvent,
    Entry,
    IvrItem,
    KioskService,
    OpenRequested,
    RetireRequested,
    SmsHallCode,
    StepTaken,
    WebFunction,
    seeded,
)
from schemas.catalogue import (
    STEPS as STEP_NAMES,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ROLE_OF_PERSON = {
    "product": "requester", "marketing": "marketing_reviewer", "developer": "developer",
    "ops": "tester", "content": "content_owner", "channels": "channel_owner",
}  # fmt: skip


def _id() -> str:
    return str(uuid.uuid4())


def open_request(service: str, *entries: Entry, who: str = "product") -> OpenRequested:
    return OpenRequested(
        event_id=_id(), service=service, who=who, at=T0, department="product", entries=entries
    )


def retire_request(service: str, *channels: str, who: str = "product") -> RetireRequested:
    return RetireRequested(
        event_id=_id(), service=service, who=who, at=T0, department="product",
        channels=channels,  # type: ignore[arg-type]
    )  # fmt: skip


def step(request: OpenRequested | RetireRequested, name: str, who: str) -> StepTaken:
    process = "open" if isinstance(request, OpenRequested) else "retire"
    role = role_for(process, name) or "requester"  # type: ignore[arg-type]
    return StepTaken(
        event_id=_id(), service=request.service, who=who, at=T0 + timedelta(hours=1),
        request_id=request.event_id, step=name, role=role,  # type: ignore[arg-type]
    )  # fmt: skip


def whole(request: OpenRequested | RetireRequested) -> list[CatalogueEvent]:
    """The request and every later step, each by someone who holds its role."""
    process = "open" if isinstance(request, OpenRequested) else "retire"
    people = {role: person for person, role in ROLE_OF_PERSON.items()}
    steps = [
        step(request, name, "billing" if role == "requester" else people[role])
        for name, role in STEPS[process]
    ]
    return [request, *steps]


FAMILY = (IvrItem(keys="3-9"), SmsHallCode(code="0207", keywords=("JT", "家庭")))


def seeded_with(at: datetime, *requests: OpenRequested | RetireRequested) -> Catalogue:
    """Today's catalogue seeded at ``at``, then each request taken through its whole process."""
    catalogue = fold(seed_records(at))
    for request in requests:
        for record in whole(request):
            assert catalogue.apply(record) is None, record
    return catalogue


def test_a_service_opens_after_every_step_in_order_and_retires_the_same_way() -> None:
    request = open_request("handling.family_plan", *FAMILY, WebFunction(function="family.plan"))
    catalogue, *records, opened = Catalogue(), *whole(request)
    for record in records:
        assert catalogue.apply(record) is None
        assert catalogue.services() == []
    assert catalogue.apply(opened) is None
    assert catalogue.services() == ["handling.family_plan"]
    assert catalogue.channel("ivr") == {"3-9": [("handling.family_plan", FAMILY[0])]}
    assert catalogue.keywords() == {"jt": "0207", "家庭": "0207"}
    assert catalogue.workflows[request.event_id].finished

    retire = retire_request("handling.family_plan", "ivr", "sms")
    for record in whole(retire):
        assert catalogue.apply(record) is None
    assert catalogue.entries("handling.family_plan") == [WebFunction(function="family.plan")]
    assert catalogue.channel("ivr") == {}
    assert catalogue.keywords() == {}
    assert catalogue.refusals == []


def test_a_step_out_of_turn_is_refused_with_the_step_that_is_due() -> None:
    request = open_request("handling.family_plan", *FAMILY)
    catalogue = fold([request])
    refusal = catalogue.apply(step(request, "live_and_tested", "ops"))
    assert refusal is not None
    assert refusal.code == "out_of_order"
    assert "next step is 'marketing_reviewed'" in refusal.message
    workflow = catalogue.workflows[request.event_id]
    assert workflow.steps == []
    assert workflow.trail[-1][1] == refusal


def test_no_one_reviews_their_own_request() -> None:
    request = open_request("handling.family_plan", *FAMILY, who="marketing")
    catalogue = fold([request])
    refusal = catalogue.apply(step(request, "marketing_reviewed", "marketing"))
    assert refusal is not None
    assert refusal.code == "own_request"
    assert "another marketing_reviewer must" in refusal.message
    assert catalogue.apply(step(request, "marketing_reviewed", "reviewer")) is None


def test_who_submitted_a_retirement_does_not_review_it_either() -> None:
    catalogue = fold([seeded("query.points", KioskService(function="query.points"), at=T0)])
    request = retire_request("query.points")
    catalogue.apply(request)
    catalogue.apply(step(request, "submitted", "marketing"))
    refusal = catalogue.apply(step(request, "marketing_reviewed", "marketing"))
    assert refusal is not None
    assert refusal.code == "own_request"


def test_a_step_in_the_wrong_role_is_refused() -> None:
    request = open_request("handling.family_plan", *FAMILY)
    catalogue = fold([request])
    wrong = StepTaken(
        event_id=_id(), service=request.service, who="ops", at=T0, request_id=request.event_id,
        step="marketing_reviewed", role="tester",
    )  # fmt: skip
    refusal = catalogue.apply(wrong)
    assert refusal is not None
    assert refusal.code == "wrong_role"


@pytest.mark.parametrize(
    ("entries", "code", "says"),
    [
        ((IvrItem(keys="1-1"),), "slot_taken", "already lead to 'query.realtime_charges'"),
        ((SmsHallCode(code="0299", keywords=("hf",)),), "keyword_taken", "leads to code 0101"),
        ((IvrItem(keys="3-9"), IvrItem(keys="3-9")), "conflicting_entries", "twice"),
    ],
)
def test_a_request_for_a_taken_slot_is_refused_when_asked(
    entries: tuple[Entry, ...], code: str, says: str
) -> None:
    catalogue = fold(
        [
            seeded("query.realtime_charges", IvrItem(keys="1-1"), at=T0),
            seeded("query.realtime_charges", SmsHallCode(code="0101", keywords=("HF",)), at=T0),
        ]
    )
    refusal = catalogue.apply(open_request("handling.family_plan", *entries))
    assert refusal is not None
    assert refusal.code == code
    assert says in refusal.message


def test_the_opening_is_refused_if_another_request_took_the_slot_meanwhile() -> None:
    first, second = open_request("a.first", FAMILY[0]), open_request("b.second", FAMILY[0])
    catalogue = fold([first, second, *whole(first)[1:], *whole(second)[1:-1]])
    assert catalogue.refusals == []
    refusal = catalogue.apply(whole(second)[-1])
    assert refusal is not None
    assert refusal.code == "slot_taken"
    assert catalogue.channel("ivr") == {"3-9": [("a.first", FAMILY[0])]}


def test_retiring_what_is_not_open_and_stepping_a_finished_request_are_refused() -> None:
    catalogue = Catalogue()
    refusal = catalogue.apply(retire_request("a.nothing"))
    assert refusal is not None
    assert refusal.code == "not_open"
    request = open_request("a.first", FAMILY[0])
    for record in whole(request):
        catalogue.apply(record)
    refusal = catalogue.apply(step(request, "opened", "channels"))
    assert refusal is not None
    assert refusal.code == "finished"


def test_a_redelivered_record_changes_nothing_and_is_not_a_refusal() -> None:
    request = open_request("a.first", FAMILY[0])
    catalogue = fold(whole(request))
    version = catalogue.version
    again = catalogue.apply(request)
    assert again is not None
    assert again.code == "duplicate"
    assert catalogue.version == version
    assert catalogue.refusals == []


def test_only_seed_seeds() -> None:
    catalogue = Catalogue()
    refusal = catalogue.apply(open_request("a.first", FAMILY[0], who="seed"))
    assert refusal is not None
    assert refusal.code == "reserved_actor"


def test_the_workflows_steps_and_roles_are_the_schema_s() -> None:
    named = {name for process in STEPS.values() for name, _ in process}
    assert named == set(STEP_NAMES)
    assert {role for process in STEPS.values() for _, role in process} <= set(ROLES)
    assert named >= REVIEWS


def test_the_development_staff_file_holds_every_role(tmp_path: Path) -> None:
    staff = load_staff(DEV_STAFF_FILE)
    held = {role for p in staff.people.values() for role in p.roles}
    assert held == set(ROLES) | set(content.ROLES)  # the file also names who publishes content
    assert staff.require("ops", "tester").department == "operations"
    with pytest.raises(NotAllowedError, match=r"'ops' holds .* not 'developer'; developer can"):
        staff.require("ops", "developer")
    with pytest.raises(NotAllowedError, match=r"add them under \[people.zoe\]"):
        staff.require("zoe", "tester")
    bad = tmp_path / "staff.toml"
    bad.write_text('version = 1\n[people.ann]\ndepartment = "x"\nroles = ["boss"]\n')
    with pytest.raises(StaffFileError, match=r"roles\[0\]: Invalid enum value 'boss'"):
        load_staff(bad)


# -- any sequence of records ---------------------------------------------------------------

SERVICES = ("a.one", "b.two")
PEOPLE = ("ann", "bob", "cat", "seed")
ENTRIES: tuple[Entry, ...] = (
    IvrItem(keys="1-1"), IvrItem(keys="1-2"), SmsHallCode(code="0101", keywords=("hf",)),
    SmsHallCode(code="0102", keywords=("HF", "zd")), WebFunction(function="bill.realtime"),
    KioskService(function="bill.print"),
)  # fmt: skip


@st.composite
def histories(draw: st.DrawFn) -> list[CatalogueEvent]:
    """Records of every kind over a few services, people and slots, steps mostly aimed at the
    requests drawn before them, in any order and any role."""
    records: list[CatalogueEvent] = []
    requests: list[OpenRequested | RetireRequested] = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(["seed", "open", "retire", "step", "step", "step", "again"]))
        service, who = draw(st.sampled_from(SERVICES)), draw(st.sampled_from(PEOPLE))
        record: CatalogueEvent
        if kind == "seed":
            record = seeded(service, draw(st.sampled_from(ENTRIES)), at=T0)
        elif kind == "open":
            entries = draw(st.lists(st.sampled_from(ENTRIES), min_size=1, max_size=3))
            record = open_request(service, *entries, who=who)
            requests.append(record)
        elif kind == "retire":
            channels = draw(st.lists(st.sampled_from(CATALOGUE_CHANNELS), max_size=2))
            record = retire_request(service, *channels, who=who)
            requests.append(record)
        elif kind == "again" and records:
            record = draw(st.sampled_from(records))
        else:
            target = draw(st.sampled_from(requests)) if requests and draw(st.booleans()) else None
            record = StepTaken(
                event_id=_id(), service=target.service if target else service, who=who, at=T0,
                request_id=target.event_id if target else _id(),
                step=draw(st.sampled_from(STEP_NAMES)), role=draw(st.sampled_from(ROLES)),
            )  # fmt: skip
        records.append(record)
    return records


def _state(catalogue: Catalogue) -> object:
    return (
        {s: catalogue.entries(s) for s in catalogue.services()},
        {c: catalogue.channel(c) for c in CATALOGUE_CHANNELS},
        catalogue.keywords(),
        {rid: [s.event_id for s in w.steps] for rid, w in catalogue.workflows.items()},
        catalogue.version,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=histories())
def test_any_history_folds_to_the_replay_of_what_it_accepted(
    records: list[CatalogueEvent],
) -> None:
    catalogue = Catalogue()
    accepted = [r for r in records if catalogue.apply(r) is None]
    assert _state(fold(accepted)) == _state(catalogue)
    assert fold(accepted).refusals == []
    for workflow in catalogue.workflows.values():
        process = workflow.process
        assert [s.step for s in workflow.steps] == [n for n, _ in STEPS[process]][
            : len(workflow.steps)
        ]
        for taken in workflow.steps:
            assert taken.role == role_for(process, taken.step)
            assert taken.who != "seed"
            if taken.step in REVIEWS:
                assert taken.who != workflow.request.who
    holders = [service for entries in catalogue.channel("ivr").values() for service, _ in entries]
    assert len(holders) == len(catalogue.channel("ivr"))  # one service per key path
