"""The whole decision: every reason code, the order of checks, replays, and the state it keeps."""

from datetime import UTC, datetime, time, timedelta
from typing import Any, NamedTuple, get_args

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestration.guardrails import (
    ALL,
    LOCAL_TZ,
    Budget,
    BudgetState,
    FrequencyCaps,
    GuardrailPolicy,
    GuardrailSettings,
    GuardrailState,
    OptOut,
    QuietHours,
    RateLimit,
    Reason,
    SubscriberState,
    TokenBucket,
    holdout_score,
    record_opt_out,
)
from orchestration.guardrails.ratelimit import epoch_us
from orchestration.guardrails.state import id_digest
from schemas.nudges import Decision, NudgeRequest, nudge_id

POLICY = GuardrailPolicy(rate_limit=RateLimit(per_second=10.0, burst=10))
RULE = "long_wait"
#: Monday 10 March 2025, 10:00 in Hunan: outside quiet hours.
MORNING = datetime(2025, 3, 10, 10, 0, tzinfo=LOCAL_TZ)
#: The first test subscribers whose holdout score under RULE is above / below 0.5.
SENT_TO = next(m for m in (f"1380000{n:04d}" for n in range(100)) if holdout_score(RULE, m) > 0.5)
HELD_OUT = next(m for m in (f"1380000{n:04d}" for n in range(100)) if holdout_score(RULE, m) < 0.5)


def request(trigger: str = "event-1", **overrides: Any) -> NudgeRequest:
    """A request triggered a minute before MORNING, due at MORNING."""
    fields: dict[str, Any] = {
        "nudge_id": nudge_id(overrides.get("rule_id", RULE), trigger),
        "rule_id": RULE,
        "trigger_event_id": trigger,
        "msisdn": SENT_TO,
        "prefecture": "changsha",
        "brand": "mzone",
        "text": "您刚才等待人工较久\uff0c发送0101到10086即可查询话费\u3002回复TD退订",
        "goal": "sms_hall_use_72h",
        "requested_at": MORNING - timedelta(minutes=1),
        "send_at": MORNING,
    }
    return NudgeRequest(**{**fields, **overrides})


def with_sends(*times: datetime, rule: str = RULE) -> GuardrailState:
    sub = SubscriberState()
    for at in times:
        sub = sub.record_send(rule, at)
    return GuardrailState(subscriber=sub)


def opted_out(scope: str) -> GuardrailState:
    return GuardrailState(subscriber=record_opt_out(SubscriberState(), OptOut(scope), MORNING))


EMPTY_BUCKET = TokenBucket(tokens=0.0, updated_us=epoch_us(MORNING))
DEFAULT = GuardrailSettings()
ONE_A_DAY = GuardrailSettings(caps=FrequencyCaps(all_per_day=1))
DROP_AT_NIGHT = GuardrailSettings(quiet_hours=QuietHours(policy="drop"))
ALL_HELD_OUT = GuardrailSettings(holdout_share=1.0)
TWO_MESSAGES = GuardrailSettings(budget=Budget(max_messages=2))
NIGHT = datetime(2025, 3, 10, 22, 0, tzinfo=LOCAL_TZ)
NEXT_OPENING = datetime(2025, 3, 11, 8, 0, tzinfo=LOCAL_TZ)

UNCAPPED = FrequencyCaps(rule_per_day=None, rule_per_week=None, all_per_day=None, all_per_week=None)
OTHER_RULE_SENT = with_sends(MORNING - timedelta(hours=1), rule="survey")


class Case(NamedTuple):
    request: NudgeRequest
    settings: GuardrailSettings
    state: GuardrailState
    now: datetime
    in_live_call: bool
    outcome: str
    reason: Reason | None
    send_at: datetime | None = None
    names_retired: bool = False


