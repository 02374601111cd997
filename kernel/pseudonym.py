"""MSISDNs never reach ClickHouse in clear: they become keyed pseudonyms (HMAC-SHA256).

The same number always maps to the same pseudonym under one key, so analysts can still count
distinct subscribers and follow journeys, while nobody without the key can reverse it. A
per-process cache keeps the cost negligible: the population repeats.
"""

import hashlib
import hmac

from kernel.scrub import scrub


class Pseudonymizer:
    def __init__(self, key: bytes, *, cache_size: int = 1_000_000) -> None:
        self._mac = hmac.new(key, digestmod=hashlib.sha256)
        self._cache: dict[str, str] = {}
        self._cache_size = cache_size

    def __call__(self, msisdn: str) -> str:
        """32 hex characters (128 bits) of HMAC-SHA256 over the number."""
        cached = self._cache.get(msisdn)
        if cached is None:
            mac = self._mac.copy()
            mac.update(msisdn.encode())
            cached = mac.hexdigest()[:32]
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[msisdn] = cached
        return cached

    def scrub(self, text: str) -> str:
        """``text`` with every subscriber number, however written, replaced by
        ``msisdn:<pseudonym>`` (:mod:`kernel.scrub`)."""
        return scrub(text, self)
