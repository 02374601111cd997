"""A ``catalogue_events`` row gives back the record it was made of, so the catalogue folds the
same from ClickHouse as from the topic (times to the second, as the table keeps them)."""

from hypothesis import given, settings

from kernel.pseudonym import Pseudonymizer
from schemas.catalogue import CatalogueEvent, decode
from sinks.tables.catalogue_events import TABLE, record_json
from tests.records import records


@settings(max_examples=200, deadline=None)
@given(record=records(CatalogueEvent))
def test_a_row_gives_back_its_record(record: CatalogueEvent) -> None:
    _, row = TABLE.values(record, Pseudonymizer(b"k"))
    assert decode(record_json(row)) == record
