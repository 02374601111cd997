"""What each channel offers, taken from the source deck (see /work/shared/DOMAIN.md).

The IVR menu, the SMS hall's codes and keywords, the web/WAP functions and the kiosk services
are data, not code, so a reader can check them against the deck line by line and the channel
modules stay about behaviour. Item names use the ``<area>.<thing>`` form analysts query on.
"""

from typing import NamedTuple

# --- The 10086 IVR menu ---------------------------------------------------------------------


class MenuBranch(NamedTuple):
    """One level-1 key: its area name, level-2 items by key, and the caller behaviour there."""

    area: str
    items: dict[str, str]
    agent_share: float  # how often a caller presses 0 after choosing an item in this branch
    handle_s: float  # an agent's mean handle time for requests from this branch


IVR_MENU: dict[str, MenuBranch] = {
    "1": MenuBranch("query", {
        "1": "query.realtime_charges", "2": "query.monthly_bill", "3": "query.points",
        "4": "query.payment_records", "5": "query.top_up", "6": "query.call_details",
        "7": "query.number_location", "8": "query.other_number_charges",
    }, agent_share=0.08, handle_s=150.0),
    "2": MenuBranch("consult", {
        "1": "consult.promotions", "2": "consult.brands_tariffs", "3": "consult.query_and_pay",
        "4": "consult.service_channels", "5": "consult.business_halls", "6": "consult.points_plan",
    }, agent_share=0.22, handle_s=200.0),
    "3": MenuBranch("handling", {
        "1": "handling.password", "2": "handling.ringback_tone", "3": "handling.fetion",
        "4": "handling.mobile_internet", "5": "handling.secretary_caller_id",
        "6": "handling.package_conversion", "7": "handling.suspend_resume",
        "8": "handling.balance_reminder",
    }, agent_share=0.28, handle_s=260.0),
    "4": MenuBranch("sp", {
        "1": "sp.query_unsubscribe", "2": "sp.unsubscribe_by_category",
        "3": "sp.unsubscribe_all", "4": "sp.how_to_unsubscribe", "0": "sp.complaint",
    }, agent_share=0.18, handle_s=220.0),
    "5": MenuBranch("campaign", {}, agent_share=0.03, handle_s=180.0),
    "8": MenuBranch("enterprise", {
        "1": "enterprise.consult", "2": "enterprise.complaint",
    }, agent_share=0.30, handle_s=300.0),
}  # fmt: skip

#: Key 5 has no level 2: it plays the current large campaign.
CAMPAIGN_ITEM = "campaign.prize_quiz"

#: Level-2 items that are themselves "complaint / human help": choosing them asks for an agent.
HUMAN_HELP_ITEMS = frozenset({"sp.complaint", "enterprise.complaint"})

#: Keys 2 and 3 are re-ordered by each branch company to follow its campaigns.
BRANCH_ORDERED_KEYS = ("2", "3")

#: Mean handle time (s) when the caller pressed 0 straight away and the topic is unknown.
UNKNOWN_TOPIC_HANDLE_S = 240.0
COMPLAINT_HANDLE_S = 420.0

#: Topics an agent handles that the customer could have done on a self-service channel:
#: every IVR menu item except the "human help" ones (and except an unknown topic).
SELF_SERVICE_TOPICS: frozenset[str] = (
    frozenset(
        {item for branch in IVR_MENU.values() for item in branch.items.values()} | {CAMPAIGN_ITEM}
    )
    - HUMAN_HELP_ITEMS
)


# --- The SMS hall ---------------------------------------------------------------------------


class SmsService(NamedTuple):
    service: str
    charge_fen: int  # charged on activation: asks for a confirming reply first
    reply_chars: tuple[int, int]  # length range of the result reply


#: Codes are ``<menu><item>``: menu 01 queries, 02 handling, 03 consultation; 0000/00000 are
#: the SP shortcuts that exist only as codes.
SMS_SERVICES: dict[str, SmsService] = {
    "0101": SmsService("query.realtime_charges", 0, (48, 68)),
    "0102": SmsService("query.monthly_bill", 0, (120, 260)),
    "0103": SmsService("query.points", 0, (40, 90)),
    "0104": SmsService("query.payment_records", 0, (80, 200)),
    "0201": SmsService("handling.password", 0, (50, 80)),
    "0202": SmsService("handling.fetion", 0, (60, 110)),
    "0203": SmsService("handling.mobile_newspaper", 300, (60, 100)),
    "0204": SmsService("handling.ringback_tone", 500, (60, 120)),
    "0205": SmsService("handling.sms_bundle", 1000, (70, 140)),
    "0206": SmsService("handling.data_package", 2000, (70, 140)),
    "0301": SmsService("consult.promotions", 0, (100, 300)),
    "0302": SmsService("consult.brands_tariffs", 0, (100, 300)),
    "0000": SmsService("sp.query_unsubscribe", 0, (80, 240)),
    "00000": SmsService("sp.unsubscribe_by_category", 0, (80, 240)),
}

#: How often customers send each shortcut code (the deck's five published codes lead).
SMS_CODE_WEIGHTS: dict[str, float] = {
    "0101": 30, "0102": 14, "0103": 5, "0104": 3, "0201": 3, "0202": 2, "0203": 2, "0204": 8,
    "0205": 3, "0206": 4, "0301": 2, "0302": 1, "0000": 9, "00000": 4,
}  # fmt: skip

