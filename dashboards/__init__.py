"""The Dash app: pages for analysts, ops and marketing over the ClickHouse projections.

``python -m dashboards`` serves it; :func:`dashboards.app.create_app` builds it from settings.
This package root stays empty on purpose so ``python -m dashboards.screenshot`` does not pay
for importing Dash.
"""
