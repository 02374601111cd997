"""The 10086 phone hall: calls through the key-press menu, and the agent queue behind it.

A call plays the personalised lead-in ("priority guidance", per city, brand and busy/idle
period), then the caller presses a level-1 and a level-2 key of the real menu. Most finish in
self-service; some press 0 (more often for handling and consultation, always for the
"complaint / human help" items) and join the agent queue. What happens in the queue is settled
by :class:`~channelhub.simulator.queue.AgentQueue` in arrival order, once every call that could
join earlier has been generated: see :meth:`IvrHall.settle`.

Callers press the keys they know from today's menu. Keys the live catalogue has retired
(:attr:`IvrHall.removed`) lead nowhere any more: the menu is played again and the caller asks
for an agent about what they wanted, which is the demand the phone hall no longer meets.
Items the live catalogue opened since (:attr:`IvrHall.opened`, :meth:`Opened.of`) get callers
too: an item under a level-1 key of today's menu is announced after that branch's own items
and pressed now and then (:data:`NEW_ITEM_WEIGHT`); keys that start no branch of today's menu
are a new level-1 choice (:data:`NEW_KEY_WEIGHT`). The item is the service the catalogue opened
there, and callers behave there as in the branch of its key, or of its area (the part of the
service's name before the dot), or else as :data:`NEW_AREA` says.
"""

import heapq
import itertools
import math
import random
from typing import NamedTuple

from channelhub.simulator.catalog import (
    BRANCH_ORDERED_KEYS,
    CAMPAIGN_ITEM,
    COMPLAINT_HANDLE_S,
    HUMAN_HELP_ITEMS,
    IVR_MENU,
    SELF_SERVICE_TOPICS,
    UNKNOWN_TOPIC_HANDLE_S,
    MenuBranch,
)
from channelhub.simulator.load import HOUR_MS, LoadModel
from channelhub.simulator.population import Population
from channelhub.simulator.queue import AgentQueue, square_root_staffing
from channelhub.simulator.session import Hall, Schedule, Session, seconds
from orchestration.catalogue import Catalogue
from schemas import PREFECTURES
from schemas.events import (
    Abandoned,
    AgentAnswered,
    AgentRequested,
    AgentRequestHandled,
    CallEnded,
    CallStarted,
    IvrAbandoned,
    IvrAgentAnswered,
    IvrAgentRequested,
    IvrCallEnded,
    IvrCallStarted,
    IvrMenuSelected,
    IvrQueueEntered,
    IvrSelfServiceCompleted,
    MenuSelected,
    QueueEntered,
    RequestHandled,
    SelfServiceCompleted,
)

QUEUE_NAME = "general"
AGENT_KEY = "0"
#: Level-1 keys and how often callers press them ("0" is straight to an agent).
LEVEL1_WEIGHTS: dict[str, float] = {"1": 46, "2": 10, "3": 18, "4": 11, "5": 4, "8": 1, "0": 7}
ENTERPRISE_KEY8_WEIGHT = 30.0  # group customers use their own branch
GOTONE_KEY0_WEIGHT = 11.0  # premium customers ask for a person more readily
BUSY_QUERY_BOOST = 1.3  # bills and balances dominate at the start and end of the month
#: Within a branch, the first positions are pressed most (that is what the ordering is for).
POSITION_DECAY = 0.8
HANGUP_SHARE = 0.03
SELF_SERVICE_SUCCESS = 0.95
MEAN_PATIENCE_S = 75.0
GOTONE_MEAN_PATIENCE_S = 90.0
HANDLE_SIGMA = 0.55  # lognormal shape of handle times
WRAP_UP_MS = 10_000  # after-call work before the agent takes the next caller
RESOLVED_SHARE = 0.88
COMPLAINT_RESOLVED_SHARE = 0.6
#: For the staffing plan: share of calls that reach the queue, and the mean agent time per call.
PLANNED_AGENT_SHARE = 0.23
PLANNED_AGENT_TIME_S = 235.0
#: β of square-root staffing: enough for short waits on ordinary days.
STAFFING_QUALITY = 0.8
#: How often callers press an item opened after today's menu, against the position weights
#: of its branch (1 for the first item, 0.19 for the eighth): announced last, pressed rarely.
NEW_ITEM_WEIGHT = 0.1
#: How often callers press keys opened as a new level-1 choice, against
#: :data:`LEVEL1_WEIGHTS` (as the SMS hall's ``NEW_CODE_WEIGHT`` against its codes).
NEW_KEY_WEIGHT = 2.0
#: How callers behave at an opened item whose key and area are in no branch of today's menu.
NEW_AREA = MenuBranch("other", {}, agent_share=0.2, handle_s=UNKNOWN_TOPIC_HANDLE_S)

