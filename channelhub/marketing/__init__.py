"""Marketing's reads and writes: campaigns created and triggered as events on
``campaigns.events`` (:mod:`.store`), audiences selected in ClickHouse (:mod:`.audience`),
the measured uplift of every rule and campaign (:mod:`.uplift`).

The decisions behind them are the pure core's (:mod:`orchestration.campaigns`); these modules
do the I/O, for the CLI, the dashboard and the fan-out stage alike.
"""
