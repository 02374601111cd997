"""channelhub: every interaction on the operator's self-service channels as an event.

The package holds what is shared by every process (settings, errors, logging), the CLI, the
local service manager (``channelhub.platform``), the traffic simulator and the ingestion
front doors. The data model lives in ``schemas``, the stream processors in ``streams``, the
ClickHouse projections in ``sinks`` and the Dash app in ``dashboards``.
"""

__version__ = "0.1.0"
