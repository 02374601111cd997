"""The source deck's process for publishing content, step by step, with the role of each::

    drafted (branch_maintainer) → branch_reviewed (branch_administrator)
    → column_reviewed (column_owner) → knowledge_checked (service_centre)
    → published (service_centre)

The draft is a :class:`schemas.content.Drafted` record; the others are
:class:`schemas.content.StepTaken` records. A step follows only the one before it. Whoever is
due to take the next step may instead reject the version (:class:`schemas.content.Rejected`),
in that step's role. Four eyes: no one takes a step of, or rejects, a version they drafted.
"""

from schemas.content import Role, Step

#: The role a draft is written in.
DRAFTER: Role = "branch_maintainer"

#: The steps after the draft, in order, with the role that takes each.
STEPS: tuple[tuple[Step, Role], ...] = (
    ("branch_reviewed", "branch_administrator"),
    ("column_reviewed", "column_owner"),
    ("knowledge_checked", "service_centre"),
    ("published", "service_centre"),
)


def role_for(step: str) -> Role | None:
    """The role ``step`` is taken in; None for what is not a step."""
    return dict(STEPS).get(step)  # type: ignore[call-overload,no-any-return]
