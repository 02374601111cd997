"""``channelhub.nudge_uplift``: per rule and campaign, conversion of sent versus holdout, and
the uplift with its 95% confidence interval, as a view anyone can query.

Exposures are the ``approved`` (sent) and ``holdout`` decisions of ``nudge_decisions``, one per
nudge; a nudge converted if ``nudge_conversions`` has it. The interval is Newcombe's hybrid
score interval for a difference of two proportions (method 10 of Newcombe, 1998): built
from each group's Wilson interval, it stays inside [-1, 1] and behaves with the small groups
and zero conversions a young campaign has, where the textbook Wald interval collapses to a
point. Rows with an empty group have NaN bounds: no comparison is possible yet.
"""

from sinks.tables import View

NAME = "nudge_uplift"

#: z for a two-sided 95% interval, and its square (18.16 has no ``^`` operator).
Z = 1.959963984540054
Z2 = Z * Z

CREATE_NUDGE_UPLIFT = f"""
CREATE VIEW IF NOT EXISTS {{db}}.{NAME} AS
SELECT
    rule_id, n_sent, conv_sent, n_holdout, conv_holdout, rate_sent, rate_holdout,
    rate_sent - rate_holdout AS uplift,
    uplift - sqrt(pow(rate_sent - low_sent, 2) + pow(high_holdout - rate_holdout, 2))
        AS ci_low,
    uplift + sqrt(pow(high_sent - rate_sent, 2) + pow(rate_holdout - low_holdout, 2))
        AS ci_high
FROM (
    SELECT
        rule_id, n_sent, conv_sent, n_holdout, conv_holdout,
        conv_sent / n_sent AS rate_sent,
        conv_holdout / n_holdout AS rate_holdout,
        (rate_sent + {Z2} / (2 * n_sent)) / (1 + {Z2} / n_sent) AS mid_sent,
        {Z} * sqrt(rate_sent * (1 - rate_sent) / n_sent + {Z2} / (4 * n_sent * n_sent))
            / (1 + {Z2} / n_sent) AS half_sent,
        (rate_holdout + {Z2} / (2 * n_holdout)) / (1 + {Z2} / n_holdout) AS mid_holdout,
        {Z} * sqrt(
            rate_holdout * (1 - rate_holdout) / n_holdout + {Z2} / (4 * n_holdout * n_holdout)
        ) / (1 + {Z2} / n_holdout) AS half_holdout,
        mid_sent - half_sent AS low_sent,
        mid_sent + half_sent AS high_sent,
        mid_holdout - half_holdout AS low_holdout,
        mid_holdout + half_holdout AS high_holdout
    FROM (
        SELECT
            rule AS rule_id,
            countIf(arm = 'approved') AS n_sent,
            countIf(arm = 'approved' AND converted = 1) AS conv_sent,
            countIf(arm = 'holdout') AS n_holdout,
            countIf(arm = 'holdout' AND converted = 1) AS conv_holdout
        FROM (
            -- aliases must differ from the columns: 18.16 would substitute them in WHERE
            SELECT nudge_id, any(rule_id) AS rule, any(outcome) AS arm
            FROM {{db}}.nudge_decisions
            WHERE outcome IN ('approved', 'holdout')
            GROUP BY nudge_id
        ) AS decided
        ANY LEFT JOIN (
            SELECT nudge_id, toUInt8(1) AS converted
            FROM {{db}}.nudge_conversions
            GROUP BY nudge_id
        ) AS conversions USING nudge_id
        GROUP BY rule
    )
)
"""


VIEW = View(name=NAME, create_statements=(CREATE_NUDGE_UPLIFT,))
