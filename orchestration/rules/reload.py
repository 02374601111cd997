"""Hot reload: a running nudge stage picks up edited rule files without a restart.

:class:`RuleDirectory` remembers each file's size and modification time and, when any changed,
loads the directory again. A file that now fails validation is reported (its
:class:`RuleConfigError` names the file, the rule and the field) and the rule it held before
keeps running unchanged, so a typo in one file never stops a rule, let alone the stage. A
deleted file removes its rule.

A rule is also refused while its template is not published (:attr:`RuleDirectory.bind`, set by
the nudge stage from ``channel.content``); ``poll(force=True)`` loads the directory again when
the published content changed, so a text published since is taken up without a file change.
"""

import logging
from collections.abc import Callable
from pathlib import Path

from orchestration.rules.compile import Rule
from orchestration.rules.errors import RuleConfigError
from orchestration.rules.loader import load_rules

log = logging.getLogger(__name__)

Snapshot = dict[str, tuple[int, int]]


class RuleDirectory:
    """The rules of one directory, as of the last :meth:`poll` that saw a change."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        #: Applied to each loaded rule (:func:`orchestration.rules.load_rules`).
        self.bind: Callable[[Rule], Rule] | None = None
        self._seen: Snapshot = {}
        self._by_file: dict[str, Rule] = {}
        self.rules: tuple[Rule, ...] = ()
        self.errors: list[RuleConfigError] = []
        self.poll()

    def poll(self, *, force: bool = False) -> bool:
        """Reload if a file was added, changed or removed (or ``force``); return whether the
        rules were loaded again."""
        snapshot = _snapshot(self.directory)
        if snapshot == self._seen and not force:
            return False
        self._seen = snapshot
        loaded, errors = load_rules(self.directory, self.bind)
        by_file = {rule.source: rule for rule in loaded}
        for error in errors:
            previous = self._by_file.get(error.file)
            if self.bind is not None and previous is not None and previous.template_version is None:
                previous = None  # loaded before publishing was in force: its text is unchecked
            if previous is not None and previous.id not in {r.id for r in by_file.values()}:
                by_file[error.file] = previous
                log.error("%s; rule %r keeps its previous version", error, previous.id)
            else:
                log.error("%s; the file is ignored", error)
        self._by_file, self.errors = by_file, errors
        self.rules = tuple(by_file[source] for source in sorted(by_file))
        return True


def _snapshot(directory: Path) -> Snapshot:
    """(size, mtime in ns) of every rule file; a missing directory has none."""
    try:
        paths = sorted(directory.glob("*.toml"))
    except OSError:
        return {}
    snapshot: Snapshot = {}
    for path in paths:
        try:
            stat = path.stat()
        except OSError:  # removed between the listing and the stat
            continue
        snapshot[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return snapshot
