"""Who gets what: users file, sign-in, the gate on pages and callbacks, the read-only database user.

The gate is exercised three ways: in process through Flask's test client (every refusal, with
the exact status), through the running ``python -m dashboards`` with plain HTTP (a forged
callback request without a session), and in real Chromium (what a signed-in person sees).
"""

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import flask
import pytest
from clickhouse_driver.errors import ServerException
from dash import Input, Output
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from werkzeug.test import TestResponse

from channelhub.platform.health import http_ok
from dashboards import auth, db, roles
from dashboards.access import USER_LIMIT
from dashboards.app import create_app
from kernel.errors import ConfigError
from kernel.settings import Settings
from tests.dashboards.browser import sign_in_as, text_of, wait_for_text
from tests.dashboards.data import Known, insert_events
from tests.fixtures.services import StartService, free_port, local_settings

#: The volume page's data callback, as the browser sends it (inputs are optional to Dash).
VOLUME_OUTPUT = "volume-total-all.children"
HEALTH_PAGE_OUTPUT = (
    "..health-page-summary.children...health-page-lag.children...health-page-dead.children"
    "...health-page-status.children...health-page-status.className"
    "...health-page-updated.children.."
)
ROUTER_OUTPUT = ".._pages_content.children..._pages_store.data.."


def router_request(path: str) -> dict[str, Any]:
    """What the browser posts to get a page's layout on navigation."""
    return {
        "output": ROUTER_OUTPUT,
        "outputs": [
            {"id": "_pages_content", "property": "children"},
            {"id": "_pages_store", "property": "data"},
        ],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": path},
            {"id": "_pages_location", "property": "search", "value": ""},
        ],
        "changedPropIds": ["_pages_location.pathname"],
    }


def health_page_request() -> dict[str, Any]:
    ids = HEALTH_PAGE_OUTPUT.strip(".").split("...")
    return {
        "output": HEALTH_PAGE_OUTPUT,
        "outputs": [{"id": i.split(".")[0], "property": i.split(".")[1]} for i in ids],
        "inputs": [{"id": "health-page-interval", "property": "n_intervals", "value": 1}],
        "changedPropIds": ["health-page-interval.n_intervals"],
    }


# -- the users file -------------------------------------------------------------------------


def test_the_development_users_sign_in_with_their_documented_passwords() -> None:
    users = auth.load_users(auth.DEV_USERS_FILE)
    assert {name: set(u.roles) for name, u in users.items()} == {
        "analyst": {"analyst"},
        "ops": {"ops"},
        "marketing": {"marketing"},
        "reviewer": {"catalogue"},
        "developer": {"catalogue"},
        "content": {"catalogue"},
    }
    for name in users:
        assert auth.verify(users, name, f"dev-{name}") == users[name]
        assert auth.verify(users, name, f"dev-{name}x") is None
        assert "dev-" not in users[name].password_hash
        assert f"dev-{name}" in auth.DEV_PASSWORDS
    assert auth.verify(users, "nobody", "dev-analyst") is None


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "expected [users.<name>] tables"),
        ('[users.a]\nroles = ["admin"]\npassword_hash = "scrypt:x$y"', "has roles ['admin']"),
        ('[users.a]\nroles = ["ops"]\npassword_hash = "plain"', "has no password_hash"),
        ("[users", "cannot read"),
    ],
)
def test_a_users_file_that_makes_no_sense_is_refused(
    tmp_path: Path, text: str, complaint: str
) -> None:
    path = tmp_path / "users.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(complaint)):
        auth.load_users(path)


def test_production_refuses_the_dashboard_s_development_secrets() -> None:
    secrets: dict[str, Any] = {
        "pseudonym_key": "k" * 32,
        "collector_token": "t" * 32,
        "dashboard_secret_key": "s" * 32,
        "dashboard_clickhouse_password": "p" * 16,
    }
    local_settings(environment="production", **secrets).check_dashboard_secrets()
    for missing, complaint in (
        ("dashboard_secret_key", "dashboard_secret_key is the development placeholder"),
        ("dashboard_clickhouse_password", "dashboard_clickhouse_password is empty or the"),
    ):
        values = {k: v for k, v in secrets.items() if k != missing}
        with pytest.raises(ConfigError, match=complaint):
            local_settings(environment="production", **values).check_dashboard_secrets()
    with pytest.raises(ValueError, match="needs its own read-only user"):
        local_settings(clickhouse_user="dashboard")


