"""Who may see what: sign-in, the session, and the gate in front of every page and callback.

Users, their roles and salted password hashes come from a TOML file (``dashboard_users_file``,
by default the development users in ``dashboards/users.toml``). Signing in opens a session on
the server (:mod:`dashboards.access`) and puts its id, the user's name and roles in Flask's
session, a cookie signed with ``dashboard_secret_key``: HttpOnly, SameSite=Lax (Secure in
production), so another site can neither read it nor make the browser send it with a
cross-site POST. Signing out ends the server's session, so a copy of the cookie is worth
nothing afterwards; failed sign-ins are throttled per user and per address.

Every page declares its roles where it registers: ``dash.register_page(..., roles=("ops",))``,
and every callback the roles that may call it (:func:`dashboards.roles.callback`). The gate
(:func:`install`) then holds for every request, whatever sent it:

- signed out: a Dash request (``/_dash-*``: layout, dependencies, callbacks) gets 401 and no
  data; any other page is redirected to ``/login``. Only the login form, the static assets
  and Dash's JavaScript are served to anyone.
- signed in: a page outside the user's roles renders a "not for your role" message instead of
  its layout, and a callback request gets 403 before the callback runs unless the user has
  one of the roles the callback declares. A page or callback that declares no roles is
  refused to everyone (fail closed). Seeing a page and acting on it can be different rights:
  a callback that acts (triggering a campaign) declares only the roles that may act.

The login form carries a per-session token (the session itself is the store), so a forged
cross-site login is refused too.
"""

import hmac
import logging
import secrets
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import dash
import flask
from dash import html
from flask.typing import ResponseReturnValue
from werkzeug.security import check_password_hash, generate_password_hash

from dashboards.access import AccessStore
from dashboards.roles import ROLES, declared
from kernel.errors import ConfigError
from kernel.settings import Settings

log = logging.getLogger(__name__)

DEV_USERS_FILE = Path(__file__).parent / "users.toml"
#: The development users' passwords, published in the README: no user may have one of them
#: outside development, whatever file it comes from and however it was hashed.
DEV_PASSWORDS = (
    "dev-analyst", "dev-ops", "dev-marketing", "dev-reviewer", "dev-developer", "dev-content",
)  # fmt: skip
SESSION_HOURS = 12

#: Served to anyone: the login form, static files, and Dash's own JavaScript (no data).
_OPEN_PREFIXES = ("/login", "/assets/", "/_dash-component-suites/", "/_favicon.ico")
#: What werkzeug's ``generate_password_hash`` writes: salted scrypt (default) or PBKDF2.
_HASH_METHODS = ("scrypt:", "pbkdf2:")
_USER = "user"
_ROLES = "roles"
_SESSION = "session"
CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class User:
    name: str
    roles: frozenset[str]
    password_hash: str


def users_file(settings: Settings) -> Path:
    return settings.dashboard_users_file or DEV_USERS_FILE