#: Every key path of today's menu (the level-2 items, and key 5's campaign).
STATIC_KEY_PATHS = frozenset(
    f"{key}-{k2}" if k2 else key
    for key, branch in IVR_MENU.items()
    for k2 in (branch.items or [""])
)


class Opened(NamedTuple):
    """Key paths the live catalogue opened that today's menu does not have: under a branch of
    today's menu (level-1 key → (the rest of the path, service)), or of their own
    (path → service)."""

    under: dict[str, tuple[tuple[str, str], ...]]
    own: dict[str, str]
    #: Every service these paths lead to.
    services: frozenset[str]

    @classmethod
    def of(cls, catalogue: Catalogue) -> "Opened":
        """What ``catalogue`` opened beyond today's menu, each path with the first service
        open there. A path that is itself a level-1 key of today's menu (``8``) stays that
        branch, pressing it plays the branch's items; and key 0 reaches an agent, whatever
        follows it."""
        under: dict[str, list[tuple[str, str]]] = {}
        own: dict[str, str] = {}
        for path, serving in catalogue.channel("ivr").items():
            key1, _, rest = path.partition("-")
            if path in STATIC_KEY_PATHS or path in LEVEL1_WEIGHTS or key1 == AGENT_KEY:
                continue
            if rest and IVR_MENU.get(key1, NEW_AREA).items:
                under.setdefault(key1, []).append((rest, serving[0][0]))
            else:
                own[path] = serving[0][0]
        services = frozenset([*own.values(), *(s for items in under.values() for _, s in items)])
        return cls({key: tuple(items) for key, items in under.items()}, own, services)


#: Nothing opened: today's menu.
NOTHING_OPENED = Opened({}, {}, frozenset())


def _behaviour(key_path: str, item: str) -> MenuBranch:
    """The branch whose callers' behaviour holds at ``item``: that of its level-1 key, else
    that of its area, else :data:`NEW_AREA`."""
    branch = IVR_MENU.get(key_path.partition("-")[0])
    if branch is not None:
        return branch
    area = item.partition(".")[0]
    return next((b for b in IVR_MENU.values() if b.area == area), NEW_AREA)


class _Branch:
    """One level-1 key as a branch company plays it: keys in order, cumulative weights."""

    def __init__(self, key: str, items: list[tuple[str, str]]) -> None:
        self.key = key
        self.items = items
        weights = [1 / (position + 1) ** POSITION_DECAY for position in range(len(items))]
        self.cumulative = list(itertools.accumulate(weights))


