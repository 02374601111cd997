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
"""

import heapq
import itertools
import math
import random

from channelhub.simulator.catalog import (
    BRANCH_ORDERED_KEYS,
    CAMPAIGN_ITEM,
    COMPLAINT_HANDLE_S,
    HUMAN_HELP_ITEMS,
    IVR_MENU,
    SELF_SERVICE_TOPICS,
    UNKNOWN_TOPIC_HANDLE_S,
)
from channelhub.simulator.load import HOUR_MS, LoadModel
from channelhub.simulator.population import Population
from channelhub.simulator.queue import AgentQueue, square_root_staffing
from channelhub.simulator.session import Hall, Schedule, Session, seconds
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
        if key1 == "0":
            self._request_agent(call, start, t + seconds(rng, 1, 3), "0", "unknown", busy)
            return
        branch_def = IVR_MENU[key1]
        t += seconds(rng, 2, 6)
        schedule(t, IvrMenuSelected, call, MenuSelected(key1, branch_def.area))
        if branch_def.items:
            branch = self._menus[who.prefecture][key1]
            key2, item = branch.items[
                rng.choices(range(len(branch.items)), cum_weights=branch.cumulative)[0]
            ]
            key_path = f"{key1}-{key2}"
            t += seconds(rng, 3, 10)
            schedule(t, IvrMenuSelected, call, MenuSelected(key_path, item))
        else:
            key_path, item = key1, CAMPAIGN_ITEM

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
        elif topic in SELF_SERVICE_TOPICS:
            mean_handle = IVR_MENU[key_path[0]].handle_s
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
            handled = RequestHandled(
                agent_id, topic, resolved, handle / 1000, topic in SELF_SERVICE_TOPICS
            )
            schedule(done, AgentRequestHandled, call, handled)
            ended = done + seconds(rng, 0.5, 2)
            schedule(ended, IvrCallEnded, call, CallEnded((ended - start) / 1000, "agent"))
