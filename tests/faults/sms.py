"""Each SMS part at most once at the SMSC, and one outcome for every approved nudge.

The dispatcher's own records (``nudges.dispatches``, raw numbers) are matched with what the
test SMSC logged: a sent nudge's message ids are exactly the parts the SMSC took for it, and
any part the SMSC took that no sent nudge claims belongs to a nudge left in doubt by a kill
(``unknown_after_crash``), which is never submitted again.
"""

from collections import Counter, defaultdict
from pathlib import Path

from kernel.settings import Settings
from orchestration.dispatch.gateway import UNKNOWN_AFTER_CRASH, UNKNOWN_AFTER_LOST_ANSWER
from schemas.nudges import Dispatch
from tests.dispatch.records import dispatches, part
from tests.orchestration.smpp_server import submits


def assert_at_most_once(settings: Settings, smsc_log: Path, approved: set[str]) -> str:
    """Check the dispatches of ``approved`` nudge ids against the SMSC; return a summary."""
    outcomes: dict[str, set[Dispatch]] = defaultdict(set)
    for record in dispatches(settings):
        outcomes[record.nudge_id].add(record)
    assert set(outcomes) == approved, "an approved nudge has no dispatch, or one is extra"
    doubled = {nudge_id for nudge_id, o in outcomes.items() if len(o) > 1}
    assert not doubled, f"nudges with two different outcomes: {sorted(doubled)[:5]}"

    submitted = submits(smsc_log)
    by_id = {sm["message_id"]: sm for sm in submitted}
    assert len(by_id) == len(submitted), "the SMSC gave one message id twice"
    claimed: set[str] = set()
    in_doubt: Counter[str] = Counter()
    widest = 1
    for [dispatch] in outcomes.values():
        if dispatch.status == "sent":
            ids = list(dispatch.message_ids)
            assert ids, f"{dispatch.nudge_id} is sent without a message id"
            assert set(ids) <= set(by_id), f"{dispatch.nudge_id} is sent but not at the SMSC"
            assert not claimed & set(ids), f"{dispatch.nudge_id} shares a part with another"
            assert sorted(part(by_id[i]) for i in ids) == list(range(1, len(ids) + 1))
            claimed |= set(ids)
            widest = max(widest, len(ids))
        else:
            reason = (dispatch.error or "").split(":")[0]
            assert reason in (UNKNOWN_AFTER_CRASH, UNKNOWN_AFTER_LOST_ANSWER), dispatch
            in_doubt[dispatch.msisdn] += 1
    unclaimed = Counter(sm["destination_addr"] for i, sm in by_id.items() if i not in claimed)
    for number, parts in unclaimed.items():
        assert parts <= widest * in_doubt[number], (
            f"{parts} parts to a number with {in_doubt[number]} nudges in doubt"
        )
    sent = sum(1 for [d] in outcomes.values() if d.status == "sent")
    return (
        f"{len(approved)} approved nudges: {sent} sent ({len(claimed)} parts), "
        f"{sum(in_doubt.values())} in doubt after a kill ({sum(unclaimed.values())} of their "
        f"parts reached the SMSC), none twice"
    )
