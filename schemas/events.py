"""Every event type, by channel, with its typed attributes.

Event types are ``<channel>.<what happened>``. Web and WAP share attribute blocks because the
two halls offer the same functions; they stay separate types so analysts can tell them apart.
"""

from typing import Annotated, ClassVar, Literal

import msgspec

from schemas.envelope import Attributes, Envelope, Fen, Msisdn, Name, Seconds

KeyPath = Annotated[
    str,
    msgspec.Meta(pattern=r"^[0-9*#](-[0-9*#]){0,5}$", description="IVR keys pressed, e.g. 1-2"),
]
SmsCode = Annotated[str, msgspec.Meta(pattern=r"^[0-9A-Za-z]{1,12}$")]
SmsText = Annotated[str, msgspec.Meta(max_length=1000, description="raw text as received")]
TerminalId = Annotated[str, msgspec.Meta(pattern=r"^K[0-9]{4,6}$", description="kiosk id")]
AgentId = Annotated[str, msgspec.Meta(pattern=r"^A[0-9]{3,6}$")]


def _tag(name: str) -> dict[str, object]:
    return {"tag": name}


# --- IVR: the 10086 phone hall -------------------------------------------------------------


class CallStarted(Attributes):
    lead_in_variant: Name  # the personalised "priority guidance" prompt played first
    busy_period: bool


class MenuSelected(Attributes):
    key_path: KeyPath
    item: Name  # e.g. query.realtime_charges


class SelfServiceCompleted(Attributes):
    key_path: KeyPath
    item: Name
    success: bool


class AgentRequested(Attributes):
    key_path: KeyPath  # where in the menu the caller pressed 0
    topic: Name  # what they were trying to do (last menu item), or "unknown"


class QueueEntered(Attributes):
    queue: Name
    position: Annotated[int, msgspec.Meta(ge=0, le=100_000)]
    busy_period: bool


class AgentAnswered(Attributes):
    agent_id: AgentId
    wait_s: Seconds


class Abandoned(Attributes):
    wait_s: Seconds


class WaitPredicted(Attributes):
    """The wait a caller who just joined the queue can expect (:mod:`orchestration.queue_wait`),
    estimated from the queue's recent events; sent by the platform's wait predictor."""

    queue: Name
    position: Annotated[int, msgspec.Meta(ge=0, le=100_000)]  # callers ahead on joining
    predicted_wait_s: Seconds  # expected wait if the caller stays (Erlang A, queue state)
    erlang_c_wait_s: Seconds | None  # steady-state Erlang C mean; None when overloaded
    agents: Annotated[int, msgspec.Meta(ge=1, le=100_000)]  # estimated on shift
    arrivals_per_min: Annotated[float, msgspec.Meta(ge=0, le=1_000_000)]
    service_s: Seconds  # handle time plus after-call work
    patience_s: Seconds | None  # mean patience measured; None before any abandonment


class CallEnded(Attributes):
    duration_s: Seconds
    outcome: Literal["self_service", "agent", "abandoned", "hangup"]


class IvrCallStarted(Envelope, tag="ivr.call_started"):
    attributes: CallStarted


class IvrMenuSelected(Envelope, tag="ivr.menu_selected"):
    attributes: MenuSelected


class IvrSelfServiceCompleted(Envelope, tag="ivr.self_service_completed"):
    attributes: SelfServiceCompleted


class IvrAgentRequested(Envelope, tag="ivr.agent_requested"):
    attributes: AgentRequested


class IvrQueueEntered(Envelope, tag="ivr.queue_entered"):
    attributes: QueueEntered


class IvrAgentAnswered(Envelope, tag="ivr.agent_answered"):
    attributes: AgentAnswered


class IvrAbandoned(Envelope, tag="ivr.abandoned"):
    attributes: Abandoned


class IvrWaitPredicted(Envelope, tag="ivr.wait_predicted"):
    attributes: WaitPredicted


class IvrCallEnded(Envelope, tag="ivr.call_ended"):
    attributes: CallEnded


# --- SMS hall: texts to 10086 --------------------------------------------------------------


class MessageReceived(Attributes):
    text: SmsText
    matched_code: SmsCode | None
    match_kind: Literal["exact", "menu", "fuzzy", "unknown"]


class ConfirmationRequested(Attributes):
    code: SmsCode
    service: Name
    charge_fen: Fen


class ConfirmationReplied(Attributes):
    code: SmsCode
    reply: Literal["yes", "no", "timeout"]


class SmsServiceCompleted(Attributes):
    code: SmsCode
    service: Name
    success: bool


class ReplySent(Attributes):
    segments: Annotated[int, msgspec.Meta(ge=1, le=255)]
    characters: Annotated[int, msgspec.Meta(ge=0, le=65_535)]
    long_sms: bool  # over 70 characters: sent as one concatenated long message


class SmsMessageReceived(Envelope, tag="sms.message_received"):
    attributes: MessageReceived


class SmsConfirmationRequested(Envelope, tag="sms.confirmation_requested"):
    attributes: ConfirmationRequested


class SmsConfirmationReplied(Envelope, tag="sms.confirmation_replied"):
    attributes: ConfirmationReplied


class SmsServiceCompletedEvent(Envelope, tag="sms.service_completed"):
    attributes: SmsServiceCompleted


class SmsReplySent(Envelope, tag="sms.reply_sent"):
    attributes: ReplySent


# --- Web and WAP halls ---------------------------------------------------------------------


class Login(Attributes):
    method: Literal["password", "sms_code"]
    success: bool


class FunctionUsed(Attributes):
    function: Name  # e.g. bill.monthly, points.redeem


