"""Published content: every version of every text and its reviews, in topic order; and the
template version each nudge request was rendered from."""

from sinks.migrations.statements import creates
from sinks.tables import nudge_requests

OPERATIONS: tuple[str, ...] = (*creates("content_events"), nudge_requests.ADD_TEMPLATE_VERSION)
