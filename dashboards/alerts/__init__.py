"""Queue alerts: rules from a TOML file, a pure evaluator, and the process that records them.

- :mod:`~dashboards.alerts.rules`: the rule model and the file (``config/queue.toml``).
- :mod:`~dashboards.alerts.evaluate`: readings in, open alerts and transitions out.
- :mod:`~dashboards.alerts.measure`: each rule's reading from ClickHouse.
- :mod:`~dashboards.alerts.record`: transitions to the alerts topic, then the webhook.
- :mod:`~dashboards.alerts.service`: the loop of ``python -m dashboards.alerts``.
"""
