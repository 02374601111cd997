"""Tests of orchestration/: nudges, guardrails, dispatch."""
