"""Event ids and timestamps derived from simulated time, so a seed reproduces a stream exactly.

``uuid.uuid7()`` reads the wall clock and the OS random source; here the 48-bit millisecond
field is the simulated time and the 74 random bits come from a seeded generator, which keeps
the UUIDv7 layout (time-ordered, version 7, RFC 4122 variant) and makes ids reproducible.
"""

import random

from kernel.clock import from_ms

_RAND_B = (1 << 62) - 1


class EventIds:
    """UUIDv7-shaped ids: simulated milliseconds, then seeded random bits."""

    def __init__(self, rng: random.Random) -> None:
        self._bits = rng.getrandbits

    def new(self, t_ms: int) -> str:
        r = self._bits(74)
        n = (t_ms << 80) | (7 << 76) | ((r >> 62) << 64) | (2 << 62) | (r & _RAND_B)
        h = f"{n:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def iso(t_ms: int) -> str:
    """RFC 3339 with milliseconds and ``Z``: how the summary and progress lines show times."""
    return from_ms(t_ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")
