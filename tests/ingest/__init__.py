"""Tests of channelhub.ingest: the HTTP collector and the producer."""
