"""MSISDNs never reach ClickHouse in clear: they become keyed pseudonyms that name their key.

A pseudonym is ``k<id>.<32 hex>``: the id of the key it was made under, then 128 bits of
HMAC-SHA256. The same number always maps to the same pseudonym under one key, so analysts can
still count distinct subscribers and follow journeys, while nobody without the key can reverse
it. A per-process cache keeps the cost negligible: the population repeats.

Keys rotate by chaining. The first key makes ``k1.<HMAC(key 1, msisdn)>``; each later key ``n``
makes ``k<n>.<HMAC(key n, previous pseudonym)>``. So a stored pseudonym can be carried to the
active key from the pseudonym alone (:meth:`Pseudonymizer.current`), without the number, which
is what lets ``channelhub pseudonyms rotate`` (:mod:`sinks.rekey`) re-key all of ClickHouse
while it holds no MSISDN at all. Whoever learns a retired key can no longer link a number to
the stored data: that takes the active key too. Retired keys stay in the ring, because a new
subscriber's pseudonym is still computed through them.
"""

import hashlib
import hmac
from collections.abc import Callable, Mapping
from functools import partial

from kernel.scrub import PSEUDONYM, scrub
from kernel.settings import Settings

__all__ = ["PSEUDONYM", "Pseudonymizer"]


class Pseudonymizer:
    """Pseudonyms under the active key of a key ring, and the way older ones become current.

    ``key`` is the active key with id ``key_id``; ``retired`` the keys before it by id, all
    lower. An empty ``retired`` is a ring of one key.
    """

    def __init__(
        self,
        key: bytes,
        *,
        key_id: int = 1,
        retired: Mapping[int, bytes] | None = None,
        cache_size: int = 1_000_000,
    ) -> None:
        ring = dict(retired or {})
        if any(i >= key_id for i in ring):
            raise ValueError(f"retired key ids {sorted(ring)} must all be below {key_id}")
        ring[key_id] = key
        #: (id, HMAC) in chain order, oldest first.
        self._chain = [(i, hmac.new(ring[i], digestmod=hashlib.sha256)) for i in sorted(ring)]
        self.key_id = key_id
        self._cache: dict[str, str] = {}
        self._cache_size = cache_size
        #: ``text`` with every subscriber number, however written, replaced by
        #: ``msisdn:<pseudonym>`` (:mod:`kernel.scrub`); a partial, since the sink calls it
        #: for every string of every row.
        self.scrub: Callable[[str], str] = partial(scrub, pseudonymize=self)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Pseudonymizer":
        """The ring of ``CHANNELHUB_PSEUDONYM_KEY`` (id ``CHANNELHUB_PSEUDONYM_KEY_ID``) and
        ``CHANNELHUB_PSEUDONYM_RETIRED_KEYS``."""
        return cls(
            settings.pseudonym_key.get_secret_value().encode(),
            key_id=settings.pseudonym_key_id,
            retired={
                i: k.get_secret_value().encode() for i, k in settings.pseudonym_retired_keys.items()
            },
        )

    def __call__(self, msisdn: str) -> str:
        """The number's pseudonym under the active key."""
        cached = self._cache.get(msisdn)
        if cached is None:
            cached = self._carry(msisdn, 0)
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[msisdn] = cached
        return cached

    def current(self, pseudonym: str) -> str | None:
        """``pseudonym``, made under any key of the ring, as the active key makes it; None
        when it is not a pseudonym or its key is not in the ring."""
        if PSEUDONYM.fullmatch(pseudonym) is None:
            return None
        key_id = int(pseudonym[1 : pseudonym.index(".")])
        ids = [i for i, _ in self._chain]
        if key_id not in ids:
            return None
        return self._carry(pseudonym, ids.index(key_id) + 1)

    def retired_ids(self) -> list[int]:
        """The ids of the ring's keys before the active one, oldest first."""
        return [i for i, _ in self._chain[:-1]]

    def _carry(self, value: str, start: int) -> str:
        """``value`` through the chain from link ``start`` on: a number from the first link,
        a pseudonym from the link after its own key's."""
        for key_id, mac in self._chain[start:]:
            step = mac.copy()
            step.update(value.encode())
            value = f"k{key_id}.{step.hexdigest()[:32]}"
        return value
