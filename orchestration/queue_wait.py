"""How long a caller joining the agent queue will wait: Erlang A on the queue's live state.

Pure and bounded. :class:`QueueWaits` folds canonical events (in event-time order) into a small
state per agent queue, estimated from the events alone, each figure an exponentially decayed
average over about :attr:`QueueWaits.window_ms` of event time:

- arrivals per second (``ivr.queue_entered``);
- the agents on shift: every agent who answered a call of the queue within the window, or is
  still busy with one (answered, ``agent.request_handled`` not yet seen);
- the time an agent is taken by one caller: the handle time ``agent.request_handled`` reports,
  plus the after-call work, measured as the gap between an agent's handled request and their
  next answer when that caller was already waiting at the handling (so the agent took them
  as soon as they could);
- the callers' patience (Erlang A's abandonment rate θ): abandonments per second of waiting,
  the maximum-likelihood estimate for exponential patience with the answered callers' waits
  as censored observations.

For each ``ivr.queue_entered`` :meth:`QueueWaits.observe` returns a :class:`Prediction` made at
the moment the caller joins. Under first-come-first-served, only the ``k`` callers ahead (the
event's ``position``) and the agents stand between the caller and an answer: every agent
busy, each step forward is a service completion (rate ``Nμ``) or an abandonment of one of
the ``j`` still ahead (rate ``jθ``), so the expected wait, if the caller stays, is
``Σ_{j=0..k} 1/(Nμ + jθ)`` (:func:`conditional_wait_s`); no one ahead and an agent free is no
wait. The steady-state Erlang C mean for the same load (:func:`erlang_c_wait_s`) rides along
for comparison: it knows the load, not the queue in front of this caller.

Nothing here raises on input: an event the state cannot use is ignored, and a queue without
enough history yet (:data:`MIN_ANSWERS`) predicts nothing.
"""

import math
import uuid
from dataclasses import dataclass, field
from typing import NamedTuple

from kernel.clock import to_ms
from schemas.envelope import Envelope
from schemas.events import (
    AgentRequestHandled,
    IvrAbandoned,
    IvrAgentAnswered,
    IvrQueueEntered,
    IvrWaitPredicted,
    WaitPredicted,
)

#: Answers a queue must have seen before its predictions are worth sending.
MIN_ANSWERS = 20
#: Caps on the state: callers waiting per queue, agents remembered, queues.
MAX_WAITING = 20_000
MAX_AGENTS = 20_000
MAX_QUEUES = 256
#: A caller or a busy agent not heard of for this long is forgotten (a lost event).
STALE_MS = 2 * 3_600_000
#: Predicted waits are capped here (a day, what an event's seconds field holds).
MAX_WAIT_S = 86_400.0
#: Namespace of the prediction events' ids (a uuid5 of the ``ivr.queue_entered`` event id), so
#: a replayed join is predicted under the same id and every consumer collapses the copies.
_PREDICTION_IDS = uuid.UUID("5b0f8e52-4c1e-4a0e-9a53-1d0c7a6f3e21")


def erlang_c(agents: int, offered_erlangs: float) -> float:
    """Probability that a caller has to wait in M/M/N with ``offered_erlangs`` = λ/μ.

    1.0 when the load reaches the agents (the queue grows without bound). Computed through the
    Erlang B recursion, which neither overflows nor loses precision for thousands of agents.
    """
    if agents < 1 or not offered_erlangs >= 0 or math.isinf(offered_erlangs):
        return 1.0
    if offered_erlangs >= agents:
        return 1.0
    b = 1.0
    for n in range(1, agents + 1):
        b = offered_erlangs * b / (n + offered_erlangs * b)
    rho = offered_erlangs / agents
    return b / (1 - rho + rho * b)


def erlang_c_wait_s(agents: int, arrivals_per_s: float, service_s: float) -> float | None:
    """Mean wait of M/M/N (Erlang C), every caller counted; None when the load is at or
    past the agents, where the steady state does not exist."""
    if agents < 1 or not (arrivals_per_s >= 0 and service_s > 0):
        return None
    offered = arrivals_per_s * service_s
    if offered >= agents or math.isinf(offered):
        return None
    return erlang_c(agents, offered) * service_s / (agents - offered)


def conditional_wait_s(
    agents: int, service_s: float, patience_s: float, ahead: int, agent_free: bool
) -> float:
    """Expected wait, if the caller stays, of a caller who joins with ``ahead`` callers in
    front and every agent busy (or, with ``agent_free`` and no one ahead, no wait at all);
    see the module doc. ``patience_s`` may be ``inf`` (Erlang C: nobody abandons)."""
    if ahead <= 0 and agent_free:
        return 0.0
    if agents < 1 or not service_s > 0:
        return MAX_WAIT_S
    completions = agents / service_s
    theta = 1 / patience_s if patience_s > 0 else 0.0
    ahead = max(0, min(ahead, MAX_WAITING))
    total = math.fsum(1 / (completions + j * theta) for j in range(ahead + 1))
    return min(total, MAX_WAIT_S)