CASES: dict[str, Case] = {
    "approved": Case(request(), DEFAULT, GuardrailState(), MORNING, False, "approved", None),
    "duplicate": Case(
        request(), DEFAULT,
        GuardrailState(subscriber=SubscriberState().remember(request().nudge_id, MORNING, 8)),
        MORNING, False, "suppressed", "duplicate"),
    "expired": Case(
        request(requested_at=MORNING - timedelta(hours=24, seconds=1)), DEFAULT,
        GuardrailState(), MORNING, False, "suppressed", "expired"),
    "max age is inclusive": Case(
        request(requested_at=MORNING - timedelta(hours=24)), DEFAULT, GuardrailState(), MORNING,
        False, "approved", None),
    "retired service": Case(
        request(), DEFAULT, GuardrailState(), MORNING, False, "suppressed", "retired_service",
        names_retired=True),
    "opted out of all": Case(
        request(), DEFAULT, opted_out(ALL), MORNING, False, "suppressed", "opted_out"),
    "opted out of the rule's code": Case(
        request(), GuardrailSettings(opt_out_codes=("0101",)), opted_out("0101"), MORNING, False,
        "suppressed", "opted_out"),
    "opted out of another code": Case(
        request(), GuardrailSettings(opt_out_codes=("0102",)), opted_out("0101"), MORNING, False,
        "approved", None),
    "not due yet": Case(
        request(), DEFAULT, GuardrailState(), MORNING - timedelta(seconds=1), False, "held",
        "not_due", MORNING),
    "quiet hours hold": Case(
        request(requested_at=NIGHT, send_at=NIGHT), DEFAULT, GuardrailState(), NIGHT, False,
        "held", "quiet_hours", NEXT_OPENING),
    "quiet hours drop": Case(
        request(requested_at=NIGHT, send_at=NIGHT), DROP_AT_NIGHT, GuardrailState(), NIGHT, False,
        "suppressed", "quiet_hours"),
    "no quiet hours": Case(
        request(requested_at=NIGHT, send_at=NIGHT), GuardrailSettings(quiet_hours=None),
        GuardrailState(), NIGHT, False, "approved", None),
    "in live call": Case(
        request(), DEFAULT, GuardrailState(), MORNING, True, "held", "in_live_call",
        MORNING + timedelta(minutes=2)),
    "live call allowed": Case(
        request(), GuardrailSettings(allow_in_live_call=True), GuardrailState(), MORNING, True,
        "approved", None),
    "rule day cap": Case(
        request(), DEFAULT, with_sends(MORNING - timedelta(hours=1)), MORNING, False,
        "suppressed", "frequency_cap_rule_day"),
    "rule week cap": Case(
        request(), GuardrailSettings(caps=FrequencyCaps(rule_per_day=None, rule_per_week=1)),
        with_sends(MORNING - timedelta(hours=1)), MORNING, False, "suppressed",
        "frequency_cap_rule_week"),
    "day cap": Case(
        request(), ONE_A_DAY, OTHER_RULE_SENT, MORNING, False, "suppressed", "frequency_cap_day"),
    "week cap": Case(
        request(), GuardrailSettings(caps=FrequencyCaps(all_per_week=1)), OTHER_RULE_SENT,
        MORNING, False, "suppressed", "frequency_cap_week"),
    "holdout": Case(
        request(), ALL_HELD_OUT, GuardrailState(), MORNING, False, "holdout", "holdout"),
    "holdout by share": Case(
        request(msisdn=HELD_OUT), GuardrailSettings(holdout_share=0.5), GuardrailState(), MORNING,
        False, "holdout", "holdout"),
    "not in holdout by share": Case(
        request(), GuardrailSettings(holdout_share=0.5), GuardrailState(), MORNING, False,
        "approved", None),
    "budget exhausted": Case(
        request(), TWO_MESSAGES, GuardrailState(budget=BudgetState(messages=2)), MORNING, False,
        "suppressed", "budget_exhausted"),
    "budget left": Case(
        request(), TWO_MESSAGES, GuardrailState(budget=BudgetState(messages=1)), MORNING, False,
        "approved", None),
    "rate limited": Case(
        request(), DEFAULT, GuardrailState(gateway=EMPTY_BUCKET), MORNING, False, "held",
        "rate_limited", MORNING + timedelta(seconds=0.1)),
    # order: permanent refusals before holds, holds before caps, caps before holdout
    "duplicate beats retired service": Case(
        request(), DEFAULT,
        GuardrailState(subscriber=SubscriberState().remember(request().nudge_id, MORNING, 8)),
        MORNING, False, "suppressed", "duplicate", names_retired=True),
    "expiry beats retired service": Case(
        request(requested_at=MORNING - timedelta(hours=25)), DEFAULT, GuardrailState(), MORNING,
        False, "suppressed", "expired", names_retired=True),
    "retired service beats opt-out": Case(
        request(), DEFAULT, opted_out(ALL), MORNING, False, "suppressed", "retired_service",
        names_retired=True),
    "retired service beats quiet hours": Case(
        request(requested_at=NIGHT, send_at=NIGHT), DEFAULT, GuardrailState(), NIGHT, False,
        "suppressed", "retired_service", names_retired=True),
    "retired service beats holdout": Case(
        request(), ALL_HELD_OUT, GuardrailState(), MORNING, False, "suppressed",
        "retired_service", names_retired=True),
    "opt-out beats quiet hours": Case(
        request(requested_at=NIGHT, send_at=NIGHT), DEFAULT, opted_out(ALL), NIGHT, False,
        "suppressed", "opted_out"),
    "quiet hours beat live call": Case(
        request(requested_at=NIGHT, send_at=NIGHT), DEFAULT, GuardrailState(), NIGHT, True,
        "held", "quiet_hours", NEXT_OPENING),
    "live call before caps": Case(
        request(), DEFAULT, with_sends(MORNING - timedelta(hours=1)), MORNING, True, "held",
        "in_live_call", MORNING + timedelta(minutes=2)),
    "caps before holdout": Case(
        request(), ALL_HELD_OUT, with_sends(MORNING - timedelta(hours=1)), MORNING, False,
        "suppressed", "frequency_cap_rule_day"),
    "holdout spends no budget": Case(
        request(), GuardrailSettings(holdout_share=1.0, budget=Budget(max_messages=1)),
        GuardrailState(budget=BudgetState(messages=1)), MORNING, False, "holdout", "holdout"),
    "budget before rate": Case(
        request(), TWO_MESSAGES,
        GuardrailState(budget=BudgetState(messages=2), gateway=EMPTY_BUCKET), MORNING, False,
        "suppressed", "budget_exhausted"),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_decision(case: Case) -> None:
    decision, _ = POLICY.decide(
        case.request, case.settings, case.state, case.now, in_live_call=case.in_live_call,
        names_retired=case.names_retired,
    )  # fmt: skip
    assert (decision.outcome, decision.reason, decision.send_at) == (
        case.outcome,
        case.reason,
        case.send_at,
    )
    assert decision.nudge_id == case.request.nudge_id
    assert decision.decided_at == case.now


@given(
    st.sampled_from(list(CASES.values())),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2)),
)
def test_a_text_naming_a_retired_code_is_never_sent_and_changes_no_state(
    case: Case, later: timedelta
) -> None:
    """Whatever else holds, a request naming a retired code is refused now, not held, and
    takes no cap, token, budget or memory: a replay refuses it again."""
    now = case.now + later
    decision, state = POLICY.decide(
        case.request, case.settings, case.state, now, in_live_call=case.in_live_call,
        names_retired=True,
    )  # fmt: skip
    assert decision.outcome == "suppressed"
    assert decision.reason in ("duplicate", "expired", "retired_service")
    assert state == case.state