# -- the gate, in process ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> flask.Flask:
    """The app with nothing behind it: refusals must happen before any data is looked for."""
    nowhere = local_settings(
        state_dir=tmp_path_factory.mktemp("dashboard"),
        clickhouse_port=free_port(),
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
    )
    app = create_app(nowhere)

    @roles.callback(
        Output("access-test-result", "children"),
        Input("access-test-trigger", "n_clicks"),
        roles=("marketing",),
        app=app,
    )
    def trigger(_clicks: int | None) -> str:
        """Stands for a campaign trigger: an action, not a page's data."""
        return "triggered campaign"

    @app.callback(
        Output("access-test-undeclared", "children"), Input("access-test-trigger", "n_clicks")
    )
    def undeclared(_clicks: int | None) -> str:
        """A callback registered without the roles that may call it."""
        return "served to anyone"

    return app.server


@pytest.fixture
def http(app_server: flask.Flask) -> Iterator[Any]:
    with app_server.test_client() as client:
        yield client


def sign_in(http: Any, user: str, password: str, target: str = "/") -> TestResponse:
    form = http.get(f"/login?next={target}").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token, form
    data = {"csrf": token[1], "username": user, "password": password, "next": target}
    response: TestResponse = http.post("/login", data=data)
    return response


def test_signed_out_requests_get_a_redirect_or_401_and_no_data(http: Any) -> None:
    page = http.get("/health")
    assert page.status_code == 302
    assert page.headers["Location"] == "/login?next=%2Fhealth"
    for response in (
        http.get("/_dash-layout"),
        http.get("/_dash-dependencies"),
        http.post("/_dash-update-component", json={"output": VOLUME_OUTPUT, "inputs": []}),
        http.post("/_dash-update-component", json=health_page_request()),
        http.post("/_dash-update-component", json=router_request("/")),
    ):
        assert response.status_code == 401
        assert response.get_json() == {"error": "sign in first"}
    assert http.get("/login").status_code == 200
    assert http.get("/assets/style.css").status_code == 200


def test_sign_in_checks_the_form_token_the_password_and_where_it_returns_to(http: Any) -> None:
    cold = http.post("/login", data={"username": "ops", "password": "dev-ops"})
    assert cold.status_code == 400  # no session, no token: a cross-site login is refused
    http.get("/login")
    forged = http.post("/login", data={"csrf": "guessed", "username": "ops", "password": "dev-ops"})
    assert forged.status_code == 400
    assert sign_in(http, "ops", "wrong").status_code == 401
    assert http.get("/_dash-layout").status_code == 401

    landed = sign_in(http, "ops", "dev-ops", target="//evil.example/")
    assert landed.status_code == 302
    assert landed.headers["Location"] == "/"
    cookie = landed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert http.get("/_dash-layout").status_code == 200


def test_a_page_outside_the_role_is_neither_listed_nor_shown_nor_fed(http: Any) -> None:
    sign_in(http, "marketing", "dev-marketing")

    shell = http.get("/_dash-layout").get_data(as_text=True)
    assert "Channel volume" in shell
    assert "Data health" not in shell
    page = http.post("/_dash-update-component", json=router_request("/health")).get_json()
    denied = page["response"]["_pages_content"]["children"]["props"]["children"]
    assert denied.startswith(
        "403 · Data health is for analyst, ops; you are signed in as marketing"
    )
    forged = http.post("/_dash-update-component", json=health_page_request())
    assert forged.status_code == 403
    assert forged.get_json() == {"error": "only analyst, ops may do this"}


def custom_range_request(prefix: str) -> dict[str, Any]:
    """The IVR page's custom-range callback, defined by a shared helper for the page."""
    outputs = [
        (f"{prefix}-custom", "style"),
        (f"{prefix}-start", "value"),
        (f"{prefix}-end", "value"),
    ]
    return {
        "output": "...".join(f"{i}.{p}" for i, p in outputs).join(("..", "..")),
        "outputs": [{"id": i, "property": p} for i, p in outputs],
        "inputs": [{"id": f"{prefix}-range", "property": "value", "value": "custom"}],
        "state": [
            {"id": f"{prefix}-start", "property": "value", "value": None},
            {"id": f"{prefix}-end", "property": "value", "value": None},
        ],
        "changedPropIds": [f"{prefix}-range.value"],
    }