class OrderSubmitted(Attributes):
    order_id: Annotated[str, msgspec.Meta(pattern=r"^[!-~]{1,64}$")]
    product: Name
    amount_fen: Fen


class NumberReserved(Attributes):
    number: Msisdn  # the new number chosen online; pseudonymised at rest like any MSISDN
    reservation_id: Annotated[str, msgspec.Meta(pattern=r"^[!-~]{1,64}$")]


class NumberActivated(Attributes):
    number: Msisdn
    reservation_id: Annotated[str, msgspec.Meta(pattern=r"^[!-~]{1,64}$")]


class WebLogin(Envelope, tag="web.login"):
    attributes: Login


class WebFunctionUsed(Envelope, tag="web.function_used"):
    attributes: FunctionUsed


class WebFunctionUnavailable(Envelope, tag="web.function_unavailable"):
    """A page opened for a function the hall has withdrawn: asked for, not used."""

    attributes: FunctionUsed


class WebOrderSubmitted(Envelope, tag="web.order_submitted"):
    attributes: OrderSubmitted


class WebNumberReserved(Envelope, tag="web.number_reserved"):
    attributes: NumberReserved


class WebNumberActivated(Envelope, tag="web.number_activated"):
    attributes: NumberActivated


class WapLogin(Envelope, tag="wap.login"):
    attributes: Login


class WapFunctionUsed(Envelope, tag="wap.function_used"):
    attributes: FunctionUsed


class WapFunctionUnavailable(Envelope, tag="wap.function_unavailable"):
    """A page opened for a function the hall has withdrawn: asked for, not used."""

    attributes: FunctionUsed


class WapOrderSubmitted(Envelope, tag="wap.order_submitted"):
    attributes: OrderSubmitted


# --- 24h self-service kiosks ---------------------------------------------------------------


class KioskSession(Attributes):
    terminal_id: TerminalId


class PaymentCompleted(Attributes):
    terminal_id: TerminalId
    amount_fen: Annotated[int, msgspec.Meta(gt=0, le=100_000_000)]
    method: Literal["cash", "card", "mobile"]


class KioskServiceCompleted(Attributes):
    terminal_id: TerminalId
    service: Name
    success: bool


class TerminalFault(Attributes):
    terminal_id: TerminalId
    fault_code: Name
    severity: Literal["warning", "error", "critical"]


class KioskSessionStarted(Envelope, tag="kiosk.session_started"):
    attributes: KioskSession


class KioskPaymentCompleted(Envelope, tag="kiosk.payment_completed"):
    attributes: PaymentCompleted


class KioskServiceCompletedEvent(Envelope, tag="kiosk.service_completed"):
    attributes: KioskServiceCompleted


class KioskTerminalFault(Envelope, tag="kiosk.terminal_fault"):
    attributes: TerminalFault
    about_subscriber: ClassVar[bool] = False


# --- Human agents behind the IVR -----------------------------------------------------------


class RequestHandled(Attributes):
    agent_id: AgentId
    topic: Name  # the menu item the request was about
    resolved: bool
    handle_s: Seconds
    self_serviceable: bool  # could the customer have done it on a self-service channel?


class AgentRequestHandled(Envelope, tag="agent.request_handled"):
    attributes: RequestHandled


EVENT_CLASSES: tuple[type[Envelope], ...] = (
    IvrCallStarted, IvrMenuSelected, IvrSelfServiceCompleted, IvrAgentRequested,
    IvrQueueEntered, IvrAgentAnswered, IvrAbandoned, IvrCallEnded, IvrWaitPredicted,
    SmsMessageReceived, SmsConfirmationRequested, SmsConfirmationReplied,
    SmsServiceCompletedEvent, SmsReplySent,
    WebLogin, WebFunctionUsed, WebFunctionUnavailable, WebOrderSubmitted, WebNumberReserved,
    WebNumberActivated,
    WapLogin, WapFunctionUsed, WapFunctionUnavailable, WapOrderSubmitted,
    KioskSessionStarted, KioskPaymentCompleted, KioskServiceCompletedEvent, KioskTerminalFault,
    AgentRequestHandled,
)  # fmt: skip

Event = (
    IvrCallStarted | IvrMenuSelected | IvrSelfServiceCompleted | IvrAgentRequested
    | IvrQueueEntered | IvrAgentAnswered | IvrAbandoned | IvrCallEnded | IvrWaitPredicted
    | SmsMessageReceived | SmsConfirmationRequested | SmsConfirmationReplied
    | SmsServiceCompletedEvent | SmsReplySent
    | WebLogin | WebFunctionUsed | WebFunctionUnavailable | WebOrderSubmitted | WebNumberReserved
    | WebNumberActivated
    | WapLogin | WapFunctionUsed | WapFunctionUnavailable | WapOrderSubmitted
    | KioskSessionStarted | KioskPaymentCompleted | KioskServiceCompletedEvent | KioskTerminalFault
    | AgentRequestHandled
)  # fmt: skip

EVENT_TYPES: dict[str, type[Envelope]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in EVENT_CLASSES
}

#: Attribute fields that hold an MSISDN and must be pseudonymised before storage.
PERSONAL_ATTRIBUTES: frozenset[str] = frozenset({"number"})


def event_type_of(event: Envelope) -> str:
    """The ``event_type`` tag of a decoded event."""
    return type(event).__struct_config__.tag  # type: ignore[return-value]


def routing_key(event: Envelope) -> bytes:
    """The Kafka key: the subscriber, so one subscriber's events stay in order on one partition.

    Events about equipment (kiosk faults) are keyed by the terminal instead.
    """
    if event.msisdn is not None:
        return event.msisdn.encode()
    return event.attributes.terminal_id.encode()  # type: ignore[attr-defined]