def test_every_reason_code_is_exercised() -> None:
    assert {case.reason for case in CASES.values()} - {None} == set(get_args(Reason))


def test_decision_times_are_utc() -> None:
    decision, _ = POLICY.decide(request(requested_at=NIGHT, send_at=NIGHT), DEFAULT,
                                GuardrailState(), NIGHT)  # fmt: skip
    assert decision.decided_at.tzinfo is UTC
    assert decision.send_at == datetime(2025, 3, 11, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if case.outcome == "held"])
def test_a_held_request_consumes_nothing(name: str) -> None:
    case = CASES[name]
    _, state = POLICY.decide(
        case.request, case.settings, case.state, case.now, in_live_call=case.in_live_call
    )
    assert state == case.state


def test_approval_counts_the_send_spends_budget_and_takes_a_token() -> None:
    settings = GuardrailSettings(budget=Budget(max_fen=1000, fen_per_segment=10))
    decision, state = POLICY.decide(request(), settings, GuardrailState(), MORNING)
    assert decision.outcome == "approved"
    assert state.subscriber.sent == {RULE: (int(MORNING.timestamp()),)}
    assert state.subscriber.has_decided(request().nudge_id)
    assert state.budget == BudgetState(messages=1, fen=10)
    assert state.gateway.tokens == 9.0


def test_holdout_counts_toward_caps_but_not_budget_or_gateway() -> None:
    settings = GuardrailSettings(holdout_share=1.0, budget=Budget(max_messages=5))
    decision, state = POLICY.decide(request(), settings, GuardrailState(), MORNING)
    assert decision.outcome == "holdout"
    assert state.subscriber.sent == {RULE: (int(MORNING.timestamp()),)}
    assert state.budget == BudgetState()
    assert state.gateway == TokenBucket()
    later, _ = POLICY.decide(request("event-2"), settings, state, MORNING + timedelta(hours=1))
    assert later.reason == "frequency_cap_rule_day"


def test_replayed_triggers_send_one_sms() -> None:
    state, approvals = GuardrailState(), 0
    for now in (MORNING, MORNING + timedelta(minutes=5), MORNING + timedelta(hours=3)):
        decision, state = POLICY.decide(request(), DEFAULT, state, now)
        approvals += decision.outcome == "approved"
        if now > MORNING:
            assert decision.reason == "duplicate"
    assert approvals == 1


