"""The pages a back-test reads its events in: consecutive blocks of one partition, in order,
each block in exactly one page, none past the page size unless a block alone is."""

from hypothesis import given
from hypothesis import strategies as st

from channelhub.marketing.history import Block, pages

SPAN = 100


@st.composite
def blocks(draw: st.DrawFn) -> list[Block]:
    """Blocks of :data:`SPAN` offsets as :func:`history.blocks` returns them: by partition,
    then offset, each with 1 to ``SPAN`` events and their times."""
    found = []
    for partition in sorted(draw(st.sets(st.integers(0, 15), max_size=4))):
        indices = sorted(draw(st.sets(st.integers(0, 40), min_size=1, max_size=12)))
        for index in indices:
            low = draw(st.integers(1_700_000_000, 1_700_100_000))
            found.append(
                Block(partition, index * SPAN, (index + 1) * SPAN, draw(st.integers(1, SPAN)),
                      low, low + draw(st.integers(0, 90_000)))
            )  # fmt: skip
    return found


@given(blocks(), st.integers(1, 5 * SPAN))
def test_pages_join_consecutive_blocks_of_a_partition_up_to_the_page_size(
    found: list[Block], page_rows: int
) -> None:
    joined = pages(found, page_rows)
    assert sum(p.rows for p in joined) == sum(b.rows for b in found)
    remaining = iter(found)
    for i, page in enumerate(joined):
        inside = []
        for block in remaining:
            inside.append(block)
            if block.end == page.end:
                break
        assert inside[0].first == page.first  # each block in one page, in order
        assert {b.partition for b in inside} == {page.partition}
        assert page.rows == sum(b.rows for b in inside)
        assert page.rows <= page_rows or len(inside) == 1
        assert (page.low, page.high) == (min(b.low for b in inside), max(b.high for b in inside))
        later = joined[i + 1] if i + 1 < len(joined) else None
        if later is not None and later.partition == page.partition:
            assert page.end <= later.first  # offsets only grow within a partition
            assert (
                page.rows
                + next(
                    b for b in found if b.first == later.first and b.partition == later.partition
                ).rows
                > page_rows
            )
    assert next(remaining, None) is None
    assert [p.partition for p in joined] == sorted(p.partition for p in joined)
