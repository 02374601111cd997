"""Records of ``sms.dialogues``: the SMS confirmation dialogues the nudge stage summarises once
they are over (:mod:`orchestration.sms_dialogues`), which the SMS hall's confirmation panel
sums per minute and command."""

from typing import Annotated, Literal

import msgspec

from schemas.envelope import Msisdn, UtcTime
from schemas.events import SmsCode

#: How long a dialogue is followed with no event of it: longer than the hall's 10-minute
#: confirmation timeout, and the panel's window after its range
#: (:data:`dashboards.queries.sms_hall.FOLLOW`).
DIALOGUE_FOLLOW_MS = 3_600_000

#: Lower-case letters and dashes: an id no scrubber mistakes for a phone number.
DialogueId = Annotated[str, msgspec.Meta(pattern=r"^[a-z-]{1,64}$")]
Reply = Literal["yes", "no", "timeout"]


class DialogueSummarised(msgspec.Struct, frozen=True, kw_only=True):
    """One SMS dialogue (session) that asked for a charge confirmation, once it is over.

    ``dialogue_id`` is the same whenever the stage summarises the same dialogue again (a
    restart re-reads the events after its checkpoint), so the sink keeps one row of it.
    """

    dialogue_id: DialogueId
    msisdn: Msisdn
    #: The dialogue's first ``sms.confirmation_requested``: the minute it is counted in.
    prompted_at: UtcTime
    #: The command of that prompt.
    code: SmsCode
    #: The dialogue's first ``sms.confirmation_replied``; None when it had none.
    reply: Reply | None = None
    #: An ``sms.service_completed`` followed: the service ran, and whether it worked.
    ran: bool = False
    worked: bool = False
