"""What a web, WAP or kiosk hall offers now: today's static functions, or the live catalogue's.

Customers look for the functions they know from today's catalogue
(:mod:`channelhub.simulator.catalog`), retired or not, and now and then for one opened since
(:data:`NEW_FUNCTION_WEIGHT`, as the SMS hall's :data:`~channelhub.simulator.sms.NEW_CODE_WEIGHT`).
What a hall does with a function it no longer offers is the hall's own business
(:mod:`channelhub.simulator.web`, :mod:`channelhub.simulator.kiosk`); this module only says
which functions are open and which are new.
"""

import random
from collections.abc import Mapping
from typing import NamedTuple

from orchestration.catalogue import Catalogue
from schemas.catalogue import CatalogueChannel

#: How often customers look for a function opened after today's catalogue, against the
#: static functions' weights (which sum to 85-95 in each hall).
NEW_FUNCTION_WEIGHT = 2.0


class Functions(NamedTuple):
    """The functions a hall has open (``None``: every static one, the catalogue unseeded) and
    those open that today's static list does not have."""

    open: frozenset[str] | None
    opened: tuple[str, ...]

    @classmethod
    def of(
        cls, catalogue: Catalogue, channel: CatalogueChannel, static: Mapping[str, float]
    ) -> "Functions":
        """What ``catalogue`` holds open on ``channel``; until it is seeded every static
        function stays open (the seed writes exactly those), and what a workflow opened is
        open either way."""
        offered = catalogue.channel(channel)
        opened = tuple(f for f in offered if f not in static)
        return cls(frozenset(offered) if catalogue.seeded else None, opened)

    def is_open(self, function: str) -> bool:
        return self.open is None or function in self.open

    def pick(self, rng: random.Random, static: list[str], weights: list[float]) -> str:
        """The function a customer looks for: one they know, or now and then a new one. One
        draw of ``rng`` either way, so a hall with nothing new draws as it always did."""
        if not self.opened:
            return rng.choices(static, weights)[0]
        everything = [*static, *self.opened]
        return rng.choices(everything, [*weights, *(NEW_FUNCTION_WEIGHT for _ in self.opened)])[0]


#: Today's static functions, all open: what a hall offers until a run follows the catalogue.
STATIC = Functions(None, ())