def test_a_callback_a_shared_helper_registers_for_a_page_is_gated_by_its_roles(http: Any) -> None:
    sign_in(http, "ops", "dev-ops")
    refused = http.post("/_dash-update-component", json=custom_range_request("ivr"))
    assert refused.status_code == 403
    assert refused.get_json() == {"error": "only analyst may do this"}
    sign_in(http, "analyst", "dev-analyst")
    answered = http.post("/_dash-update-component", json=custom_range_request("ivr"))
    assert answered.status_code == 200
    assert answered.get_json()["response"]["ivr-custom"] == {"style": {}}


def test_an_allowed_page_is_listed_and_its_callback_runs(http: Any) -> None:
    sign_in(http, "ops", "dev-ops")
    assert "Data health" in http.get("/_dash-layout").get_data(as_text=True)
    answer = http.post("/_dash-update-component", json=health_page_request())
    assert answer.status_code == 200
    assert "cannot query ClickHouse" in answer.get_data(as_text=True)  # nothing behind it


def test_a_session_follows_the_users_file(http: Any) -> None:
    sign_in(http, "ops", "dev-ops")
    with http.session_transaction() as session:
        session["roles"] = ["marketing", "ops", "analyst"]  # roles the file no longer gives
    assert "Data health" in http.get("/_dash-layout").get_data(as_text=True)
    with http.session_transaction() as session:
        assert session["roles"] == ["ops"]
        session["user"] = "someone-removed"
    assert http.get("/_dash-layout").status_code == 401


def test_sign_out_needs_the_form_token_and_then_ends_the_session(http: Any) -> None:
    sign_in(http, "analyst", "dev-analyst")
    http.post("/logout", data={"csrf": "guessed"})
    assert http.get("/_dash-layout").status_code == 200
    with http.session_transaction() as session:
        token = session["csrf"]
    assert f'"{token}"' in http.get("/_dash-layout").get_data(as_text=True)  # the form's field
    http.post("/logout", data={"csrf": token})
    assert http.get("/_dash-layout").status_code == 401


def test_only_marketing_can_trigger(http: Any) -> None:
    trigger = {
        "output": "access-test-result.children",
        "outputs": {"id": "access-test-result", "property": "children"},
        "inputs": [{"id": "access-test-trigger", "property": "n_clicks", "value": 1}],
        "changedPropIds": ["access-test-trigger.n_clicks"],
    }
    for role in ("analyst", "ops"):
        sign_in(http, role, f"dev-{role}")
        refused = http.post("/_dash-update-component", json=trigger)
        assert refused.status_code == 403
        assert "triggered" not in refused.get_data(as_text=True)
    sign_in(http, "marketing", "dev-marketing")
    done = http.post("/_dash-update-component", json=trigger)
    assert done.status_code == 200
    assert "triggered campaign" in done.get_data(as_text=True)


def test_a_callback_that_declares_no_roles_is_refused_to_every_role(http: Any) -> None:
    undeclared = {
        "output": "access-test-undeclared.children",
        "outputs": {"id": "access-test-undeclared", "property": "children"},
        "inputs": [{"id": "access-test-trigger", "property": "n_clicks", "value": 1}],
        "changedPropIds": ["access-test-trigger.n_clicks"],
    }
    for user in ("analyst", "ops", "marketing", "reviewer"):  # every role
        sign_in(http, user, f"dev-{user}")
        refused = http.post("/_dash-update-component", json=undeclared)
        assert refused.status_code == 403
        assert refused.get_json() == {"error": "no role may call this callback"}
        unknown = http.post("/_dash-update-component", json={**undeclared, "output": "x.y"})
        assert unknown.status_code == 403


# -- the read-only database user ---------------------------------------------------------------