def load_users(path: Path) -> dict[str, User]:
    """Users by name from ``path``; a file that does not make sense is a ConfigError."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read the dashboard users file {path}: {e}") from e
    entries = raw.get("users")
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f"{path}: expected [users.<name>] tables, found none")
    users = {}
    for name, entry in entries.items():
        roles = entry.get("roles") if isinstance(entry, dict) else None
        password_hash = entry.get("password_hash") if isinstance(entry, dict) else None
        if not isinstance(roles, list) or not roles or not set(roles) <= set(ROLES):
            raise ConfigError(
                f"{path}: user {name!r} has roles {roles!r}; expected a list of {list(ROLES)}"
            )
        if not isinstance(password_hash, str) or not password_hash.startswith(_HASH_METHODS):
            raise ConfigError(
                f"{path}: user {name!r} has no password_hash; make one with "
                "`python -m dashboards.auth` (it prompts for the password)"
            )
        users[name] = User(name=name, roles=frozenset(roles), password_hash=password_hash)
    return users


@cache
def _dummy_hash() -> str:
    """Checked when the name is unknown, so a wrong name costs as long as a wrong password."""
    return generate_password_hash(secrets.token_hex(16))


def refuse_development_users(users: Mapping[str, User]) -> None:
    """Raise ConfigError when any user signs in with a published development password."""
    for user in users.values():
        if any(check_password_hash(user.password_hash, known) for known in DEV_PASSWORDS):
            raise ConfigError(
                f"dashboard user {user.name!r} has a published development password; outside "
                "development set CHANNELHUB_DASHBOARD_USERS_FILE to users of your own, hashed "
                "with `python -m dashboards.auth`"
            )


def verify(users: Mapping[str, User], name: str, password: str) -> User | None:
    user = users.get(name)
    matches = check_password_hash(user.password_hash if user else _dummy_hash(), password)
    return user if user and matches else None


def _form_token_ok() -> bool:
    """The posted form token is this session's; a session without one never matches."""
    expected = flask.session.get(CSRF_FIELD)
    sent = flask.request.form.get(CSRF_FIELD, "")
    return isinstance(expected, str) and hmac.compare_digest(sent, expected)


def current_user() -> str | None:
    name = flask.session.get(_USER)
    return name if isinstance(name, str) else None


def current_roles() -> frozenset[str]:
    """The signed-in user's roles; empty when signed out (or outside a request)."""
    if not flask.has_request_context():
        return frozenset()
    return frozenset(flask.session.get(_ROLES) or ())


