"""Approved nudges as the nudge stage publishes them on ``nudges.outbound``."""

from datetime import UTC, datetime, timedelta

from schemas.nudges import DecidedNudge, Decision, NudgeRequest

APPROVED_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
PREFECTURES = ("changsha", "hengyang", "yueyang", "xiangxi")


def msisdn(i: int) -> str:
    return f"138{i:08d}"


def approved(i: int, *, text: str = "", brand: str | None = "gotone") -> DecidedNudge:
    """Nudge ``n-<i>`` to subscriber ``msisdn(i)``, approved one second after the last."""
    at = APPROVED_AT + timedelta(seconds=i)
    request = NudgeRequest(
        nudge_id=f"n-{i:05d}",
        rule_id="satisfaction_survey",
        trigger_event_id=f"e-{i}",
        msisdn=msisdn(i),
        prefecture=PREFECTURES[i % len(PREFECTURES)],  # type: ignore[arg-type]
        brand=brand,  # type: ignore[arg-type]
        text=text or f"您对本次服务满意吗 回复1-5评分 ({i})",
        goal="survey_reply",
        requested_at=at,
        send_at=at,
    )
    decision = Decision(nudge_id=request.nudge_id, outcome="approved", reason=None, decided_at=at)
    return DecidedNudge(request=request, decision=decision)
