"""channelhub: every interaction on the operator's self-service channels as an event.

The package holds the CLI, the local service manager (``channelhub.platform``), the traffic
simulator, the ingestion front doors and recovery. What every process shares (settings,
errors, logging, Kafka client settings, the pseudonymizer) is the ``kernel``; the data model
lives in ``schemas``, the stream processors in ``streams``, the ClickHouse projections in
``sinks`` and the Dash app in ``dashboards``.
"""

__version__ = "0.1.0"
