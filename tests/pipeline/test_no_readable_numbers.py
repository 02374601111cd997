"""No subscriber number is readable in ClickHouse or in any log after a run that was full of them.

Real services: the collector, the worker (validate and nudges) and the sink as processes, the
real broker and ClickHouse. Numbers written in nine forms go in through the collector (NDJSON)
and straight onto the raw topic, inside SMS texts and session ids of valid events, and inside
malformed events (a bad ``msisdn``, a number as an attribute's name, JSON with ``\\u``-escaped
digits, and, on the raw topic, text that is not JSON). Once every stage has caught up, every
String column of every table of the run's database and every line of every log file is read,
each value folded (``\\u`` escapes decoded, NFKC, any script's digits to ASCII) to its digits
alone, and none of the numbers, nor any subscriber's own ``msisdn``, may be among them.
"""

import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec
from kafka import KafkaProducer

from channelhub.platform.health import tcp_open
from kernel.settings import Settings
from sinks import migrations
from sinks.client import connect
from tests.factories import make_event
from tests.fixtures.services import StartService, Topics
from tests.fixtures.waiting import wait_for, wait_until_settled

FORMS: dict[str, Callable[[str], str]] = {
    "plain": lambda n: n,
    "+86 spaced": lambda n: f"+86 {n[:3]} {n[3:7]} {n[7:]}",
    "0086 dashed": lambda n: f"0086-{n[:3]}-{n[3:7]}-{n[7:]}",
    "86 glued": lambda n: f"86{n}",
    "dotted": lambda n: f"{n[:3]}.{n[3:7]}.{n[7:]}",
    "full-width": lambda n: "".join(chr(0xFF10 + int(d)) for d in n),
    "full-width +86": lambda n: "\uff0b\uff18\uff16\u3000"
    + "".join(chr(0xFF10 + int(d)) for d in n),
    "one digit at a time": lambda n: " ".join(n),
    "bracketed prefix": lambda n: f"(+86) {n[:3]}-{n[3:7]}-{n[7:]}",
}
#: One number per form, per way in; none of them is a subscriber's own msisdn.
NUMBERS = {
    (way, form): f"1{3 + i % 7}{(way_n * 100 + i):09d}"
    for way_n, way in enumerate(("collector", "raw"))
    for i, form in enumerate(FORMS)
}
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _digits(text: str) -> str:
    """``text`` as the digits a reader could take from it, in order."""
    text = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    folded = (unicodedata.normalize("NFKC", c) for c in text)
    return "".join(str(unicodedata.decimal(c[0])) for c in folded if c and c[0].isdecimal())


def _events(way: str, msisdns: list[str]) -> tuple[list[dict[str, object]], list[bytes]]:
    """Valid events with a number in their text and session id, and malformed ones."""
    valid: list[dict[str, object]] = []
    malformed: list[bytes] = []
    for form, write in FORMS.items():
        number = NUMBERS[(way, form)]
        event = make_event(
            "sms.message_received",
            session_id=write(number).replace(" ", "")[:64] if write(number).isascii() else "s1",
            attributes={"text": f"帮我查{write(number)}的话费", "matched_code": None,
                        "match_kind": "unknown"},
        )  # fmt: skip
        msisdns.append(str(event["msisdn"]))
        valid.append(event)
        if write(number) != number:  # written plainly it is a good msisdn
            bad_msisdn = make_event("ivr.abandoned", msisdn=write(number))
            malformed.append(msgspec.json.encode(bad_msisdn))
        odd_key = make_event("web.login", attributes={number: write(number)})
        malformed.append(msgspec.json.encode(odd_key))
        escaped = "".join(f"\\u{ord(c):04x}" for c in write(number))
        malformed.append(b'{"event_type": "nope", "note": "' + escaped.encode() + b'"}')
        if way == "raw":  # the collector refuses a whole NDJSON body with a line not JSON
            malformed.append(f"call me on {write(number)} {{".encode())
    return valid, malformed


def test_no_number_is_readable_in_any_table_or_log(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    migrations.migrate(settings)
    start_service(
        "collector", "channelhub.ingest.collector", settings,
        health=tcp_open("127.0.0.1", settings.collector_port),
    )  # fmt: skip
    start_service(
        "worker", "streams", settings,
        health=tcp_open("127.0.0.1", settings.worker_web_port), timeout=120,
    )  # fmt: skip
    start_service("sink", "sinks", settings)
    msisdns: list[str] = []

    valid, malformed = _events("collector", msisdns)
    lines = [msgspec.json.encode(e) for e in valid] + malformed
    answer = httpx.post(
        f"{settings.collector_url}/v1/events",
        content=b"\n".join(line.replace(b"\n", b" ") for line in lines),
        headers={
            "Authorization": f"Bearer {settings.collector_token.get_secret_value()}",
            "Content-Type": "application/x-ndjson",
        },
        timeout=30,
    ).json()
    assert answer["accepted"] == len(valid), answer

    valid_raw, malformed_raw = _events("raw", msisdns)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    for value in [msgspec.json.encode(e) for e in valid_raw] + malformed_raw:
        producer.send(settings.topic_raw, value)
    producer.flush()
    producer.close()

    client = connect(settings)
    events = len(valid) + len(valid_raw)
    letters = answer["rejected"] + len(malformed_raw)
    wait_for(
        lambda: client.execute("SELECT count() FROM events")[0][0] >= events
        and client.execute("SELECT count() FROM dead_letters")[0][0] >= letters,
        f"{events} events and {letters} dead letters in ClickHouse",
        timeout=120,
    )
    wait_until_settled(settings, timeout=120)

    secrets = {*NUMBERS.values(), *msisdns}
    readable: list[str] = []
    columns = client.execute(
        "SELECT table, name, type FROM system.columns "
        "WHERE database = %(db)s AND type LIKE '%%String%%'",
        {"db": clickhouse_db},
    )
    assert len(columns) > 30, columns
    for table, column, kind in columns:
        # An aggregate table's state columns are binary: what they hold is their final value.
        value_of = (
            f"finalizeAggregation({column})" if kind.startswith("AggregateFunction") else column
        )
        for (value,) in client.execute(f"SELECT toString({value_of}) FROM {table}"):
            found = [s for s in secrets if s in _digits(value)]
            readable += [f"{table}.{column}: {s} in {value[:200]!r}" for s in found]
    logs = sorted((settings.state_dir / "logs").glob("*.log"))
    assert {p.stem for p in logs} >= {"collector", "worker", "sink"}, logs
    for path in logs:
        for number, line in enumerate(Path(path).read_text(errors="replace").splitlines(), 1):
            found = [s for s in secrets if s in _digits(line)]
            readable += [f"{path.name}:{number}: {s} in {line[:200]!r}" for s in found]
    assert not readable, "\n".join(readable[:40])
    stored = client.execute("SELECT count() FROM events WHERE attributes LIKE '%msisdn:%'")
    assert stored[0][0] == events  # each text kept its number as a token, not dropped
