"""Every hall follows the live catalogue, not only the SMS hall: the IVR presses the items it
opened (under a branch of today's menu, or at keys of their own), the web and WAP halls use the
functions it opened and open a retired function's page from habit without ordering there, and
the kiosks are asked for a retired service and do not complete it. The seed is today's offer
exactly: following it leaves the stream the same bytes."""

import hashlib
import itertools
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from channelhub.catalogue.seed import seed_records
from channelhub.simulator import catalog
from channelhub.simulator.engine import Engine, Scenario
from channelhub.simulator.ivr import LEVEL1_WEIGHTS, STATIC_KEY_PATHS, Opened
from channelhub.simulator.offered import NEW_FUNCTION_WEIGHT, STATIC, Functions
from channelhub.simulator.run import follow_catalogue
from orchestration.catalogue import Catalogue, fold
from schemas.catalogue import (
    IvrItem,
    KioskService,
    OpenRequested,
    RetireRequested,
    WapFunction,
    WebFunction,
)
from schemas.events import Event
from tests.orchestration.test_catalogue import open_request, retire_request, seeded_with, whole

AT = datetime(2026, 3, 2, tzinfo=UTC)
START_MS = int(datetime(2026, 3, 2, 2, 0, tzinfo=UTC).timestamp() * 1000)  # 10:00 in Hunan
_EVENT = msgspec.json.Decoder(Event)


def _events(catalogue: Catalogue | None, count: int = 30_000, seed: int = 3) -> list[Any]:
    """``count`` events of a run following ``catalogue`` (None: today's static halls), each
    decoded and validated as the collector would."""
    engine = Engine(Scenario(seed=seed, start_ms=START_MS, subscribers=3000))
    if catalogue is not None:
        follow_catalogue(engine, catalogue)
    return [_EVENT.decode(item.payload) for item in itertools.islice(engine, count)]


def _digest(catalogue: Catalogue | None) -> str:
    engine = Engine(Scenario(seed=11, start_ms=START_MS, subscribers=3000))
    if catalogue is not None:
        follow_catalogue(engine, catalogue)
    digest = hashlib.sha256()
    for item in itertools.islice(engine, 20_000):
        digest.update(item.payload)
    return digest.hexdigest()


def test_following_the_seed_leaves_the_stream_byte_for_byte_as_it_was() -> None:
    assert _digest(fold(seed_records(AT))) == _digest(None)
    assert _digest(Catalogue()) == _digest(None)


def test_the_seed_offers_todays_functions_and_opens_nothing_new() -> None:
    seeded = fold(seed_records(AT))
    for channel, static in (
        ("web", catalog.WEB_FUNCTIONS),
        ("wap", catalog.WAP_FUNCTIONS),
        ("kiosk", catalog.KIOSK_SERVICES),
    ):
        functions = Functions.of(seeded, channel, static)  # type: ignore[arg-type]
        assert functions.open == frozenset(static)
        assert functions.opened == ()
    assert Functions.of(Catalogue(), "web", catalog.WEB_FUNCTIONS) == STATIC
    assert Opened.of(seeded) == Opened.of(Catalogue()) == Opened({}, {}, frozenset())


def _by_type(events: list[Any], event_type: str) -> list[Any]:
    return [e for e in events if e.event_type == event_type]


def test_an_opened_web_function_is_used_and_a_retired_one_is_asked_for_but_never_used() -> None:
    catalogue = seeded_with(
        AT,
        open_request("query.top_up", WebFunction(function="bill.top_up")),
        retire_request("handling.ringback_tone", "web"),
    )
    events = _events(catalogue)
    used = Counter(e.attributes.function for e in _by_type(events, "web.function_used"))
    assert used["bill.top_up"] > 0
    assert used["service.ringback_tone"] == 0
    withdrawn = _by_type(events, "web.function_unavailable")
    assert {e.attributes.function for e in withdrawn} == {"service.ringback_tone"}  # from habit
    products = {e.attributes.product for e in _by_type(events, "web.order_submitted")}
    assert products  # other functions still sell
    assert not {p for p in products if p.startswith("ringback.")}
    # The WAP hall's ringback page is another entry, still open there: it sells.
    wap = {e.attributes.product for e in _by_type(events, "wap.order_submitted")}
    assert {p for p in wap if p.startswith("ringback.")}


def test_an_opened_wap_function_gets_its_share() -> None:
    static = sum(catalog.WAP_FUNCTIONS.values())
    opened = seeded_with(AT, open_request("query.top_up", WapFunction(function="bill.top_up")))
    events = _events(opened, 150_000)
    used = Counter(e.attributes.function for e in _by_type(events, "wap.function_used"))
    share = used["bill.top_up"] / sum(used.values())
    expected = NEW_FUNCTION_WEIGHT / (static + NEW_FUNCTION_WEIGHT)
    assert expected / 2 < share < expected * 2


def test_a_retired_kiosk_service_is_asked_for_and_never_completed() -> None:
    catalogue = seeded_with(
        AT,
        retire_request("bill.print", "kiosk"),
        open_request("query.top_up", KioskService(function="top_up.card")),
    )
    done = _by_type(_events(catalogue, 150_000), "kiosk.service_completed")
    printed = [e.attributes.success for e in done if e.attributes.service == "bill.print"]
    assert printed
    assert not any(printed)
    topped = [e.attributes.success for e in done if e.attributes.service == "top_up.card"]
    assert topped
    assert any(topped)
    others = [e.attributes.success for e in done if e.attributes.service == "query.points"]
    assert any(others)