class Prediction(NamedTuple):
    """What :meth:`QueueWaits.observe` says about a caller who just joined ``queue``."""

    queue: str
    position: int
    predicted_wait_s: float  # Erlang A on the queue in front of the caller
    erlang_c_wait_s: float | None  # steady-state Erlang C for the load, for comparison
    agents: int
    arrivals_per_min: float
    service_s: float  # handle time plus after-call work
    patience_s: float | None  # None before the first abandonment: no estimate yet


@dataclass
class _Decayed:
    """An exponentially decayed sum over event time: each addition counts ``e^(-age/τ)``."""

    total: float = 0.0
    at_ms: int = 0

    def value(self, now_ms: int, tau_ms: float) -> float:
        if now_ms <= self.at_ms:
            return self.total
        return self.total * math.exp(-(now_ms - self.at_ms) / tau_ms)

    def add(self, amount: float, now_ms: int, tau_ms: float) -> None:
        if now_ms >= self.at_ms:
            self.total = self.value(now_ms, tau_ms) + amount
            self.at_ms = now_ms
        else:  # a little out of order: weigh it as the age it has
            self.total += amount * math.exp(-(self.at_ms - now_ms) / tau_ms)


@dataclass
class _Agent:
    queue: str
    answered_ms: int = -1
    handled_ms: int = -1


@dataclass
class _Queue:
    """One queue's decayed sums and who is waiting (session → joined at)."""

    first_ms: int
    arrivals: _Decayed = field(default_factory=_Decayed)
    handle_s: _Decayed = field(default_factory=_Decayed)
    handled: _Decayed = field(default_factory=_Decayed)
    wrap_s: _Decayed = field(default_factory=_Decayed)
    wraps: _Decayed = field(default_factory=_Decayed)
    abandons: _Decayed = field(default_factory=_Decayed)
    waited_s: _Decayed = field(default_factory=_Decayed)
    answers: int = 0
    waiting: dict[str, int] = field(default_factory=dict)


