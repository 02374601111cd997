"""``python -m channelhub.queue_waits``: the wait predictor and the in-queue rule, measured on
simulated traffic in one process.

The simulator's events, in time order, go through the wait predictor
(:class:`orchestration.queue_wait.QueueWaits`), each join followed at once by its
``ivr.wait_predicted`` (as the waits stage puts it on the subscriber's partition, with no
delay), then through the nudge stage's own core and guardrails on one partition, with the
shipped rules. Nothing is sent and no service is needed. It prints, as the queue and
campaigns pages define them (:mod:`dashboards.queries.wait_predictions`):

- predicted against actual wait for the answered callers (absolute error p50 and p90, bias),
  for all of them and for those who joined behind others, beside the steady-state Erlang C
  figure for the same load, and the abandoned (censored) callers;
- the in-queue rule's calls by arm, and its effect on abandonment and on agent load (the
  share of calls an agent answered), treated - holdout with a 95% interval.

The simulated callers do not read their SMS while they wait (the simulator settles the queue
before the SMS exists), so on this traffic the measured effect is the null one: it checks the
holdout split and the measurement, not the rule's worth, which only live traffic can show.
"""

import json
import sys
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

import typer

from channelhub.simulator.engine import Engine, Scenario
from dashboards.queries.wait_predictions import LEVELS, Difference, difference
from kernel.clock import to_ms
from kernel.settings import Settings
from orchestration.queue_wait import QueueWaits, prediction_event
from orchestration.rules import load_shipped_rules
from schemas import Event, Rejection, validate
from schemas.events import IvrAbandoned, IvrAgentAnswered, IvrQueueEntered, IvrWaitPredicted
from streams.nudge_core import NudgeCore
from streams.nudge_state import PartitionNudges
from streams.nudges import partition_policy

RULE = "ivr.predicted_long_wait"
BATCH = 2000

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def _quantile(values: list[float], level: float) -> float | None:
    """The element at ``floor(level * n)`` of the sorted values (``quantilesExact``)."""
    ordered = sorted(values)
    return ordered[min(int(level * len(ordered)), len(ordered) - 1)] if ordered else None


def _errors(pairs: list[tuple[float, float]]) -> dict[str, float | int | None]:
    errors = [p - a for p, a in pairs]
    absolute = [abs(e) for e in errors]
    return {
        "answered": len(errors),
        **{f"abs_error_p{round(level * 100)}_s": _quantile(absolute, level) for level in LEVELS},
        "bias_s": sum(errors) / len(errors) if errors else None,
    }


def measure(events: int, seed: int, start_ms: int, rule: str = RULE) -> dict[str, object]:
    """Run ``events`` simulated events from ``start_ms`` through the predictor and the nudge
    core; return the figures (see the module doc)."""
    waits = QueueWaits(window_ms=int(Settings().queue_wait_window_seconds * 1000))
    core = NudgeCore(
        rules=tuple(load_shipped_rules()), policy=partition_policy(Settings(topic_partitions=1))
    )
    part = PartitionNudges()
    predicted: dict[str, IvrWaitPredicted] = {}
    ended: dict[str, tuple[float, bool]] = {}  # session → (wait, abandoned)
    triggers: dict[str, str] = {}  # prediction event id → session
    fates: dict[str, tuple[str, str]] = {}  # nudge id → (outcome, trigger event id)
    batch: list[tuple[int, Event]] = []
    offset = 0

    def fold() -> None:
        for d in core.process(part, batch).decided:  # a held nudge's last decision wins
            if d.request.rule_id == rule and d.decision.reason != "duplicate":
                fates[d.request.nudge_id] = (d.decision.outcome, d.request.trigger_event_id)
        batch.clear()

    for _, emitted in zip(range(events), Engine(Scenario(seed=seed, start_ms=start_ms)),
                          strict=False):  # fmt: skip
        event = validate(emitted.payload)
        if isinstance(event, Rejection):
            continue
        stream: list[Event] = [event]
        prediction = waits.observe(event)
        if prediction is not None and isinstance(event, IvrQueueEntered):
            made = prediction_event(event, prediction)
            predicted[event.session_id] = made
            triggers[made.event_id] = event.session_id
            stream.append(made)
        elif isinstance(event, IvrAgentAnswered | IvrAbandoned):
            ended[event.session_id] = (event.attributes.wait_s, isinstance(event, IvrAbandoned))
        for e in stream:
            batch.append((offset, e))
            offset += 1
        if len(batch) >= BATCH:
            fold()
    fold()

    answered = [(p.attributes, ended[s][0]) for s, p in predicted.items()
                if s in ended and not ended[s][1]]  # fmt: skip
    abandoned = [(p.attributes, ended[s][0]) for s, p in predicted.items()
                 if s in ended and ended[s][1]]  # fmt: skip
    arms: dict[str, list[bool]] = {"approved": [], "holdout": []}
    for outcome, trigger in fates.values():
        session = triggers.get(trigger)
        if outcome in arms and session in ended:
            arms[outcome].append(ended[session][1])

    def effect(of_abandonment: bool) -> Difference:
        t, h = arms["approved"], arms["holdout"]
        hit = (lambda gave_up: gave_up) if of_abandonment else (lambda gave_up: not gave_up)
        return difference(sum(map(hit, t)), len(t), sum(map(hit, h)), len(h))

    outcomes: dict[str, int] = {}
    for outcome, _ in fates.values():
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {
        "events": events,
        "seed": seed,
        "predictions": len(predicted),
        "erlang_a": _errors([(a.predicted_wait_s, w) for a, w in answered]),
        "erlang_a_behind_others": _errors(
            [(a.predicted_wait_s, w) for a, w in answered if a.position > 0]
        ),
        "erlang_c": _errors(
            [(a.erlang_c_wait_s, w) for a, w in answered if a.erlang_c_wait_s is not None]
        ),
        "abandoned": len(abandoned),
        "abandoned_predicted_at_least_their_wait": sum(
            a.predicted_wait_s >= w for a, w in abandoned
        ),
        "rule": rule,
        "rule_outcomes": outcomes,
        "treated_calls": len(arms["approved"]),
        "holdout_calls": len(arms["holdout"]),
        "abandonment": asdict(effect(True)),
        "agent_answered": asdict(effect(False)),
    }


@app.command(
    help="Run simulated traffic through the wait predictor and the nudge core with the "
    "shipped rules, in one process, and print as JSON the predicted against actual waits "
    "(answered callers; abandoned ones are censored) and the in-queue rule's effect on "
    "abandonment and agent load against its holdout."
)
def main(
    events: Annotated[int, typer.Option(min=1, help="Simulated events to run.")] = 300_000,
    seed: Annotated[int, typer.Option(help="The simulator's seed.")] = 1,
    start: Annotated[
        str, typer.Option(help="Simulated start with its UTC offset (a busy first of the month).")
    ] = "2026-03-01T00:00:00+08:00",
) -> None:
    try:
        began = datetime.fromisoformat(start)
    except ValueError as e:
        raise typer.BadParameter(f"{start!r} is not an ISO 8601 time", param_hint="--start") from e
    if began.tzinfo is None:
        raise typer.BadParameter("give the start with its UTC offset", param_hint="--start")
    print(f"running {events:,} simulated events from {began.isoformat()}...", file=sys.stderr)
    print(json.dumps(measure(events, seed, to_ms(began))))


if __name__ == "__main__":
    app(prog_name="python -m channelhub.queue_waits")
