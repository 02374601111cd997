"""Recovery after a fix: redrive dead letters (:mod:`.dlq`), rebuild the tables (:mod:`.rebuild`).

Both work from the topics, which are the record of what happened; ClickHouse only holds
projections of them (and, for dead letters, payloads with the numbers masked).
"""
