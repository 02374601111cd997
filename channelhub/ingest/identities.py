"""Who is sending: one bearer token per channel system, its channels and its rate.

Each channel system (the IVR platform, the SMS hall, the web and WAP halls, the kiosk
fleet) gets its own token (``CHANNELHUB_COLLECTOR_CLIENTS``), which may send events of its own
channels only and at most ``per_second`` events a second on average (bursts of ``burst``). A
leaked token can then neither pose as another channel nor flood the raw topic. Without
clients configured, ``collector_token`` is the one client, ``default``, for every channel.

The checks are pure: :func:`identify` finds the client of a header in constant time per
client, and :class:`Allowance` is a token bucket on a clock passed in.
"""

import hmac
import math
from dataclasses import dataclass

from kernel.errors import ConfigError
from kernel.settings import Settings
from schemas.envelope import CHANNELS


@dataclass(frozen=True)
class Client:
    name: str
    token: bytes
    channels: frozenset[str]
    per_second: float
    burst: int


def clients(settings: Settings) -> list[Client]:
    """The configured clients, or the single ``default`` one of ``collector_token``."""
    if not settings.collector_clients:
        if not settings.collector_token.get_secret_value():
            raise ConfigError("collector_token is empty; set CHANNELHUB_COLLECTOR_TOKEN")
        return [
            Client(
                name="default",
                token=settings.collector_token.get_secret_value().encode(),
                channels=frozenset(CHANNELS),
                per_second=settings.collector_default_per_second,
                burst=settings.collector_default_burst,
            )
        ]
    known = [
        Client(
            name=name,
            token=c.token.get_secret_value().encode(),
            channels=frozenset(c.channels),
            per_second=c.per_second,
            burst=c.burst,
        )
        for name, c in settings.collector_clients.items()
    ]
    for client in known:
        unknown = client.channels - set(CHANNELS)
        if unknown:
            raise ConfigError(
                f"collector client {client.name!r} names unknown channels {sorted(unknown)}; "
                f"the channels are {list(CHANNELS)}"
            )
        if not client.token:
            raise ConfigError(f"collector client {client.name!r} has an empty token")
    if len({c.token for c in known}) < len(known):
        raise ConfigError("two collector clients share a token; give each its own")
    return known


def identify(header: str | None, known: list[Client]) -> Client | None:
    """The client whose token the ``Authorization: Bearer`` header carries, compared in
    constant time with every client's token, so timing tells nothing about any of them."""
    scheme, _, presented = (header or "").partition(" ")
    given = presented.strip().encode("utf-8", "replace")
    found = None
    for client in known:
        if hmac.compare_digest(given, client.token) and client.token:
            found = client
    return found if scheme.lower() == "bearer" else None


class Allowance:
    """A client's rate as a token bucket: ``burst`` events at most, refilled at
    ``per_second``. A batch takes as many tokens as it has items, all or none."""

    def __init__(self, client: Client, now: float) -> None:
        self.client = client
        self.tokens = float(client.burst)
        self.updated = now

    def take(self, count: int, now: float) -> float:
        """0 when ``count`` events may go now (and takes them), else the seconds until they
        may; a batch larger than the burst can never go and says so with ``math.inf``."""
        if count > self.client.burst:
            return math.inf
        self.tokens = min(
            float(self.client.burst),
            self.tokens + max(0.0, now - self.updated) * self.client.per_second,
        )
        self.updated = max(now, self.updated)
        if self.tokens >= count:
            self.tokens -= count
            return 0.0
        return (count - self.tokens) / self.client.per_second