def page_roles(page: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(page.get("roles") or ())


def allowed_pages() -> list[dict[str, Any]]:
    """The registered pages the current user may open, in registration order (the nav)."""
    roles = current_roles()
    return [p for p in dash.page_registry.values() if page_roles(p) & roles]


def csrf_token() -> str:
    """This session's form token, made on first use."""
    token = flask.session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        flask.session[CSRF_FIELD] = token
    return token


def install(app: dash.Dash, settings: Settings) -> None:
    """Put sign-in, sign-out and the gate on ``app``; call after the pages are registered."""
    settings.check_dashboard_secrets()
    users = load_users(users_file(settings))
    if settings.environment != "development":
        refuse_development_users(users)
    access = AccessStore(
        settings.state_dir / "dashboard" / "access.sqlite3", session_s=SESSION_HOURS * 3600.0
    )
    server = app.server
    server.config.update(
        SECRET_KEY=settings.dashboard_secret_key.get_secret_value(),
        SESSION_COOKIE_NAME="channelhub_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.environment == "production",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
    )
    for page in dash.page_registry.values():
        if not page_roles(page):
            log.warning("page %s declares no roles: nobody can open it", page["module"])
        page["layout"] = _guarded_layout(page)

    @server.route("/login", methods=["GET", "POST"])
    def login() -> ResponseReturnValue:
        target = _safe_next(flask.request.values.get("next"))
        if flask.request.method == "GET":
            return _login_form(target, error="")
        if not _form_token_ok():
            return _login_form(target, error="The form expired; please sign in again."), 400
        name = flask.request.form.get("username", "")
        address = flask.request.remote_addr or "unknown"
        wait = access.wait_s(name, address)
        if wait > 0:
            log.warning("sign-in refused for %r from %s: too many failures", name, address)
            minutes = max(1, round(wait / 60))
            error = f"Too many failed sign-ins; try again in {minutes} min."
            return _login_form(target, error=error), 429, {"Retry-After": str(int(wait) + 1)}
        user = verify(users, name, flask.request.form.get("password", ""))
        if user is None:
            access.failed(name, address)
            return _login_form(target, error="Unknown user or wrong password."), 401
        access.succeeded(user.name)
        flask.session.clear()  # a new session on every sign-in: no fixation
        flask.session.permanent = True
        flask.session[_SESSION] = access.open(user.name)
        flask.session[_USER] = user.name
        flask.session[_ROLES] = sorted(user.roles)
        log.info("signed in: %s (%s)", user.name, ", ".join(sorted(user.roles)))
        return flask.redirect(target)

    @server.route("/logout", methods=["POST"])
    def logout() -> ResponseReturnValue:
        if _form_token_ok():  # else a cross-site form could sign people out
            session = flask.session.get(_SESSION)
            if isinstance(session, str):
                access.close(session)  # a copy of the cookie is worth nothing now
            flask.session.clear()
        return flask.redirect("/login")

    server.before_request(lambda: _gate(app, users, access))


def _gate(
    app: dash.Dash, users: Mapping[str, User], access: AccessStore
) -> ResponseReturnValue | None:
    """``None`` lets the request through; anything else is the answer instead."""
    path = flask.request.path
    if path.startswith(_OPEN_PREFIXES) or path == "/logout":
        return None
    _follow_the_server(users, access)
    if current_user() is None:
        if path.startswith("/_dash-"):
            return flask.jsonify(error="sign in first"), 401
        query = urlencode({"next": flask.request.full_path.rstrip("?")})
        return flask.redirect(f"/login?{query}")
    if path == "/_dash-update-component" and flask.request.method == "POST":
        body = flask.request.get_json(silent=True)
        output = body.get("output") if isinstance(body, dict) else None
        allowed = declared(app, output)
        if not allowed:
            return flask.jsonify(error="no role may call this callback"), 403
        if not allowed & current_roles():
            return flask.jsonify(error=f"only {_names(allowed)} may do this"), 403
    return None


def _follow_the_server(users: Mapping[str, User], access: AccessStore) -> None:
    """The cookie only names a session: one the server no longer has (signed out, expired)
    is signed out here too, and sessions follow the users file the app started with: a
    removed user is signed out and changed roles apply at once."""
    name = current_user()
    if name is None:
        return
    session = flask.session.get(_SESSION)
    if not isinstance(session, str) or access.user_of(session) != name:
        flask.session.clear()
        return
    user = users.get(name)
    if user is None:
        access.close_all(name)
        flask.session.clear()
    elif set(flask.session.get(_ROLES) or ()) != user.roles:
        flask.session[_ROLES] = sorted(user.roles)


def _guarded_layout(page: dict[str, Any]) -> Callable[..., Any]:
    layout = page["layout"]
    roles = page_roles(page)

    def guarded(**kwargs: Any) -> Any:
        if roles & current_roles():
            return layout(**kwargs) if callable(layout) else layout
        return html.Div(
            className="status error",
            id="access-denied",
            children=(
                f"403 · {page['name']} is for {_names(roles)}; you are signed in as "
                f"{current_user()} ({_names(current_roles())})."
            ),
        )

    return guarded


def _names(roles: Iterable[str]) -> str:
    return ", ".join(sorted(roles)) or "nobody"


def _safe_next(target: str | None) -> str:
    """Only a path on this site: ``//evil.example`` or ``https://…`` would be an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_form(target: str, *, error: str) -> str:
    message = f'<p class="status error" id="login-error">{escape(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · channelhub</title>
<link rel="stylesheet" href="/assets/style.css"></head>
<body><main class="login">
<h1>channelhub</h1>
{message}
<form method="post" action="/login">
<input type="hidden" name="{CSRF_FIELD}" value="{escape(csrf_token())}">
<input type="hidden" name="next" value="{escape(target)}">
<label>User <input id="login-username" name="username" autocomplete="username" required></label>
<label>Password <input id="login-password" name="password" type="password"
 autocomplete="current-password" required></label>
<button id="login-submit" type="submit">Sign in</button>
</form></main></body></html>"""


def main() -> None:
    """``python -m dashboards.auth``: print a password hash for a users file."""
    import getpass

    print(generate_password_hash(getpass.getpass("password: ")))


if __name__ == "__main__":
    main()
