"""The faust-streaming worker: raw channel events in, canonical events and dead letters out.

``streams.routing`` holds the pure decision (no faust, no Kafka), ``streams.app`` the faust
wiring. Run with ``python -m streams``.
"""
