"""Every callback of the built app declares who may call it, and it is who may open the page
it feeds: the gate answers callback requests by those declarations alone
(:mod:`dashboards.roles`), so a callback that declared another page's roles would serve that
page's data, or its actions, to the wrong people.

In process: the app is built with nothing behind it, and each page's layout is rendered as a
user with every role to find which page holds a callback's outputs.
"""

from collections.abc import Iterator
from typing import Any

import dash
import flask
import pytest
from dash.development.base_component import Component

from dashboards import roles
from dashboards.app import create_app
from tests.fixtures.services import free_port, local_settings


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dash.Dash]:
    nowhere = local_settings(
        state_dir=tmp_path_factory.mktemp("dashboard"),
        clickhouse_port=free_port(),
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
    )
    built = create_app(nowhere)
    with built.server.test_client() as client:
        client.get("/login")  # Dash adds its own callbacks and the pages' on the first request
    return built


def ids_in(layout: Any) -> set[str]:
    """The ids of ``layout`` and every component in it (pattern-matching ids are the
    children a callback makes, never a callback's output here)."""
    if not isinstance(layout, Component):
        return set()
    components = [layout, *layout._traverse()]
    return {i for c in components if isinstance(i := getattr(c, "id", None), str)}


def output_ids(key: str) -> set[str]:
    """The component ids of a callback's ``callback_map`` key (``a.p`` or ``..a.p...b.q..``)."""
    return {output.rsplit(".", 1)[0] for output in key.strip(".").split("...")}


@pytest.fixture(scope="module")
def holders(app: dash.Dash) -> dict[str, tuple[str, frozenset[str]]]:
    """Component id → (the page or shell that lays it out, the roles that may open it)."""
    found: dict[str, tuple[str, frozenset[str]]] = {}
    with app.server.test_request_context("/"):
        flask.session["roles"] = list(roles.ROLES)
        for component_id in ids_in(app.layout()):
            found[component_id] = ("the shell", frozenset(roles.ROLES))
        for page in dash.page_registry.values():
            for component_id in ids_in(page["layout"]()):
                assert component_id not in found, f"{component_id} is on two pages"
                found[component_id] = (page["name"], frozenset(page["roles"]))
    return found


def server_callbacks(app: dash.Dash) -> dict[str, Any]:
    """Every callback that runs on the server (clientside ones never reach the gate)."""
    return {key: entry for key, entry in app.callback_map.items() if entry.get("callback")}


def test_every_callback_declares_roles(app: dash.Dash) -> None:
    callbacks = server_callbacks(app)
    assert len(callbacks) > 20  # the pages' callbacks are there, not only Dash's own
    undeclared = [
        f"{entry['callback'].__module__}.{entry['callback'].__name__}"
        for key, entry in callbacks.items()
        if not roles.declared(app, key)
    ]
    assert undeclared == []


def test_every_callback_declares_the_roles_of_the_page_it_feeds(
    app: dash.Dash, holders: dict[str, tuple[str, frozenset[str]]]
) -> None:
    for key in server_callbacks(app):
        if key == roles.ROUTER_OUTPUT:
            continue  # Dash's page router: every layout it returns is guarded by its page
        missing = output_ids(key) - holders.keys()
        assert not missing, f"{key}: no page lays out {sorted(missing)}"
        pages = {holders[i] for i in output_ids(key)}
        assert len(pages) == 1, f"{key} feeds {sorted(p for p, _ in pages) or 'no page'}"
        [(page, page_roles)] = pages
        assert roles.declared(app, key) == page_roles, f"{key} feeds {page}"


def test_the_router_is_open_to_every_role_and_nothing_else_is_by_default(
    app: dash.Dash,
) -> None:
    assert roles.declared(app, roles.ROUTER_OUTPUT) == frozenset(roles.ROLES)
    assert roles.declared(app, "no-such-component.children") == frozenset()
    assert roles.declared(app, None) == frozenset()


def test_a_role_that_does_not_exist_cannot_be_declared() -> None:
    with pytest.raises(ValueError, match="are not all among"):
        roles.callback(dash.Output("x", "children"), roles=("admin",))  # type: ignore[arg-type]
