"""The errors of campaigns: a bad campaign file or spec, an audience filter, an unknown id.

ConfigError (kernel.errors)
├── CampaignConfigError     a campaign's file or spec: names the file, campaign and field
├── AudienceError           an audience filter value outside its vocabulary
└── UnknownCampaignError    an id no campaign was created with
"""

from kernel.errors import ConfigError

#: Stands for the campaign id when a file is too broken to say which campaign it holds.
UNKNOWN_CAMPAIGN = "<no id>"


class CampaignConfigError(ConfigError):
    """A campaign is invalid: ``file``, ``campaign`` and ``field`` say where, ``problem`` what.

    ``field`` is a path into the file, e.g. ``campaign.audience.prefectures[1]``; it is
    ``<file>`` for a file that is not valid TOML at all.
    """

    def __init__(self, file: str, campaign: str, field: str, problem: str) -> None:
        super().__init__(f"{file}: campaign {campaign!r}, field {field}: {problem}")
        self.file = file
        self.campaign = campaign
        self.field = field
        self.problem = problem


class AudienceError(ConfigError):
    """An audience filter names something that does not exist; ``field`` is its path below
    ``audience``, e.g. ``prefectures[1]``."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"audience.{field}: {problem}")
        self.field = field
        self.problem = problem


class UnknownCampaignError(ConfigError):
    """No campaign with this id has been created (or the sink has not written it yet)."""

    def __init__(self, campaign_id: str) -> None:
        super().__init__(
            f"no campaign {campaign_id!r} has been created; `channelhub campaign list` shows "
            "the campaigns, `channelhub campaign create FILE` creates one"
        )
        self.campaign_id = campaign_id