#: Fuzzy matching: latin keywords match the whole text (any case), Chinese ones anywhere in it.
SMS_LATIN_KEYWORDS: dict[str, str] = {
    "hf": "0101", "cxhf": "0101", "zd": "0102", "jf": "0103", "cl": "0204", "td": "0000",
    "mm": "0201",
}  # fmt: skip
SMS_CJK_KEYWORDS: dict[str, str] = {
    "话费": "0101", "账单": "0102", "积分": "0103", "彩铃": "0204", "退订": "0000", "密码": "0201",
    "流量包": "0206",
}  # fmt: skip

#: What customers type that fuzzy matching catches.
SMS_FUZZY_TEXTS: tuple[str, ...] = (
    "HF", "hf", "Hf", "CXHF", "ZD", "JF", "CL", "TD", "MM", "话费", "查话费", "查一下话费",
    "我的账单", "积分", "开通彩铃", "退订", "怎么退订", "密码", "办流量包",
)  # fmt: skip

#: Free text nobody configured a keyword for: odd but legal, so downstream code must store it
#: safely (CJK, emoji, astral characters, right-to-left, SQL-looking and markup text, newlines;
#: ``\uff28\uff26`` is a full-width "HF", which the hall does not match).
SMS_UNKNOWN_TEXTS: tuple[str, ...] = (
    "你好", "在吗", "how do I check my data?", "流量还剩多少?", "😀👍", "谢谢\n再见", "tab\there",
    "查询 余额 🙏", "\uff28\uff26", "\"quoted\" and \\backslash\\", "Ünïcödé ça va", "𠀀𠀁𠀂",
    "مرحبا",
    "'; DROP TABLE channelhub.events; --", "Robert'); DROP TABLE students;--",
    "<script>alert(1)</script>", "1' OR '1'='1", "%s%s%n {0} ${jndi:ldap://x}", "😀" * 40,
    "长" * 300,
)  # fmt: skip

#: The menu dialogue: ``10086`` opens the main menu, then item numbers.
SMS_MENU_TEXT = "10086"


# --- Web and WAP halls ----------------------------------------------------------------------

#: Function → relative use. The web hall has 80+ functions; these are the ones people use.
WEB_FUNCTIONS: dict[str, float] = {
    "bill.realtime": 20, "bill.monthly": 16, "bill.call_details": 12, "bill.payment_history": 5,
    "points.query": 8, "points.redeem": 3, "package.change": 4, "service.fetion": 2,
    "service.caller_id": 2, "service.music_club": 2, "service.ringback_tone": 3,
    "service.mobile_newspaper": 2, "service.data_package": 4, "sp.query_unsubscribe": 5,
    "password.change": 2, "profile.update": 1, "number.select": 2, "online_service.chat": 2,
}  # fmt: skip

#: The WAP hall's 12 functions.
WAP_FUNCTIONS: dict[str, float] = {
    "bill.realtime": 25, "balance.query": 15, "bill.monthly": 10, "bill.history": 5,
    "bill.sms_subscription": 3, "balance.reminder": 3, "sp.query_unsubscribe": 8,
    "service.mobile_newspaper": 4, "service.ringback_tone": 4, "service.mailbox": 2,
    "password.change": 3, "points.query": 6,
}  # fmt: skip

#: Functions that can end in an order: the product and its price in fen.
ORDERABLE: dict[str, tuple[tuple[str, int], ...]] = {
    "package.change": (("package.mzone_58", 5800), ("package.gotone_88", 8800),
                       ("package.easyown_19", 1900)),
    "service.data_package": (("data.100mb", 500), ("data.1gb", 3000), ("data.5gb", 8000)),
    "service.ringback_tone": (("ringback.monthly", 500), ("ringback.box_1yuan", 100)),
    "service.mobile_newspaper": (("newspaper.huasheng", 300), ("newspaper.xiaoxiang", 500)),
    "service.music_club": (("music_club.premium", 600),),
    "points.redeem": (("points.voucher_10", 0), ("points.gift", 0)),
}  # fmt: skip

#: The web hall's number selection: a reserved number must be activated within 48 hours.
NUMBER_SELECT_FUNCTION = "number.select"
RESERVATION_HOURS = 48


# --- 24h self-service kiosks ----------------------------------------------------------------

KIOSK_TERMINALS = 600

#: Services used at a kiosk besides paying (the deck lists 42; these are the common ones).
KIOSK_SERVICES: dict[str, float] = {
    "query.realtime_charges": 20, "bill.print": 18, "query.call_details": 10,
    "invoice.print": 8, "query.points": 6, "points.redeem": 3, "number.select": 3,
    "package.change": 4, "sp.query_unsubscribe": 5, "service.ringback_tone": 2,
    "password.reset": 4, "news.browse": 2,
}  # fmt: skip

KIOSK_FAULTS: dict[str, str] = {
    "printer.paper_out": "warning", "printer.jam": "error", "cash_acceptor.jam": "error",
    "cash_acceptor.full": "warning", "card_reader.error": "error",
    "screen.unresponsive": "critical", "network.boss_unreachable": "critical",
}  # fmt: skip

KIOSK_TOP_UPS_FEN: tuple[int, ...] = (1000, 2000, 3000, 5000, 10000, 20000)
