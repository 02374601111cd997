"""Any record of any contract, drawn by hypothesis from the record's msgspec type alone.

:func:`records` reads a type's structure with ``msgspec.inspect`` (fields, unions and tags,
patterns, ranges, lengths, literals) and builds a strategy whose every value decodes as that
type. The tests that need "a record of every topic" draw from it instead of keeping a
hand-written sample per topic, so a new contract in :mod:`schemas.registry` is covered the
moment it exists. A type it cannot draw yet fails with the type's name, not with a bad sample.

Values stay in the range real producers use (times 2000-2100, integers below 2³¹ unless the
type says otherwise, finite floats), because the tests that draw them check what the platform
does with good records; ``tests/sinks/test_row_properties.py`` breaks them on purpose.
``msisdn`` fields draw from :data:`MSISDNS`, and free text (strings without a pattern) often
mentions one of them in one of :data:`NUMBER_FORMS`, so a test can look for those numbers
afterwards.
"""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from hypothesis import reject
from hypothesis import strategies as st

#: The subscriber numbers ``msisdn`` fields draw from, and free text mentions.
MSISDNS = ("13912345678", "15800001111")
#: Ways a number is written in free text (the scrubber finds them all).
NUMBER_FORMS = (
    lambda n: n,
    lambda n: f"+86 {n[:3]} {n[3:7]} {n[7:]}",
    lambda n: f"0086-{n[:3]}-{n[3:7]}-{n[7:]}",
    lambda n: n.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"}),
    lambda n: f"0{n}",
)

_EARLIEST = datetime(2000, 1, 1)
_LATEST = datetime(2100, 1, 1)
_OMIT = object()
_INFO = msgspec.inspect


def records(record_type: Any) -> st.SearchStrategy[Any]:
    """Values of ``record_type`` (a Struct or a union of tagged ones) that decode as it."""
    return _strategy(_INFO.type_info(record_type))


def _strategy(info: Any) -> st.SearchStrategy[Any]:
    if isinstance(info, _INFO.Metadata):
        return _strategy(info.type)
    if isinstance(info, _INFO.StructType):
        return _struct(info)
    if isinstance(info, _INFO.UnionType):
        return st.one_of([_strategy(t) for t in info.types])
    if isinstance(info, _INFO.NoneType):
        return st.none()
    if isinstance(info, _INFO.BoolType):
        return st.booleans()
    if isinstance(info, _INFO.IntType):
        low = info.ge if info.ge is not None else info.gt + 1 if info.gt is not None else 0
        high = info.le if info.le is not None else info.lt - 1 if info.lt is not None else 2**31
        return st.integers(low, high)
    if isinstance(info, _INFO.FloatType):
        return st.floats(
            min_value=info.ge if info.ge is not None else info.gt if info.gt is not None else -1e6,
            max_value=info.le if info.le is not None else info.lt if info.lt is not None else 1e6,
            exclude_min=info.gt is not None,
            exclude_max=info.lt is not None,
            allow_nan=False,
            allow_infinity=False,
        )
    if isinstance(info, _INFO.StrType):
        return _text(info)
    if isinstance(info, _INFO.LiteralType):
        return st.sampled_from(info.values)
    if isinstance(info, _INFO.DateTimeType):
        naive = st.datetimes(_EARLIEST, _LATEST)
        return naive if info.tz is False else naive.map(lambda d: d.replace(tzinfo=UTC))
    if isinstance(info, _INFO.TimeType):
        return st.times()
    if isinstance(info, _INFO.TimeDeltaType):
        return st.timedeltas(timedelta(seconds=1), timedelta(days=7))
    if isinstance(info, _INFO.VarTupleType | _INFO.ListType):
        items = st.lists(
            _strategy(info.item_type),
            min_size=info.min_length or 0,
            max_size=min(info.max_length if info.max_length is not None else 3, 3),
        )
        return items.map(tuple) if isinstance(info, _INFO.VarTupleType) else items
    if isinstance(info, _INFO.DictType):
        return st.dictionaries(_strategy(info.key_type), _strategy(info.value_type), max_size=3)
    raise NotImplementedError(f"tests/records.py cannot draw a {type(info).__name__} yet")


def _text(info: Any) -> st.SearchStrategy[str]:
    low, high = info.min_length or 0, info.max_length
    if info.pattern is not None:
        drawn = st.from_regex(info.pattern, fullmatch=True)
        return drawn.filter(lambda s: low <= len(s) <= (high if high is not None else len(s)))
    free = st.text(
        alphabet=st.characters(codec="utf-8"),
        min_size=low,
        max_size=min(high if high is not None else 30, 30),
    )
    mentioning = st.builds(
        lambda before, number, form: f"{before}{form(number)}",
        # A digit just before would make it part of a longer number (an order id).
        st.text(max_size=5).filter(lambda s: not s[-1:].isdecimal()),
        st.sampled_from(MSISDNS),
        st.sampled_from(NUMBER_FORMS),
    )
    return free | mentioning.filter(lambda s: low <= len(s) <= (high or len(s)))


def _struct(info: Any) -> st.SearchStrategy[Any]:
    fields = {}
    for field in info.fields:
        drawn = st.sampled_from(MSISDNS) if field.name == "msisdn" else _strategy(field.type)
        fields[field.name] = drawn if field.required else st.just(_OMIT) | drawn
    return _built(info.cls, st.fixed_dictionaries(fields))


@st.composite
def _built(draw: st.DrawFn, cls: type, fields: st.SearchStrategy[dict[str, Any]]) -> Any:
    """A ``cls`` whose own checks (``__post_init__``) accept the drawn values: drawn again
    until they do, since a filter on a nested struct would reject whole records too often."""
    for _ in range(50):
        given = draw(fields)
        try:
            return cls(**{name: value for name, value in given.items() if value is not _OMIT})
        except (ValueError, TypeError):
            continue
    reject()


def comparable(value: Any) -> Any:
    """What ClickHouse gives back for ``value``: whole seconds for a time, lists for arrays."""
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, tuple | list):
        return [comparable(v) for v in value]
    return value


def readable_numbers(text: str) -> list[str]:
    """The numbers of :data:`MSISDNS` that stand readable in ``text``: not inside a longer run
    of decimal digits (of any script), which is another number (an order id) and which the
    scrubber leaves alone. A superscript or circled digit is no decimal digit."""
    return [n for n in MSISDNS if re.search(rf"(?<!\d){n}(?!\d)", text)]