class IvrHall(Hall):
    """Calls to 10086 and the agents who answer some of them."""

    def __init__(
        self,
        population: Population,
        load: LoadModel,
        start_ms: int,
        rng: random.Random,
        schedule: Schedule,
    ) -> None:
        super().__init__("ivr", load.arrivals("ivr", start_ms, rng), rng, schedule)
        self._population = population
        self._load = load
        self._menus = {p: self._branch_menu(rng) for p in PREFECTURES}
        self._queue = AgentQueue(self._staffing)
        self._requests: list[tuple[int, int, int, int, Session, str, int, bool]] = []
        self._request_seq = itertools.count()
        #: Key paths the live catalogue has retired; the simulator swaps in the current set.
        self.removed: frozenset[str] = frozenset()
        #: Key paths the live catalogue opened since today's menu; swapped in like ``removed``.
        self.opened = NOTHING_OPENED

    @staticmethod
    def _branch_menu(rng: random.Random) -> dict[str, _Branch]:
        """The level-2 items of keys 2 and 3 in this branch's own order."""
        menu = {}
        for key, branch in IVR_MENU.items():
            items = list(branch.items.items())
            if key in BRANCH_ORDERED_KEYS:
                names = [name for _, name in items]
                rng.shuffle(names)
                items = [(k, name) for (k, _), name in zip(items, names, strict=True)]
            menu[key] = _Branch(key, items)
        return menu

    def _staffing(self, hour: int) -> int:
        """Agents on shift in ``hour``: square-root staffing for the load the plan expected."""
        planned = self._load.planned_rate("ivr", hour * HOUR_MS + HOUR_MS // 2)
        offered = planned * PLANNED_AGENT_SHARE * PLANNED_AGENT_TIME_S
        return square_root_staffing(offered, STAFFING_QUALITY)

    def _level1(self, brand: str, busy: bool) -> str:
        weights = dict(LEVEL1_WEIGHTS)
        if brand == "enterprise":
            weights["8"] = ENTERPRISE_KEY8_WEIGHT
        elif brand == "gotone":
            weights["0"] = GOTONE_KEY0_WEIGHT
        if busy:
            weights["1"] *= BUSY_QUERY_BOOST
        weights.update((path, NEW_KEY_WEIGHT) for path in self.opened.own)
        return self._rng.choices(list(weights), list(weights.values()))[0]

    def start_session(self) -> None:
        rng, schedule = self._rng, self._schedule
        start = self._advance()
        who = self._population.pick("ivr", rng)
        busy = self._load.is_busy(start)
        call = Session(who.msisdn, self._ids.next(), who.prefecture, who.brand)
        lead_in = f"{who.prefecture}.{who.brand}.{'busy' if busy else 'idle'}"
        schedule(start, IvrCallStarted, call, CallStarted(lead_in, busy))
        t = start + seconds(rng, 8, 14) + (4000 if busy else 0)

        key1 = self._level1(who.brand, busy)
        if key1 == AGENT_KEY:
            self._request_agent(call, start, t + seconds(rng, 1, 3), "0", "unknown", busy)
            return
        key_path, item, t = self._through_menu(call, who.prefecture, key1, t)
        branch_def = _behaviour(key_path, item)

        if item in HUMAN_HELP_ITEMS:
            self._request_agent(call, start, t + seconds(rng, 1, 3), key_path, item, busy)
            return
        if key_path in self.removed:  # "invalid choice", the menu again, then 0
            t += seconds(rng, 8, 20)
            self._request_agent(call, start, t, f"{key_path}-0", item, busy)
            return
        draw = rng.random()
        if draw < branch_def.agent_share:
            t += seconds(rng, 5, 30)
            self._request_agent(call, start, t, f"{key_path}-0", item, busy)
        elif draw < branch_def.agent_share + HANGUP_SHARE:
            t += seconds(rng, 3, 30)
            schedule(t, IvrCallEnded, call, CallEnded((t - start) / 1000, "hangup"))
        else:
            t += seconds(rng, 60, 150) if item == CAMPAIGN_ITEM else seconds(rng, 20, 90)
            success = rng.random() < SELF_SERVICE_SUCCESS
            schedule(
                t, IvrSelfServiceCompleted, call, SelfServiceCompleted(key_path, item, success)
            )
            t += seconds(rng, 1, 4)
            schedule(t, IvrCallEnded, call, CallEnded((t - start) / 1000, "self_service"))

    def _through_menu(
        self, call: Session, prefecture: str, pressed: str, t: int
    ) -> tuple[str, str, int]:
        """The menu after the caller pressed ``pressed`` (a level-1 key, or keys opened as a
        level-1 choice of their own), with its events: the key path reached, its item, and
        when."""
        rng, schedule = self._rng, self._schedule
        own = self.opened.own.get(pressed)
        key1 = pressed.partition("-")[0]
        area = IVR_MENU[key1].area if key1 in IVR_MENU else (own or "").partition(".")[0]
        t += seconds(rng, 2, 6)
        schedule(t, IvrMenuSelected, call, MenuSelected(key1, area))
        if own is not None:
            key_path, item = pressed, own
        elif IVR_MENU[key1].items:
            key2, item = self._level2(prefecture, key1)
            key_path = f"{key1}-{key2}"
        else:
            return key1, CAMPAIGN_ITEM, t
        if key_path != key1:
            t += seconds(rng, 3, 10)
            schedule(t, IvrMenuSelected, call, MenuSelected(key_path, item))
        return key_path, item, t

    def _level2(self, prefecture: str, key1: str) -> tuple[str, str]:
        """The rest of the key path a caller presses in branch ``key1``, and its item: one of
        the branch's own, or now and then one opened since."""
        branch = self._menus[prefecture][key1]
        items, cumulative = branch.items, branch.cumulative
        opened = self.opened.under.get(key1)
        if opened:
            items = [*items, *opened]
            top = cumulative[-1]
            cumulative = [
                *cumulative,
                *(top + NEW_ITEM_WEIGHT * n for n in range(1, len(opened) + 1)),
            ]
        return items[self._rng.choices(range(len(items)), cum_weights=cumulative)[0]]

    def _request_agent(
        self, call: Session, start: int, t: int, key_path: str, topic: str, busy: bool
    ) -> None:
        """Press 0: the request event now; the queue settles the rest later, in order."""
        rng = self._rng
        self._schedule(t, IvrAgentRequested, call, AgentRequested(key_path, topic))
        mean_patience = GOTONE_MEAN_PATIENCE_S if call.brand == "gotone" else MEAN_PATIENCE_S
        patience = int(rng.expovariate(1 / mean_patience) * 1000)
        if topic in HUMAN_HELP_ITEMS:
            mean_handle = COMPLAINT_HANDLE_S
        elif topic in SELF_SERVICE_TOPICS or topic in self.opened.services:
            mean_handle = _behaviour(key_path, topic).handle_s
        else:
            mean_handle = UNKNOWN_TOPIC_HANDLE_S
        mu = math.log(mean_handle) - HANDLE_SIGMA**2 / 2
        handle = max(1000, int(rng.lognormvariate(mu, HANDLE_SIGMA) * 1000))
        joined = t + seconds(rng, 1, 2)
        request = (joined, next(self._request_seq), patience, handle, call, topic, start, busy)
        heapq.heappush(self._requests, request)

    def settle(self, frontier_ms: int) -> None:
        """Run the queue for every caller who joined by ``frontier_ms``: no call generated
        later can join before it, so their waits are final."""
        requests, schedule, rng = self._requests, self._schedule, self._rng
        while requests and requests[0][0] <= frontier_ms:
            joined, _, patience, handle, call, topic, start, busy = heapq.heappop(requests)
            outcome = self._queue.offer(joined, patience, handle + WRAP_UP_MS)
            schedule(
                joined, IvrQueueEntered, call, QueueEntered(QUEUE_NAME, outcome.position, busy)
            )
            left = joined + outcome.wait_ms
            wait_s = outcome.wait_ms / 1000
            if outcome.agent is None:
                schedule(left, IvrAbandoned, call, Abandoned(wait_s))
                schedule(left, IvrCallEnded, call, CallEnded((left - start) / 1000, "abandoned"))
                continue
            agent_id = f"A{outcome.agent + 1:04d}"
            schedule(left, IvrAgentAnswered, call, AgentAnswered(agent_id, wait_s))
            done = left + handle
            complaint = topic in HUMAN_HELP_ITEMS
            resolved = rng.random() < (COMPLAINT_RESOLVED_SHARE if complaint else RESOLVED_SHARE)
            self_service = topic in SELF_SERVICE_TOPICS or topic in self.opened.services
            handled = RequestHandled(agent_id, topic, resolved, handle / 1000, self_service)
            schedule(done, AgentRequestHandled, call, handled)
            ended = done + seconds(rng, 0.5, 2)
            schedule(ended, IvrCallEnded, call, CallEnded((ended - start) / 1000, "agent"))
