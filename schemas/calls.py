"""Records of ``ivr.calls``: the IVR calls the nudge stage summarises once they are over
(:mod:`orchestration.call_summaries`), which the IVR deep-dive sums per minute."""

from typing import Annotated, Literal

import msgspec

from schemas.envelope import Brand, Msisdn, Name, Prefecture, UtcTime

#: A self-service call is contained when its caller has no other session for this long after
#: it ended (the cross-channel page's re-contact window).
CONTAINMENT_WINDOW_MS = 24 * 3_600_000

#: Lower-case letters and dashes: an id no scrubber mistakes for a phone number.
CallId = Annotated[str, msgspec.Meta(pattern=r"^[a-z-]{1,64}$")]
#: A menu step, ``"<key path> <item>"``: the pair, since branches re-order the items of a key
#: (the stage joins the two of a validated ``ivr.menu_selected``).
MenuStep = Annotated[str, msgspec.Meta(min_length=3, max_length=76)]
Outcome = Literal["self_service", "agent", "abandoned", "hangup"]


class CallSummarised(msgspec.Struct, frozen=True, kw_only=True):
    """An IVR call once it is over (``call``), or a self-service call found re-contacted
    within :data:`CONTAINMENT_WINDOW_MS` of its end (``recontacted``: the minute the call
    started and its end, nothing else).

    ``call_id`` is the same whenever the stage summarises the same call again (a restart
    re-reads the events after its checkpoint), so the sink keeps one row of it.
    """

    call_id: CallId
    kind: Literal["call", "recontacted"]
    msisdn: Msisdn
    #: The call's ``ivr.call_started`` (``recontacted``: its minute): the minute the call is
    #: counted in.
    started_at: UtcTime
    #: The call's ``ivr.call_ended``; None when the call timed out without one.
    ended_at: UtcTime | None = None
    #: ``call`` only, from here on.
    prefecture: Prefecture | None = None
    brand: Brand | None = None
    lead_in_variant: Name | None = None
    busy_period: bool = False
    #: The distinct menu steps the caller reached, in the order first reached.
    steps: tuple[MenuStep, ...] = ()
    #: The latest step selected; None when the caller pressed no key.
    last_step: MenuStep | None = None
    #: The caller pressed 0 (asked for an agent).
    pressed_zero: bool = False
    #: From ``ivr.call_ended``; None when the call timed out without one.
    outcome: Outcome | None = None
