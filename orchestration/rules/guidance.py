"""The one table from what a customer wanted to do to the self-service ways of doing it.

Keys are the catalog's item names (IVR menu items, which are also the agents' topics, and the
SMS hall's services); values name the item in Chinese for SMS text and give its SMS code, web
hall function and WAP hall function, all taken from :mod:`channelhub.simulator.catalog` (a
test checks every name against it). Items with no self-service way (a complaint, a location
lookup) have a name but no way, so rules can say what happened without pointing anywhere.
Attribution reads the same table to recognise a "used the suggested self-service" conversion.

The table is where the live service catalogue starts (it seeds it, with the simulator's
catalogue), and once a process follows the catalogue (:func:`follow`) :func:`way_for` answers
from it: a way is the SMS code, web and WAP hall functions open for the item's service now,
so a retired SMS code is no longer in any hint and a newly opened way is suggested. One table
per process, swapped whole, so a rule evaluated while it changes reads one or the other. Until
the catalogue holds its seed (a topic nobody has seeded, as in a test of another stage) the
static table stands in for it: it is what the seed writes.

A replay of the past (the back-test, :mod:`channelhub.marketing.backtest`) needs the ways as
they stood at each moment instead, without changing what the rest of its process suggests:
:func:`in_context` gives the calling thread (or task) ways of its own until it leaves.
"""

import itertools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple

from orchestration.catalogue import Catalogue
from schemas.catalogue import channel_of


class SelfServiceWay(NamedTuple):
    """An item's display name and where a customer can do it without an agent."""

    name: str  # Chinese, as the customer sees it in an SMS
    sms_code: str | None = None
    web_function: str | None = None
    wap_function: str | None = None

    @property
    def exists(self) -> bool:
        return bool(self.sms_code or self.web_function or self.wap_function)

    @property
    def hint(self) -> str:
        """Every way, in Chinese: the SMS code to send, or else the halls to log in to."""
        sms = f"发送{self.sms_code}到10086" if self.sms_code else ""
        online = self.online_hint
        if sms and online:
            return f"{sms}，或{online}"  # noqa: RUF001 - Chinese takes full-width punctuation
        return sms or online

    @property
    def online_hint(self) -> str:
        """The web and WAP halls only, for customers who already use the SMS hall."""
        offered = (("网上营业厅", self.web_function), ("手机营业厅", self.wap_function))
        halls = [hall for hall, function in offered if function]
        return f"登录{'、'.join(halls)}" if halls else ""


#: What a request is called when the customer never said what they wanted.
UNKNOWN = SelfServiceWay("业务")

WAYS: dict[str, SelfServiceWay] = {
    # IVR key 1: queries
    "query.realtime_charges": SelfServiceWay("实时话费", "0101", "bill.realtime", "bill.realtime"),
    "query.monthly_bill": SelfServiceWay("月账单", "0102", "bill.monthly", "bill.monthly"),
    "query.points": SelfServiceWay("积分", "0103", "points.query", "points.query"),
    "query.payment_records": SelfServiceWay(
        "缴费记录", "0104", "bill.payment_history", "bill.history"
    ),
    "query.top_up": SelfServiceWay("充值缴费"),
    "query.call_details": SelfServiceWay("通话详单", web_function="bill.call_details"),
    "query.number_location": SelfServiceWay("号码归属地"),
    "query.other_number_charges": SelfServiceWay("他人号码话费"),
    # IVR key 2: consultation
    "consult.promotions": SelfServiceWay("最新优惠", "0301"),
    "consult.brands_tariffs": SelfServiceWay("品牌资费", "0302"),
    "consult.query_and_pay": SelfServiceWay("查询缴费方式"),
    "consult.service_channels": SelfServiceWay("服务渠道"),
    "consult.business_halls": SelfServiceWay("营业厅"),
    "consult.points_plan": SelfServiceWay("积分计划", web_function="points.query"),
    # IVR key 3: handling
    "handling.password": SelfServiceWay("密码服务", "0201", "password.change", "password.change"),
    "handling.ringback_tone": SelfServiceWay(
        "彩铃", "0204", "service.ringback_tone", "service.ringback_tone"
    ),
    "handling.fetion": SelfServiceWay("飞信", "0202", "service.fetion"),
    "handling.mobile_internet": SelfServiceWay("手机上网", "0206", "service.data_package"),
    "handling.secretary_caller_id": SelfServiceWay(
        "移动秘书和来电显示", web_function="service.caller_id"
    ),
    "handling.package_conversion": SelfServiceWay("套餐转换", "0205", "package.change"),
    "handling.suspend_resume": SelfServiceWay("停开机"),
    "handling.balance_reminder": SelfServiceWay("余额提醒", wap_function="balance.reminder"),
    # IVR key 4: value-added (SP) services
    "sp.query_unsubscribe": SelfServiceWay(
        "增值业务查询退订", "0000", "sp.query_unsubscribe", "sp.query_unsubscribe"
    ),
    "sp.unsubscribe_by_category": SelfServiceWay(
        "增值业务分类退订", "00000", "sp.query_unsubscribe", "sp.query_unsubscribe"
    ),
    "sp.unsubscribe_all": SelfServiceWay(
        "增值业务全部退订", web_function="sp.query_unsubscribe", wap_function="sp.query_unsubscribe"
    ),
    "sp.how_to_unsubscribe": SelfServiceWay(
        "增值业务退订", "0000", "sp.query_unsubscribe", "sp.query_unsubscribe"
    ),
    "sp.complaint": SelfServiceWay("增值业务投诉"),
    # IVR keys 5 and 8
    "campaign.prize_quiz": SelfServiceWay("有奖竞猜"),
    "enterprise.consult": SelfServiceWay("集团业务咨询"),
    "enterprise.complaint": SelfServiceWay("集团业务投诉"),
    # SMS-hall services with no IVR menu item of their own
    "handling.mobile_newspaper": SelfServiceWay(
        "手机报", "0203", "service.mobile_newspaper", "service.mobile_newspaper"
    ),
    "handling.sms_bundle": SelfServiceWay("短信套餐", "0205", "package.change"),
    "handling.data_package": SelfServiceWay("流量包", "0206", "service.data_package"),
}


