"""The Dash shell: header with the product name, the user's pages and sign-out; the data
health line; then the page.

Pages live in ``dashboards/pages/`` (one module per page, each calling ``register_page`` with
the ``roles`` that may open it) and are imported by Dash when the app is built, not when this
module is imported. :func:`dashboards.auth.install` then puts sign-in and the access gate in
front of all of it. Nothing here touches ClickHouse: pages load their data in callbacks,
through :func:`dashboards.db.request_settings`, which reads the settings stored on the Flask
app.
"""

from pathlib import Path

import dash
from dash import html

from dashboards import auth
from dashboards import health as data_health
from dashboards.db import SETTINGS_KEY
from kernel.settings import Settings

PRODUCT = "channelhub"
TAGLINE = "Self-service channels · Hunan"
_PACKAGE = Path(__file__).parent


def create_app(settings: Settings) -> dash.Dash:
    """A ready-to-serve app for ``settings``; ``app.server`` is the Flask WSGI app."""
    app = dash.Dash(
        "dashboards",
        use_pages=True,
        pages_folder=str(_PACKAGE / "pages"),
        assets_folder=str(_PACKAGE / "assets"),
        title=PRODUCT,
        update_title="",  # no "Updating..." flicker in the tab title every refresh
        # What a page shows depends on who asks, so there is no single layout that Dash
        # could validate every callback against.
        suppress_callback_exceptions=True,
    )
    app.server.config[SETTINGS_KEY] = settings
    auth.install(app, settings)

    def shell() -> html.Div:
        """Built per request: the nav lists only the pages the signed-in user may open."""
        return html.Div(
            className="shell",
            children=[
                _header(),
                data_health.shell_line(settings.dashboard_refresh_seconds),
                html.Main(dash.page_container, className="page"),
            ],
        )

    app.layout = shell
    data_health.add_line_callback(app)
    return app


def _header() -> html.Header:
    links = [
        dash.dcc.Link(page["name"], href=page["relative_path"], className="nav-link")
        for page in auth.allowed_pages()
    ]
    return html.Header(
        className="header",
        children=[
            html.Div(
                [html.Span(PRODUCT, className="product"), html.Span(TAGLINE, className="tagline")],
                className="brand",
            ),
            html.Nav(links, className="nav"),
            _account(),
        ],
    )


def _account() -> html.Form | html.Span:
    user = auth.current_user()
    if user is None:
        return html.Span()
    return html.Form(
        className="account",
        method="post",
        action="/logout",
        children=[
            html.Span(f"{user} ({', '.join(sorted(auth.current_roles()))})", id="account-user"),
            dash.dcc.Input(type="hidden", name=auth.CSRF_FIELD, value=auth.csrf_token()),
            html.Button("Sign out", type="submit", id="account-logout", className="link"),
        ],
    )
