"""The service catalogue: what each self-service channel offers, changed only through the
deck's processes for opening and retiring a service.

    fold(events) -> Catalogue              the live catalogue, workflows and refusals
    Catalogue.retired() -> [Retired]       entries retired and not open again (unmet demand)
    Catalogue.retired_codes_in(text, at)   retired SMS codes a text names, now or as of ``at``
    Catalogue.judge(event) -> Refusal|None   what apply would decide, changing nothing
    load_staff(path).require(who, role)    the person, if they hold the role

The records are :mod:`schemas.catalogue`; the steps and their roles
:mod:`orchestration.catalogue.workflows`. The I/O (reading the topic, writing records, seeding
from today's static catalogue) is :mod:`channelhub.catalogue`.
"""

from orchestration.catalogue.errors import NotAllowedError, RefusedError, StaffFileError
from orchestration.catalogue.fold import (
    Catalogue,
    Refusal,
    RefusalCode,
    Retired,
    Workflow,
    fold,
    slot_of,
)
from orchestration.catalogue.staff import Person, Staff, load_staff, staff_file
from orchestration.catalogue.workflows import REQUESTED, REVIEWS, STEPS, Process, role_for

__all__ = [
    "REQUESTED",
    "REVIEWS",
    "STEPS",
    "Catalogue",
    "NotAllowedError",
    "Person",
    "Process",
    "Refusal",
    "RefusalCode",
    "RefusedError",
    "Retired",
    "Staff",
    "StaffFileError",
    "Workflow",
    "fold",
    "load_staff",
    "role_for",
    "slot_of",
    "staff_file",
]
