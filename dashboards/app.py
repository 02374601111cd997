"""The Dash shell: header with the product name and one link per page, then the page.

Pages live in ``dashboards/pages/`` (one module per page, each calling ``register_page``) and
are imported by Dash when the app is built, not when this module is imported. Nothing here
touches ClickHouse: pages load their data in callbacks, through
:func:`dashboards.db.request_settings`, which reads the settings stored on the Flask app.
"""

from pathlib import Path

import dash
from dash import html

from channelhub.settings import Settings
from dashboards.db import SETTINGS_KEY

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
    )
    app.server.config[SETTINGS_KEY] = settings
    app.layout = html.Div(
        className="shell",
        children=[_header(), html.Main(dash.page_container, className="page")],
    )
    return app


def _header() -> html.Header:
    links = [
        dash.dcc.Link(page["name"], href=page["relative_path"], className="nav-link")
        for page in dash.page_registry.values()
    ]
    return html.Header(
        className="header",
        children=[
            html.Div(
                [html.Span(PRODUCT, className="product"), html.Span(TAGLINE, className="tagline")],
                className="brand",
            ),
            html.Nav(links, className="nav"),
        ],
    )