def test_a_replayed_suppression_stays_suppressed() -> None:
    """A nudge dropped in quiet hours must not go out when its trigger is replayed at 09:00."""
    dropped = request(requested_at=NIGHT, send_at=NIGHT)
    _, state = POLICY.decide(dropped, DROP_AT_NIGHT, GuardrailState(), NIGHT)
    replay, _ = POLICY.decide(dropped, DROP_AT_NIGHT, state, NEXT_OPENING + timedelta(hours=1))
    assert replay.reason == "duplicate"


def test_held_request_goes_out_when_retried_at_send_at() -> None:
    late = request(requested_at=NIGHT, send_at=NIGHT)
    held, state = POLICY.decide(late, DEFAULT, GuardrailState(), NIGHT)
    assert held.send_at is not None
    retried, state = POLICY.decide(late, DEFAULT, state, held.send_at)
    assert retried.outcome == "approved"
    assert state.subscriber.sent[RULE] == (int(NEXT_OPENING.timestamp()),)


def test_rate_limited_request_goes_out_at_its_send_at() -> None:
    held, state = POLICY.decide(request(), DEFAULT, GuardrailState(gateway=EMPTY_BUCKET), MORNING)
    assert held.send_at is not None
    retried, _ = POLICY.decide(request(), DEFAULT, state, held.send_at)
    assert retried.outcome == "approved"


def test_remembered_ids_are_bounded() -> None:
    policy = GuardrailPolicy(rate_limit=POLICY.rate_limit, remembered_nudges=3)
    settings = GuardrailSettings(caps=UNCAPPED)
    state = GuardrailState()
    for n in range(5):
        _, state = policy.decide(request(f"event-{n}"), settings, state, MORNING)
    assert [known for known, _ in state.subscriber.decided] == [
        id_digest(request(f"event-{n}").nudge_id) for n in (2, 3, 4)
    ]


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        POLICY.decide(request(), DEFAULT, GuardrailState(), MORNING.replace(tzinfo=None))


@pytest.mark.parametrize("codec", [msgspec.json, msgspec.msgpack])
def test_state_round_trips_and_stays_small(codec: Any) -> None:
    """A week of busy nudging still fits a small faust table row."""
    state = opted_out("0101")
    settings = GuardrailSettings(caps=FrequencyCaps(all_per_day=None, all_per_week=None,
                                                    rule_per_week=None))  # fmt: skip
    for n in range(40):
        now = MORNING + timedelta(hours=6 * n)
        for rule in ("long_wait", "survey", "charges_copy"):
            req = request(f"{rule}-{n}", rule_id=rule, requested_at=now, send_at=now)
            _, state = POLICY.decide(req, settings, state, now)
    encoded = codec.encode(state.subscriber)
    assert codec.decode(encoded, type=SubscriberState) == state.subscriber
    assert codec.decode(codec.encode(state), type=GuardrailState) == state
    assert len(encoded) < 4096


def test_settings_convert_from_config_mappings() -> None:
    settings = msgspec.convert(
        {
            "caps": {"rule_per_day": 2, "week": "rolling"},
            "quiet_hours": {"start": "22:00:00", "end": "07:30:00", "policy": "drop"},
            "holdout_share": 0.1,
            "max_age": "PT6H",
            "opt_out_codes": ["0101"],
            "budget": {"max_fen": 50_000},
        },
        GuardrailSettings,
    )
    assert settings.quiet_hours == QuietHours(start=time(22), end=time(7, 30), policy="drop")
    assert settings.max_age == timedelta(hours=6)
    assert settings.caps.week == "rolling"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"holdout_share": 1.5}, "holdout_share"),
        ({"max_age": "P8D"}, "max_age"),
        ({"quiet_hours": {"start": "08:00:00", "end": "08:00:00"}}, "quiet_hours"),
        ({"budget": {}}, "budget"),
        ({"opt_out_codes": ["TD"]}, "opt_out_codes"),
        ({"caps": {"per_day": 1}}, "caps"),
    ],
)
def test_bad_settings_name_the_field(config: dict[str, Any], message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.convert(config, GuardrailSettings)


def test_decision_is_the_shared_schema() -> None:
    decision, _ = POLICY.decide(request(), DEFAULT, GuardrailState(), MORNING)
    assert isinstance(decision, Decision)
    assert msgspec.json.decode(msgspec.json.encode(decision), type=Decision) == decision
