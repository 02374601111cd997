"""The roles a dashboard user can have, and the roles every Dash callback declares it is for.

A callback names who may call it where it is defined: ``@callback(Output(...), ...,
roles=READERS)``, with the same roles the page it feeds declares to ``register_page``. The
gate in :mod:`dashboards.auth` looks them up for each callback request (:func:`declared`) and
refuses everyone else before the callback runs. A callback that declares no roles is refused
to everyone (fail closed): a forgotten declaration shows up as a page that never fills, never
as data served to the wrong people.

Declared, not inferred: the gate used to take a callback's roles from the page of the module
that defined it, which tied every callback to one page module and opened any callback defined
elsewhere to every signed-in user. ``tests/dashboards/test_callback_roles.py`` checks that the
app's every callback declares the roles of the page it feeds.
"""

from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar, get_args

import dash

#: ``catalogue``: staff of the service catalogue's workflows who need no other page (who
#: may take which step is the catalogue's staff file, by user name).
Role = Literal["analyst", "ops", "marketing", "catalogue"]
ROLES: tuple[Role, ...] = get_args(Role)

#: Dash's own page router (``use_pages``): open to every signed-in user, as the layouts it
#: returns are each guarded by their page's roles (:func:`dashboards.auth.install`).
ROUTER_OUTPUT = ".._pages_content.children..._pages_store.data.."

_DECLARED = "__dashboard_roles__"
F = TypeVar("F", bound=Callable[..., Any])


def callback(
    *dependencies: Any, roles: Iterable[Role], app: dash.Dash | None = None, **options: Any
) -> Callable[[F], F]:
    """``dash.callback`` (or ``app.callback`` with ``app``) for the users with ``roles``."""
    allowed = frozenset(roles)
    if not allowed <= set(ROLES):
        raise ValueError(f"roles {sorted(allowed)} are not all among {list(ROLES)}")

    def register(func: F) -> F:
        # Set before Dash wraps it: Dash's wrapper copies the function's attributes.
        setattr(func, _DECLARED, allowed)
        (app.callback if app is not None else dash.callback)(*dependencies, **options)(func)
        return func

    return register


def declared(app: dash.Dash, output: object) -> frozenset[str]:
    """The roles the callback of ``output`` (a request's ``output`` key) declared; empty for a
    callback that declared none and for anything that is not a callback of ``app``."""
    if output == ROUTER_OUTPUT:
        return frozenset(ROLES)
    entry = app.callback_map.get(output) if isinstance(output, str) else None
    func = entry.get("callback") if entry else None
    found = getattr(func, _DECLARED, None)
    return found if isinstance(found, frozenset) else frozenset()