def _calls(events: list[Any]) -> dict[str, list[Any]]:
    calls: dict[str, list[Any]] = {}
    for e in events:
        if e.channel in ("ivr", "agent"):
            calls.setdefault(e.session_id, []).append(e)
    return calls


def test_callers_press_an_item_opened_under_a_branch_and_keys_of_their_own() -> None:
    catalogue = seeded_with(
        AT,
        open_request("query.data_balance", IvrItem(keys="1-9")),
        open_request("family.plan", IvrItem(keys="7-1")),
    )
    opened = Opened.of(catalogue)
    assert opened.under == {"1": (("9", "query.data_balance"),)}
    assert opened.own == {"7-1": "family.plan"}
    calls = _calls(_events(catalogue, 60_000))
    at_new = _menus_through(calls, "1-9")
    assert at_new
    assert set(at_new.values()) == {(("1", "query"), ("1-9", "query.data_balance"))}
    served = {e.attributes.item for session in at_new for e in calls[session]
              if e.event_type == "ivr.self_service_completed"}  # fmt: skip
    assert served == {"query.data_balance"}
    own = _menus_through(calls, "7-1")
    assert own
    assert set(own.values()) == {(("7", "family"), ("7-1", "family.plan"))}


def _menus_through(
    calls: dict[str, list[Any]], key_path: str
) -> dict[str, tuple[tuple[str, str], ...]]:
    """Session → its menu steps (key path, item), for every call that pressed ``key_path``."""
    menus = {
        session: tuple((e.attributes.key_path, e.attributes.item) for e in call
                       if e.event_type == "ivr.menu_selected")
        for session, call in calls.items()
    }  # fmt: skip
    return {s: m for s, m in menus.items() if any(k == key_path for k, _ in m)}


def test_an_opened_item_that_is_then_retired_sends_no_more_callers() -> None:
    request = open_request("query.data_balance", IvrItem(keys="1-9"))
    catalogue = seeded_with(AT, request, retire_request("query.data_balance", "ivr"))
    assert Opened.of(catalogue).services == frozenset()
    pressed = [e for e in _events(catalogue) if e.event_type == "ivr.menu_selected"
               and e.attributes.key_path.startswith("1-9")]  # fmt: skip
    assert pressed == []


# Key paths the catalogue accepts, of one to four keys, and services named as analysts do.
KEYS = st.lists(st.sampled_from("0123456789*#"), min_size=1, max_size=4).map("-".join)
SERVICES = st.from_regex(r"[a-z][a-z0-9_]{0,10}\.[a-z][a-z0-9_]{0,10}", fullmatch=True)


@settings(max_examples=15, deadline=None)
@given(st.dictionaries(KEYS, SERVICES, min_size=1, max_size=4), st.integers(0, 2**16))
def test_any_opened_keys_give_valid_events_and_callers_behave_by_branch(
    opened_paths: dict[str, str], seed: int
) -> None:
    catalogue = fold(seed_records(AT))
    for path, service in opened_paths.items():
        request = open_request(service, IvrItem(keys=path))
        if catalogue.judge(request) is None:  # a path today's menu holds is refused
            for record in whole(request):
                catalogue.apply(record)
    opened = Opened.of(catalogue)
    offered = catalogue.channel("ivr")
    new = {
        p: serving[0][0]
        for p, serving in offered.items()
        if p not in STATIC_KEY_PATHS and p not in LEVEL1_WEIGHTS and not p.startswith("0")
    }
    under = {f"{k}-{rest}": s for k, items in opened.under.items() for rest, s in items}
    assert under | opened.own == new
    assert opened.services == frozenset(new.values())
    # Every event decodes under the schemas (``_events`` validates each one), and what is
    # done at an opened path is its service.
    for e in _events(catalogue, 8000, seed):
        if e.event_type == "ivr.self_service_completed" and e.attributes.key_path in new:
            assert e.attributes.item == new[e.attributes.key_path]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(sorted(catalog.KIOSK_SERVICES)), max_size=5, unique=True),
    st.lists(SERVICES, max_size=3, unique=True),
    st.randoms(use_true_random=False),
)
def test_a_hall_offers_exactly_what_the_catalogue_holds_open(
    retired: list[str], opened: list[str], rng: Any
) -> None:
    requests: list[OpenRequested | RetireRequested] = [
        retire_request(name, "kiosk") for name in retired
    ]
    requests += [open_request(name, KioskService(function=name)) for name in opened
                 if name not in catalog.KIOSK_SERVICES]  # fmt: skip
    catalogue = seeded_with(AT, *requests)
    functions = Functions.of(catalogue, "kiosk", catalog.KIOSK_SERVICES)
    offered = set(catalogue.channel("kiosk"))
    everything = {*catalog.KIOSK_SERVICES, *functions.opened}
    for name in everything:
        assert functions.is_open(name) == (name in offered)
    assert set(functions.opened) == offered - set(catalog.KIOSK_SERVICES)
    static = list(catalog.KIOSK_SERVICES)
    picked = functions.pick(rng, static, list(catalog.KIOSK_SERVICES.values()))
    assert picked in everything