@pytest.mark.integration
def test_the_dashboards_client_can_read_but_never_write(migrated: Settings) -> None:
    insert_events(migrated, [Known("ivr", "changsha", "mzone", datetime.now(UTC))])
    with db.client(migrated) as client:
        assert client.execute("SELECT count() FROM events") == [(1,)]
        for statement in (
            "INSERT INTO events (event_id) VALUES ('forged')",
            "CREATE TABLE forged (n UInt8) ENGINE = Memory",
            "DROP TABLE events",
            "ALTER TABLE events DELETE WHERE 1",
            "SET readonly = 0",
        ):
            with pytest.raises(ServerException, match=r"readonly|Cannot modify"):
                client.execute(statement)
        assert client.execute("SELECT count() FROM events") == [(1,)]
        # its profile's limits hold: no result larger than a page could ever want
        with pytest.raises(ServerException, match=r"Limit for result exceeded, max rows"):
            client.execute("SELECT number FROM system.numbers LIMIT 1000001")


# -- the running dashboard ---------------------------------------------------------------------


def serve(start_service: StartService, settings: Settings) -> str:
    live = settings.model_copy(update={"dashboard_refresh_seconds": 1.0})
    start_service("dashboard", "dashboards", live, health=http_ok(live.dashboard_url))
    return live.dashboard_url


@pytest.mark.browser
def test_signed_out_gets_no_data_and_roles_see_their_pages(
    migrated: Settings, start_service: StartService, browser: WebDriver
) -> None:
    recent = datetime.now(UTC) - timedelta(minutes=5)
    insert_events(migrated, [Known("sms", "changsha", "mzone", recent)])
    url = serve(start_service, migrated)

    forged = urllib.request.Request(
        f"{url}_dash-update-component",
        data=json.dumps({"output": VOLUME_OUTPUT, "inputs": []}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)
    assert refused.value.code == 401
    assert json.loads(refused.value.read()) == {"error": "sign in first"}

    browser.get(url)
    assert browser.find_element(By.ID, "login-submit").is_displayed()

    sign_in_as(browser, url, "marketing")
    wait_for_text(browser, "volume-total-all", "1")
    wait_for_text(browser, "health-line", lambda text: "events/s in" in text)
    assert "details" not in text_of(browser, "health-line")
    nav = [a.text for a in browser.find_elements(By.CSS_SELECTOR, ".nav-link")]
    assert "Channel volume" in nav
    assert "Data health" not in nav
    browser.get(f"{url}health")
    wait_for_text(browser, "access-denied", lambda text: text.startswith("403 · Data health"))

    browser.find_element(By.ID, "account-logout").click()
    wait_for_text(browser, "login-submit", "Sign in")
    sign_in_as(browser, f"{url}health", "ops")
    wait_for_text(browser, "health-page-rate", lambda text: text not in ("", "—"))
    wait_for_text(browser, "health-lag-sink", "unknown")  # no sink has committed yet
    assert "Data health" in [a.text for a in browser.find_elements(By.CSS_SELECTOR, ".nav-link")]


def test_signing_out_ends_the_session_on_the_server_so_a_copied_cookie_is_worthless(
    app_server: flask.Flask,
) -> None:
    browser, thief = app_server.test_client(), app_server.test_client()
    assert sign_in(browser, "analyst", "dev-analyst").status_code == 302
    cookie = browser.get_cookie("channelhub_session")
    assert cookie is not None
    thief.set_cookie("channelhub_session", cookie.value)
    assert thief.get("/_dash-layout").status_code == 200
    assert browser.get("/_dash-layout").status_code == 200  # renders the sign-out form's token
    with browser.session_transaction() as session:
        token = session["csrf"]
    assert browser.post("/logout", data={"csrf": token}).status_code == 302
    assert browser.get("/_dash-layout").status_code == 401
    assert thief.get("/_dash-layout").status_code == 401  # the copy died with the session


def test_sign_in_is_throttled_per_user(app_server: flask.Flask) -> None:
    with app_server.test_client() as http:
        for _ in range(USER_LIMIT):
            assert sign_in(http, "marketing", "guess").status_code == 401
        refused = sign_in(http, "marketing", "dev-marketing")  # even the right password
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
        assert "Too many failed sign-ins" in refused.get_data(as_text=True)
        assert sign_in(http, "ops", "dev-ops").status_code == 302  # other users are not locked
