"""Reading campaign files (one campaign per TOML file) and checking a campaign spec.

TOML for the reasons rule files use it: marketing writes and reviews these files, comments
explain the targeting, and ``tomllib`` reads them. Every check that can fail is made here,
before a campaign is created, so a campaign on the topic is always one the fan-out can run.
"""

from pathlib import Path

from orchestration.campaigns import audience
from orchestration.campaigns.errors import (
    UNKNOWN_CAMPAIGN,
    AudienceError,
    CampaignConfigError,
)
from orchestration.config_files import load_versioned
from orchestration.rules.guidance import WAYS
from orchestration.templates import TemplateError, compile_template
from schemas.campaign_spec import (
    FORMAT_VERSION,
    TEMPLATE_FIELDS,
    CampaignFile,
    CampaignSpec,
)
from schemas.goals import UsesSelfService

#: Marketing SMS must tell the customer how to stop them; the nudge stage understands TD.
OPT_OUT_HINT = "退订"


def load_campaign_file(path: Path) -> CampaignSpec:
    """Read and check one campaign file; raises :class:`CampaignConfigError`."""
    file = str(path)
    spec = load_versioned(
        path, table="campaign", schema=CampaignFile, version=FORMAT_VERSION,
        unknown=UNKNOWN_CAMPAIGN, error=CampaignConfigError,
    ).campaign  # fmt: skip
    check_spec(spec, file)
    return spec


def check_spec(spec: CampaignSpec, source: str) -> None:
    """The checks decoding cannot make: template, goal and audience against their
    vocabularies. ``source`` names where the spec came from in the error."""

    def fail(field: str, problem: str) -> CampaignConfigError:
        return CampaignConfigError(source, spec.id, f"campaign.{field}", problem)

    try:
        compile_template(spec.template, TEMPLATE_FIELDS)
    except TemplateError as e:
        raise fail("template", e.problem) from e
    if OPT_OUT_HINT not in spec.template:
        raise fail(
            "template",
            f"a marketing SMS must say how to opt out; end it with e.g. '回复TD{OPT_OUT_HINT}'",
        )
    goal = spec.goal
    if isinstance(goal, UsesSelfService):
        if goal.function == "suggested":
            raise fail(
                "goal.function",
                "a campaign suggests no item of its own; name the function it promotes, "
                "e.g. 'query.realtime_charges'",
            )
        if goal.function not in WAYS or not WAYS[goal.function].exists:
            usable = sorted(item for item, way in WAYS.items() if way.exists)
            raise fail(
                "goal.function",
                f"{goal.function!r} is not an item with a self-service way; one of: "
                f"{', '.join(usable)}",
            )
    try:
        audience.check(spec.audience)
    except AudienceError as e:
        raise fail(f"audience.{e.field}", e.problem) from e
