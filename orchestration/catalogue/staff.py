"""Who holds which role in the catalogue's workflows: the staff file.

The fold checks that each step is recorded in the role the step is taken in; whether the
person really holds that role is checked here, before the record is written, against the staff
file in force then. The record keeps the role, so the trail stays what it was when a later
staff file moves people around.

The dashboard's users (:mod:`dashboards.roles`) sign in to read pages; these roles are about
taking part in a business process, held by people of named departments, and a person may
have both. A user id here is the same string as ``--by`` on the command line and, for a
dashboard user, their user name.

The same file says who may take part in publishing content (:mod:`orchestration.content`):
its roles are in ``roles`` too, and the branch roles (drafting and the branch review) hold
only for the ``branches`` listed: prefectures, or ``province`` for the SMS templates.
"""

from pathlib import Path
from typing import Annotated

import msgspec

from kernel.settings import Settings
from orchestration.catalogue.errors import NotAllowedError, StaffFileError
from orchestration.config_files import load_versioned
from schemas import content
from schemas.catalogue import Actor, Department, Role

FORMAT_VERSION = 1
DEV_STAFF_FILE = Path(__file__).parent / "config" / "staff.toml"


class Person(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    department: Department
    roles: Annotated[frozenset[Role | content.Role], msgspec.Meta(min_length=1)]
    #: Where the person holds the branch roles of publishing: prefectures, or ``province``.
    branches: frozenset[str] = frozenset()


class Staff(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The staff file as read: its format version and everyone in it."""

    version: int
    people: dict[Actor, Person]

    def require(
        self,
        who: str,
        role: Role | content.Role,
        *,
        file: str = "the staff file",
        branch: str | None = None,
    ) -> Person:
        """``who``'s entry, when they hold ``role`` (for ``branch``, when given);
        :class:`NotAllowedError` otherwise."""
        person = self.people.get(who)
        if person is None:
            raise NotAllowedError(
                f"{who!r} is not in {file}; add them under [people.{who}] with their "
                f"department and roles, or act as someone who is (--by)"
            )
        if role not in person.roles:
            holders = sorted(name for name, p in self.people.items() if role in p.roles)
            raise NotAllowedError(
                f"{who!r} holds {sorted(person.roles)}, not {role!r}; "
                f"{', '.join(holders) or 'no one'} can take this step"
            )
        if branch is not None and branch not in person.branches:
            holders = sorted(
                name for name, p in self.people.items() if role in p.roles and branch in p.branches
            )
            raise NotAllowedError(
                f"{who!r} is a {role} for {sorted(person.branches) or 'no branch'}, not for "
                f"{branch!r}; {', '.join(holders) or 'no one'} can act for it (branches in {file})"
            )
        return person


def staff_file(settings: Settings) -> Path:
    return settings.catalogue_staff_file or DEV_STAFF_FILE


def load_staff(path: Path) -> Staff:
    """The staff file at ``path``; :class:`StaffFileError` names the field that is wrong."""
    return load_versioned(
        path,
        table="people",
        schema=Staff,
        version=FORMAT_VERSION,
        unknown="people",
        error=lambda file, _item, field, problem: StaffFileError(file, field, problem),
    )