#: The ways in force in this process, and how many times they were swapped.
_current: Mapping[str, SelfServiceWay] = WAYS
_version = 0
#: Ways of one context (:func:`in_context`) with their version, None outside one. Their
#: versions count down from -1, so they never share a cache key with the process's.
_local: ContextVar[tuple[Mapping[str, SelfServiceWay], int] | None] = ContextVar(
    "self_service_ways", default=None
)
_local_versions = itertools.count(-1, -1)


def way_for(item: str) -> SelfServiceWay:
    """The item's way now; :data:`UNKNOWN` (no way) for an item no one knows."""
    local = _local.get()
    return (_current if local is None else local[0]).get(item, UNKNOWN)


def version() -> int:
    """Changes with every :func:`follow` that changed the ways: a key for what is cached
    from them."""
    local = _local.get()
    return _version if local is None else local[1]


def follow(catalogue: Catalogue) -> bool:
    """Answer from ``catalogue`` from now on (from the static table while it is not seeded);
    whether any way changed."""
    global _current, _version
    ways = ways_in(catalogue) if catalogue.seeded else WAYS
    if ways == _current:
        return False
    _current, _version = ways, _version + 1
    return True


@contextmanager
def in_context() -> Iterator[Callable[[Catalogue], bool]]:
    """Ways of the calling context only, from the static table (a catalogue not seeded yet)
    until the function it yields, :func:`follow`'s twin, swaps them for a catalogue's; the
    process's ways are untouched, and in force again on leaving."""
    token = _local.set((WAYS, next(_local_versions)))

    def follow_here(catalogue: Catalogue) -> bool:
        ways = ways_in(catalogue) if catalogue.seeded else WAYS
        local = _local.get()
        if local is not None and ways == local[0]:
            return False
        _local.set((ways, next(_local_versions)))
        return True

    try:
        yield follow_here
    finally:
        _local.reset(token)


def ways_in(catalogue: Catalogue) -> dict[str, SelfServiceWay]:
    """Every item's way in ``catalogue``: the static table's items and the services opened
    through the workflow, each with the code and functions open for it now. Of several open
    on one channel, the static table's own stays first while it is open. The seed alone gives
    the static table back (a hall or kiosk function seeded as its own service is no item a
    customer asks an agent for)."""
    opened = {
        w.request.service
        for w in catalogue.workflows.values()
        if w.process == "open" and w.finished
    }
    found: dict[str, SelfServiceWay] = {}
    for item in sorted({*WAYS, *opened}):
        static = WAYS.get(item, UNKNOWN)
        slots: dict[str, list[str]] = {}
        for entry in catalogue.entries(item):
            slots.setdefault(channel_of(entry), []).append(entry.slot)
        found[item] = SelfServiceWay(
            static.name,
            _pick(slots.get("sms", []), static.sms_code),
            _pick(slots.get("web", []), static.web_function),
            _pick(slots.get("wap", []), static.wap_function),
        )
    return found


def _pick(open_slots: list[str], usual: str | None) -> str | None:
    if usual in open_slots:
        return usual
    return open_slots[0] if open_slots else None
