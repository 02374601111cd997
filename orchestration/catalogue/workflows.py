"""The two processes of the source deck that change the catalogue, step by step, with the role
each step is taken in.

Opening a service (``open``)::

    requested (requester) → marketing_reviewed (marketing_reviewer)
    → jointly_reviewed_and_developed (developer) → live_and_tested (tester)
    → content_and_training_ready (content_owner) → opened (channel_owner)

Retiring a service (``retire``)::

    retirement_requested (requester) → submitted (requester)
    → marketing_reviewed (marketing_reviewer) → offline_and_tested (tester)
    → content_updated (content_owner) → retired (channel_owner)

The first step of each is the request record itself; the others are
:class:`schemas.catalogue.StepTaken` records. A step follows only the one before it. The review
steps (:data:`REVIEWS`) are four-eyes: no one reviews a request they asked for or submitted.
"""

from typing import Literal

from schemas.catalogue import Role, Step

Process = Literal["open", "retire"]

#: Each process's steps after its request, in order, with the role that takes each.
STEPS: dict[Process, tuple[tuple[Step, Role], ...]] = {
    "open": (
        ("marketing_reviewed", "marketing_reviewer"),
        ("jointly_reviewed_and_developed", "developer"),
        ("live_and_tested", "tester"),
        ("content_and_training_ready", "content_owner"),
        ("opened", "channel_owner"),
    ),
    "retire": (
        ("submitted", "requester"),
        ("marketing_reviewed", "marketing_reviewer"),
        ("offline_and_tested", "tester"),
        ("content_updated", "content_owner"),
        ("retired", "channel_owner"),
    ),
}

#: The name of each process's first step: the request record.
REQUESTED: dict[Process, str] = {"open": "requested", "retire": "retirement_requested"}

#: The role a request is made in.
REQUESTER: Role = "requester"

#: Steps that are reviews: never taken by whoever requested or submitted the request.
REVIEWS: frozenset[Step] = frozenset({"marketing_reviewed", "jointly_reviewed_and_developed"})


def step_names(process: Process) -> tuple[str, ...]:
    """Every step of ``process``, its request first."""
    return (REQUESTED[process], *(step for step, _ in STEPS[process]))


def role_for(process: Process, step: Step) -> Role | None:
    """The role ``step`` of ``process`` is taken in; None for a step of the other process."""
    return dict(STEPS[process]).get(step)
