"""Realistic traffic for the province's self-service channels, deterministic from a seed.

A subscriber population (:mod:`.population`) uses the channels along a daily load curve with
busy periods at the start and end of the month (:mod:`.load`): calls through the real IVR menu
with an agent queue behind it whose waits and abandonment come out of a queueing model
(:mod:`.ivr`, :mod:`.queue`), SMS hall dialogues (:mod:`.sms`), web and WAP visits
(:mod:`.web`), kiosk sessions and faults (:mod:`.kiosk`), and optionally malformed events
(:mod:`.malformed`). :mod:`.engine` merges them into one time-ordered stream of encoded
events; :mod:`.run` is the ``channelhub simulate`` command that paces and produces them.
:mod:`.handsets` closes the loop: the subscribers answer the nudges they are sent, with a known
probability, so conversion tracking can be checked against it.
"""
