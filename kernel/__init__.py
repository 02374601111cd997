"""The kernel every package stands on: settings, errors, logging, the Kafka clients' settings
and the MSISDN pseudonymizer. It imports nothing of the project, so any layer may import it.
"""
