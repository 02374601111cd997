"""Simulated handsets: the subscribers who answer the nudges they are sent.

:mod:`.answers` is the pure part (a dispatch in, the answering events out, a function of the
seed and the nudge id); :mod:`.service` is the process that reads ``nudges.dispatches`` and
produces the answers when their time comes (``python -m channelhub.simulator.handsets``).
"""
