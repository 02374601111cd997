"""Nudges and campaigns: rule and campaign definitions, guardrails, dispatch, attribution.

Empty until the cross-channel nudge rules land; the stream worker (``streams``) will evaluate
the rules defined here against the canonical topic.
"""