@dataclass
class QueueWaits:
    """The live state of every agent queue, folded from canonical events."""

    window_ms: int = 15 * 60_000
    queues: dict[str, _Queue] = field(default_factory=dict)
    agents: dict[str, _Agent] = field(default_factory=dict)
    #: session id → the queue its caller is waiting in (the answer does not name the queue).
    sessions: dict[str, str] = field(default_factory=dict)

    def observe(self, event: Envelope) -> Prediction | None:
        """Fold ``event``; for an ``ivr.queue_entered`` return the caller's prediction."""
        try:
            at = to_ms(event.occurred_at)
        except (OverflowError, ValueError):
            return None
        if isinstance(event, IvrQueueEntered):
            return self._entered(event, at)
        if isinstance(event, IvrAgentAnswered):
            self._answered(event, at)
        elif isinstance(event, IvrAbandoned):
            self._left(event.session_id, at, event.attributes.wait_s, abandoned=True)
        elif isinstance(event, AgentRequestHandled):
            self._handled(event, at)
        return None

    def _entered(self, event: IvrQueueEntered, at: int) -> Prediction | None:
        name = event.attributes.queue
        queue = self.queues.get(name)
        if queue is None:
            if len(self.queues) >= MAX_QUEUES:
                return None
            queue = self.queues[name] = _Queue(first_ms=at)
        tau = self.window_ms
        queue.arrivals.add(1.0, at, tau)
        self._prune(queue, at)
        if len(queue.waiting) < MAX_WAITING and event.session_id not in self.sessions:
            queue.waiting[event.session_id] = at
            self.sessions[event.session_id] = name
        return self._predict(name, queue, event.attributes.position, at)

    def _answered(self, event: IvrAgentAnswered, at: int) -> None:
        name = self._left(event.session_id, at, event.attributes.wait_s, abandoned=False)
        if name is None:
            return
        queue = self.queues[name]
        queue.answers += 1
        agent = self.agents.get(event.attributes.agent_id)
        if agent is None:
            if len(self.agents) >= MAX_AGENTS:
                self._forget_agents(at)
            if len(self.agents) >= MAX_AGENTS:
                return
            agent = self.agents[event.attributes.agent_id] = _Agent(queue=name)
        agent.queue = name
        joined = at - event.attributes.wait_s * 1000
        if agent.answered_ms < agent.handled_ms <= at and joined <= agent.handled_ms:
            # The caller was already waiting when the agent's last request was handled, so
            # the agent took them the moment the after-call work was done.
            queue.wrap_s.add((at - agent.handled_ms) / 1000, at, self.window_ms)
            queue.wraps.add(1.0, at, self.window_ms)
        agent.answered_ms = at

    def _left(self, session_id: str, at: int, wait_s: float, *, abandoned: bool) -> str | None:
        name = self.sessions.pop(session_id, None)
        if name is None:
            return None
        queue = self.queues[name]
        queue.waiting.pop(session_id, None)
        queue.waited_s.add(wait_s, at, self.window_ms)
        if abandoned:
            queue.abandons.add(1.0, at, self.window_ms)
        return name

    def _handled(self, event: AgentRequestHandled, at: int) -> None:
        agent = self.agents.get(event.attributes.agent_id)
        if agent is None or agent.answered_ms < 0:
            return
        agent.handled_ms = max(agent.handled_ms, at)
        queue = self.queues[agent.queue]
        queue.handle_s.add(event.attributes.handle_s, at, self.window_ms)
        queue.handled.add(1.0, at, self.window_ms)

    def _prune(self, queue: _Queue, at: int) -> None:
        """Forget callers whose end we never heard of (bounded by :data:`STALE_MS`)."""
        if not queue.waiting:
            return
        oldest = next(iter(queue.waiting.values()))
        if at - oldest <= STALE_MS:
            return
        for session, joined in list(queue.waiting.items()):
            if at - joined > STALE_MS:
                del queue.waiting[session]
                self.sessions.pop(session, None)

    def _forget_agents(self, at: int) -> None:
        for agent_id, agent in list(self.agents.items()):
            if at - max(agent.answered_ms, agent.handled_ms) > STALE_MS:
                del self.agents[agent_id]

    def _staff(self, name: str, at: int) -> tuple[int, int]:
        """(agents on shift, agents busy now) for queue ``name`` at ``at``: busy is on a call
        (answered, not yet handled) or in after-call work; on shift is busy or answered a
        call within the window."""
        wrap_ms = self._wrap_ms(name, at)
        on_shift = busy = 0
        for agent in self.agents.values():
            if agent.queue != name:
                continue
            on_call = agent.answered_ms > agent.handled_ms and at - agent.answered_ms < STALE_MS
            wrapping = (
                agent.handled_ms >= agent.answered_ms >= 0 and at - agent.handled_ms < wrap_ms
            )
            busy += on_call or wrapping
            on_shift += on_call or wrapping or 0 <= at - agent.answered_ms <= self.window_ms
        return on_shift, busy

    def _wrap_ms(self, name: str, at: int) -> float:
        queue = self.queues[name]
        wraps = queue.wraps.value(at, self.window_ms)
        return 1000 * queue.wrap_s.value(at, self.window_ms) / wraps if wraps > 0 else 0.0

    def _predict(self, name: str, queue: _Queue, position: int, at: int) -> Prediction | None:
        tau = self.window_ms
        handled = queue.handled.value(at, tau)
        if queue.answers < MIN_ANSWERS or handled <= 0:
            return None
        service_ms = 1000 * queue.handle_s.value(at, tau) / handled + self._wrap_ms(name, at)
        if service_ms <= 0:
            return None
        agents, busy = self._staff(name, at)
        if agents < 1:
            return None
        abandons = queue.abandons.value(at, tau)
        waited = queue.waited_s.value(at, tau)
        patience_s = waited / abandons if abandons > 0 else None
        # The decayed count over a history shorter than the window covers less than τ.
        span = tau * -math.expm1(-max(at - queue.first_ms, 1) / tau)
        arrivals_per_s = 1000 * queue.arrivals.value(at, tau) / span
        service_s = service_ms / 1000
        wait = conditional_wait_s(
            agents, service_s, patience_s or math.inf, position, agent_free=busy < agents
        )
        return Prediction(
            queue=name,
            position=position,
            predicted_wait_s=round(wait, 3),
            erlang_c_wait_s=_rounded(erlang_c_wait_s(agents, arrivals_per_s, service_s)),
            agents=agents,
            arrivals_per_min=round(arrivals_per_s * 60, 3),
            service_s=round(service_s, 3),
            patience_s=_rounded(patience_s),
        )


def prediction_event(entered: IvrQueueEntered, p: Prediction) -> IvrWaitPredicted:
    """The ``ivr.wait_predicted`` event of the caller of ``entered``: same subscriber, call
    and time as the join, so it lands on the subscriber's partition right behind it and a rule
    judges it on the journey of a caller still in the queue."""
    return IvrWaitPredicted(
        event_id=str(uuid.uuid5(_PREDICTION_IDS, entered.event_id)),
        schema_version=1,
        channel="ivr",
        occurred_at=entered.occurred_at,
        msisdn=entered.msisdn,
        session_id=entered.session_id,
        prefecture=entered.prefecture,
        brand=entered.brand,
        attributes=WaitPredicted(
            queue=p.queue,
            position=p.position,
            predicted_wait_s=p.predicted_wait_s,
            erlang_c_wait_s=p.erlang_c_wait_s,
            agents=min(p.agents, 100_000),
            arrivals_per_min=min(p.arrivals_per_min, 1_000_000.0),
            service_s=min(p.service_s, MAX_WAIT_S),
            patience_s=p.patience_s,
        ),
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(min(value, MAX_WAIT_S), 3)
