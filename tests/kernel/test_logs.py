"""Log records never carry a subscriber number: message, arguments and traceback are scrubbed."""

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel import logs
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings

NUMBER = "13812345678"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """A handler on a fresh logger, and the record factory restored afterwards."""
    factory = logging.getLogRecordFactory()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.kernel.logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logging.setLogRecordFactory(factory)


def test_messages_arguments_and_tracebacks_are_scrubbed(captured: io.StringIO) -> None:
    settings = Settings(pseudonym_key="k" * 32)
    logs.scrub_records(settings, keyed=True)
    log = logging.getLogger("tests.kernel.logs")
    log.warning("reply from %s: %r", "+86 138 1234 5678", {"to": NUMBER})
    try:
        raise ValueError(f"gateway refused {NUMBER}")
    except ValueError:
        log.exception("send failed for 138-1234-5678")
    log.error("broken %d format", "x")
    text = captured.getvalue()
    token = "msisdn:" + Pseudonymizer(b"k" * 32)(NUMBER)
    assert NUMBER not in text
    assert "1234" not in text
    assert text.count(token) == 4
    assert "ValueError: gateway refused " + token in text
    assert "unformattable" in text


def test_faust_s_formatter_reads_the_scrubbed_records(captured: io.StringIO) -> None:
    """mode's formatter wraps a non-tuple ``args`` into a tuple and formats again: the
    scrubbed record must leave it nothing to format."""
    from mode.utils.logging import ExtensionFormatter

    logs.scrub_records(Settings(pseudonym_key="k" * 32), keyed=True)
    log = logging.getLogger("tests.kernel.logs")
    handler = next(h for h in log.handlers if getattr(h, "stream", None) is captured)
    handler.setFormatter(ExtensionFormatter(captured, fmt="%(levelname)s %(message)s"))
    log.warning("chunk given back: %s refused %d%%", NUMBER, 50)
    assert captured.getvalue().strip() == (
        f"WARNING chunk given back: msisdn:{Pseudonymizer(b'k' * 32)(NUMBER)} refused 50%"
    )


def test_an_uncaught_exception_s_traceback_is_scrubbed(tmp_path: Path) -> None:
    """Not a log call: Python's own crash report, which would go raw to stderr."""
    script = (
        "from kernel import logs\n"
        "from kernel.settings import Settings\n"
        "logs.configure(Settings(pseudonym_key='k' * 32), 'crash', keyed=True)\n"
        f"raise RuntimeError('cannot reach {NUMBER}')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )  # fmt: skip
    assert result.returncode == 1
    assert NUMBER not in result.stderr
    assert "RuntimeError: cannot reach msisdn:" in result.stderr


def test_a_process_without_the_key_redacts_numbers(captured: io.StringIO) -> None:
    logs.scrub_records(Settings(pseudonym_key=""))
    logging.getLogger("tests.kernel.logs").warning("sign-in from 138-1234-5678")
    assert captured.getvalue().strip() == "WARNING sign-in from msisdn:redacted"
