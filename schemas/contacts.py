"""Records of ``channel.contacts``: the contacts the nudge stage counts as they begin
(:mod:`orchestration.contacts`), which the cross-channel page sums per minute."""

from typing import Annotated, Literal

import msgspec

from schemas.envelope import Channel, Msisdn, UtcTime

#: A session is re-contacted when another of its subscriber begins at most this much later.
RECONTACT_WINDOW_MS = 24 * 3_600_000


#: Lower-case letters and dashes: an id no scrubber mistakes for a phone number.
ContactId = Annotated[str, msgspec.Meta(pattern=r"^[a-z-]{1,64}$")]


class ContactCounted(msgspec.Struct, frozen=True, kw_only=True):
    """A contact opened on a channel (``opened``), or a session found re-contacted within
    24 h (``recontacted``, of the channel of the session's first event).

    ``contact_id`` is the same whenever the stage counts the same contact again (a restart
    re-reads the events after its checkpoint), so the sink keeps one row of it.
    """

    contact_id: ContactId
    kind: Literal["opened", "recontacted"]
    msisdn: Msisdn
    channel: Channel
    #: The contact's first event: its minute is the one the contact is counted in.
    first_at: UtcTime
    #: ``opened`` only: the session's first contact, the one re-contact counts.
    opens_session: bool = False
