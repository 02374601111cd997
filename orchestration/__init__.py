"""Nudges and campaigns: rule and campaign definitions, guardrails, dispatch, attribution.

Pure core, no Kafka or faust: :mod:`orchestration.journey` folds events into a per-subscriber
journey, :mod:`orchestration.rules` loads the versioned rule files and evaluates them into
nudge requests, :mod:`orchestration.templates` checks and renders the SMS text. The stream
worker (``streams``) wires them to the canonical topic and its tables.
"""
