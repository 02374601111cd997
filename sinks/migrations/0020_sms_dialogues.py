"""The SMS confirmation dialogues the nudge stage summarises once they are over, their sums per
minute and command for the SMS hall's confirmation panel, and the fill that summarises the
dialogues of the events already stored."""

from sinks.migrations.statements import creates, fills

OPERATIONS: tuple[str, ...] = creates("sms_dialogues", "sms_confirmations_per_minute") + fills(
    "sms_confirmations_per_minute"
)
