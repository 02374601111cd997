"""The typed filters of the volume page, and the only way page controls become query input.

Controls hand over raw strings; :func:`from_controls` turns them into a :class:`VolumeFilter`
or raises :class:`FilterError` with a message fit to show on the page. Channels, prefectures
and brands must come from the closed vocabularies of :mod:`schemas.envelope`, and the time
range must be whole minutes (the grain of ``events_per_minute``) within sane bounds, so a bad
value is refused here and nothing is executed. Even accepted values reach SQL only as
parameters (see :mod:`dashboards.queries.volume`).
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal, Self
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import ErrorDetails

from kernel.errors import ChannelhubError
from schemas.envelope import Brand, Channel, Prefecture

#: The province's clock; ClickHouse stores UTC and the page shows this.
SHANGHAI = ZoneInfo("Asia/Shanghai")

Preset = Literal["1h", "6h", "24h", "7d", "custom"]
PRESETS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
DEFAULT_PRESET: Preset = "24h"

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_SPAN = timedelta(days=92)
MINUTE = timedelta(minutes=1)

#: Chart bucket sizes in seconds; each divides a day, so buckets align to Shanghai midnight.
BUCKETS_S: tuple[int, ...] = (60, 300, 900, 1800, 3600, 10_800, 21_600, 43_200, 86_400)
#: Most points one channel's line may have: enough detail, still light to draw live.
MAX_POINTS = 400

_TIME_FORMAT_HINT = "a time like 2026-05-01 08:00 (Asia/Shanghai)"
_MAX_TEXT = 40
_SINGULAR = {"channels": "channel", "prefectures": "prefecture", "brands": "brand"}


class FilterError(ChannelhubError):
    """A filter value from the page is not acceptable; the message is shown to the user."""


class VolumeFilter(BaseModel):
    """What the volume page asks ClickHouse for: an empty selection means "all"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: tuple[Channel, ...] = ()
    prefectures: tuple[Prefecture, ...] = ()
    brands: tuple[Brand, ...] = ()
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _sane_range(self) -> Self:
        for name, moment in (("start", self.start), ("end", self.end)):
            if moment.second or moment.microsecond:
                raise ValueError(f"{name} must be a whole minute, got {_shanghai(moment)}")
            if not EARLIEST <= moment <= LATEST:
                raise ValueError(
                    f"{name} {_shanghai(moment)} is outside {EARLIEST.year}-{LATEST.year}"
                )
        if self.end <= self.start:
            raise ValueError(
                f"end {_shanghai(self.end)} must be after start {_shanghai(self.start)}"
            )
        if self.end - self.start > MAX_SPAN:
            raise ValueError(f"the range may span at most {MAX_SPAN.days} days")
        return self

    @property
    def bucket_seconds(self) -> int:
        """The smallest bucket that keeps each chart line within :data:`MAX_POINTS` points."""
        span = (self.end - self.start).total_seconds()
        return next(b for b in BUCKETS_S if span / b <= MAX_POINTS)


def from_controls(
    *,
    channels: Sequence[str] | str | None,
    prefectures: Sequence[str] | str | None,
    brands: Sequence[str] | str | None,
    preset: str | None,
    start_text: str | None,
    end_text: str | None,
    now: datetime,
) -> VolumeFilter:
    """The filter the page's controls describe at ``now``, or :class:`FilterError`."""
    if preset in PRESETS:
        start, end = preset_range(preset, now)
    elif preset == "custom":
        start = _parse_time("start", start_text)
        end = _parse_time("end", end_text)
    else:
        raise FilterError(
            f"time range {_shown(preset)} is not one of {', '.join([*PRESETS, 'custom'])}"
        )
    try:
        return VolumeFilter(
            channels=_as_tuple(channels),
            prefectures=_as_tuple(prefectures),
            brands=_as_tuple(brands),
            start=start,
            end=end,
        )
    except ValidationError as e:
        raise FilterError("; ".join(_describe(error) for error in e.errors())) from e


def preset_range(preset: str, now: datetime) -> tuple[datetime, datetime]:
    """The range of a preset at ``now``: it ends with the minute still filling (live data)."""
    end = _floor_minute(now) + MINUTE
    return end - PRESETS[preset], end


def _as_tuple(values: Sequence[str] | str | None) -> tuple[str, ...]:
    """Dropdown values as a de-duplicated tuple; ``None`` (cleared) means all."""
    if values is None:
        return ()
    if isinstance(values, str):
        return (values,)
    return tuple(dict.fromkeys(values))


def _parse_time(name: str, text: str | None) -> datetime:
    """``YYYY-MM-DD HH:MM`` in Shanghai time (an explicit offset is honoured) → aware UTC."""
    if not text or not text.strip():
        raise FilterError(f"custom range: enter the {name} time, {_TIME_FORMAT_HINT}")
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise FilterError(
            f"custom range: {name} {_shown(text)} is not {_TIME_FORMAT_HINT}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    moment = moment.astimezone(UTC)
    return _floor_minute(moment) if name == "start" else _ceil_minute(moment)


def _floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _ceil_minute(moment: datetime) -> datetime:
    floored = _floor_minute(moment)
    return floored if floored == moment else floored + MINUTE


def _shanghai(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _shown(value: object) -> str:
    """A user value quoted for a message, cut short so a pasted essay stays one line."""
    text = repr(value)
    return text if len(text) <= _MAX_TEXT else f"{text[: _MAX_TEXT - 1]}…"


def _describe(error: ErrorDetails) -> str:
    """One pydantic error as ``field: what was wrong``, naming the value for vocabulary misses."""
    field = next((str(part) for part in error["loc"] if isinstance(part, str)), "")
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "literal_error":
        noun = _SINGULAR.get(field, field)
        return f"unknown {noun} {_shown(error['input'])}: {message.lower()}"
    return f"{field}: {message}" if field else message
