"""The agent queue behind the IVR: a first-come-first-served multi-server queue with abandonment.

This is the Erlang-A model (M/G/N+M when arrivals are Poisson and patience exponential): callers
arrive, wait for the first free agent on shift, and leave if their patience runs out first.
Handle time and patience are properties of a caller, drawn by the IVR; the wait, the queue
position and whether the caller abandons are *computed* here from everyone else in the queue
and the agents on shift, never drawn.

Under FIFO a caller's fate depends only on the callers ahead of them, so callers are settled one
by one in arrival order: the caller takes the agent that becomes available first, unless that is
later than their patience allows, in which case they abandon and take no agent. Agents are
numbered; agent ``k`` is on shift in hour ``h`` when ``k < staffing(h)``, and an agent whose
shift ends mid-call finishes the call.
"""

import heapq
import math
from collections.abc import Callable
from typing import NamedTuple

#: Shifts are planned per hour.
SHIFT_MS = 3_600_000
#: An agent off shift for this long is treated as gone (a bound on the search, not a rule).
_SEARCH_HOURS = 24 * 14


class QueueOutcome(NamedTuple):
    position: int  # callers waiting ahead when this one joined
    wait_ms: int  # until answered, or until the caller gave up
    agent: int | None  # the agent who answered; None when the caller abandoned


class AgentQueue:
    """One queue and its agents; :meth:`offer` must be called in arrival order."""

    def __init__(self, staffing: Callable[[int], int]) -> None:
        """``staffing(hour_index)`` is the number of agents on shift in that hour since the
        epoch; it must be at least 1."""
        self._staffing = staffing
        self._staff_cache: dict[int, int] = {}
        self._agents: list[tuple[int, int]] = []  # heap of (not free before, agent number)
        self._hired = 0
        self._hired_through = -1  # last hour whose agents exist
        self._leaving: list[int] = []  # heap of the times waiting callers leave the queue
        self._last_arrival = -1

    def on_shift(self, hour: int) -> int:
        staff = self._staff_cache.get(hour)
        if staff is None:
            staff = self._staff_cache[hour] = self._staffing(hour)
            if staff < 1:
                raise ValueError(f"staffing({hour}) is {staff}: the hotline needs an agent")
        return staff

    def _next_on_shift(self, agent: int, t: int) -> int:
        """The first time from ``t`` on when ``agent`` is on shift."""
        hour = t // SHIFT_MS
        for ahead in range(_SEARCH_HOURS):
            if agent < self.on_shift(hour + ahead):
                return t if ahead == 0 else (hour + ahead) * SHIFT_MS
        return t + _SEARCH_HOURS * SHIFT_MS

    def _hire_for(self, start: int, end: int) -> None:
        """Make sure every agent on shift between ``start`` and ``end`` exists (hours already
        checked are not checked again: arrivals only move forward)."""
        first = max(start // SHIFT_MS, self._hired_through + 1)
        last = min(end // SHIFT_MS, start // SHIFT_MS + _SEARCH_HOURS)
        if first > last:
            return
        needed = max(self.on_shift(hour) for hour in range(first, last + 1))
        self._hired_through = last
        while self._hired < needed:
            heapq.heappush(self._agents, (0, self._hired))
            self._hired += 1

    def offer(self, arrival_ms: int, patience_ms: int, handle_ms: int) -> QueueOutcome:
        """Settle one caller who joins at ``arrival_ms``; the chosen agent is then busy for
        ``handle_ms``."""
        if arrival_ms < self._last_arrival:
            raise ValueError("callers must be offered in arrival order")
        self._last_arrival = arrival_ms
        leaving = self._leaving
        while leaving and leaving[0] <= arrival_ms:
            heapq.heappop(leaving)
        position = len(leaving)
        self._hire_for(arrival_ms, arrival_ms + patience_ms)

        agents = self._agents
        while True:
            free, agent = heapq.heappop(agents)
            ready = max(free, arrival_ms)
            available = self._next_on_shift(agent, ready)
            if available == ready:
                break
            heapq.heappush(agents, (available, agent))

        wait = ready - arrival_ms
        if wait > patience_ms:
            heapq.heappush(agents, (free, agent))
            heapq.heappush(leaving, arrival_ms + patience_ms)
            return QueueOutcome(position, patience_ms, None)
        heapq.heappush(agents, (ready + handle_ms, agent))
        if wait:
            heapq.heappush(leaving, ready)
        return QueueOutcome(position, wait, agent)


def square_root_staffing(offered_erlangs: float, quality: float = 0.5) -> int:
    """Agents for a load of ``offered_erlangs``: ``A + β√A``, the rule workforce planners use
    to balance answer speed against cost (β around 0.5 is a moderate service level)."""
    return max(1, math.ceil(offered_erlangs + quality * math.sqrt(offered_erlangs)))
