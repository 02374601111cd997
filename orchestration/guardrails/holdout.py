"""The randomised control group of a rule: who would have been nudged but is not.

Membership is a pure function of rule id and MSISDN, so it survives restarts, replays and
scaling out without any stored assignment, and it is independent between rules (each rule
hashes with its own id). Raising a rule's share only adds members; nobody already held out is
suddenly sent the nudge, which keeps an experiment's control group clean.
"""

import hashlib

_SCALE = float(2**64)


def holdout_score(rule_id: str, msisdn: str) -> float:
    """A uniform, deterministic number in [0, 1) for this subscriber under this rule."""
    digest = hashlib.sha256(f"{rule_id}\x1f{msisdn}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def in_holdout(rule_id: str, msisdn: str, share: float) -> bool:
    """Whether the subscriber is in the rule's holdout group of size ``share``."""
    return holdout_score(rule_id, msisdn) < share
