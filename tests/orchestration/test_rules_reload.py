"""Hot reload of a rule directory: edits apply, a broken edit keeps the previous version."""

import logging
import os
import shutil
from pathlib import Path

import pytest

from orchestration.rules import SHIPPED_RULES_DIR
from orchestration.rules.reload import RuleDirectory


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    for path in SHIPPED_RULES_DIR.glob("*.toml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def _touch(path: Path, text: str) -> None:
    """Write ``text`` and move the mtime on, so even a same-size edit is noticed."""
    stat = path.stat() if path.exists() else None
    path.write_text(text, encoding="utf-8")
    if stat is not None:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_nothing_changed_means_no_reload(rules_dir: Path) -> None:
    directory = RuleDirectory(rules_dir)
    assert len(directory.rules) == 7
    assert directory.poll() is False


def test_an_edit_applies_and_a_broken_edit_keeps_the_previous_version(
    rules_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = RuleDirectory(rules_dir)
    path = rules_dir / "long_agent_wait.toml"
    original = path.read_text(encoding="utf-8")
    _touch(path, original.replace("delay_s = 300", "delay_s = 30"))
    assert directory.poll() is True
    rule = next(r for r in directory.rules if r.id == "ivr.long_agent_wait")
    assert rule.spec.delay_s == 30

    with caplog.at_level(logging.ERROR, logger="orchestration.rules.reload"):
        _touch(path, original.replace("delay_s = 300", 'delay_s = "soon"'))
        assert directory.poll() is True
    kept = next(r for r in directory.rules if r.id == "ivr.long_agent_wait")
    assert kept is rule  # the last good version still runs
    assert len(directory.rules) == 7
    [error] = directory.errors
    assert (error.file, error.rule) == (str(path), "ivr.long_agent_wait")
    assert error.field == "rule.delay_s"
    assert "keeps its previous version" in caplog.text


def test_a_new_file_adds_a_rule_and_a_removed_file_removes_it(rules_dir: Path) -> None:
    directory = RuleDirectory(rules_dir)
    source = (rules_dir / "ivr_charges_copy.toml").read_text(encoding="utf-8")
    _touch(rules_dir / "zz_copy.toml", source.replace('id = "ivr.charges_sms_copy"',
                                                       'id = "ivr.charges_copy_b"'))  # fmt: skip
    assert directory.poll() is True
    assert "ivr.charges_copy_b" in {r.id for r in directory.rules}
    (rules_dir / "zz_copy.toml").unlink()
    assert directory.poll() is True
    assert "ivr.charges_copy_b" not in {r.id for r in directory.rules}


def test_a_new_broken_file_is_ignored_and_reported(rules_dir: Path) -> None:
    directory = RuleDirectory(rules_dir)
    _touch(rules_dir / "broken.toml", "version = 1\n[rule\n")
    assert directory.poll() is True
    assert len(directory.rules) == 7
    assert [e.field for e in directory.errors] == ["<file>"]
