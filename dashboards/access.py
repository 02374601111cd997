"""Who is signed in, and who failed to sign in: kept on the server, not in the cookie.

The session cookie only names a session; the session itself lives here, so signing out ends it
for good (a copy of the cookie is worth nothing afterwards) and a removed user's sessions can
be ended at once. Failed sign-ins are counted per user and per address over a sliding window:
past :data:`USER_LIMIT` (or :data:`ADDRESS_LIMIT`) failures in :data:`WINDOW_S`, sign-in is
refused until the oldest failure leaves the window, so a password cannot be guessed at speed
and one address cannot try every user.

The store is one SQLite file under the state directory, opened per call: every thread and
every server process of the dashboard (WSGI workers) sees the same sessions and counts.
"""

import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: Failed sign-ins allowed per user, and per client address, within :data:`WINDOW_S`.
USER_LIMIT = 5
ADDRESS_LIMIT = 20
WINDOW_S = 15 * 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, user TEXT NOT NULL, expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS failures_by_key ON failures (key, at);
"""


class AccessStore:
    def __init__(
        self, path: Path, *, session_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self.session_s = session_s
        self.clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10.0)
        try:
            with db:  # one transaction, committed on success
                yield db
        finally:
            db.close()

    def open(self, user: str) -> str:
        """A new session for ``user``; its id goes into the cookie."""
        session = secrets.token_urlsafe(32)
        now = self.clock()
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE expires <= ?", (now,))
            db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?)", (session, user, now + self.session_s)
            )
        return session

    def user_of(self, session: str) -> str | None:
        """The user of a live session; None for an unknown, ended or expired one."""
        with self._db() as db:
            row = db.execute(
                "SELECT user FROM sessions WHERE id = ? AND expires > ?", (session, self.clock())
            ).fetchone()
        return row[0] if row else None

    def close(self, session: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE id = ?", (session,))

    def close_all(self, user: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE user = ?", (user,))

    def wait_s(self, user: str, address: str) -> float:
        """Seconds until ``user`` may try to sign in from ``address`` again; 0 when now."""
        now = self.clock()
        waits = [0.0]
        with self._db() as db:
            db.execute("DELETE FROM failures WHERE at <= ?", (now - WINDOW_S,))
            for key, limit in ((f"user:{user}", USER_LIMIT), (f"address:{address}", ADDRESS_LIMIT)):
                recent = [
                    at
                    for (at,) in db.execute(
                        "SELECT at FROM failures WHERE key = ? ORDER BY at DESC LIMIT ?",
                        (key, limit),
                    )
                ]
                if len(recent) >= limit:
                    waits.append(recent[-1] + WINDOW_S - now)
        return max(waits)

    def failed(self, user: str, address: str) -> None:
        now = self.clock()
        with self._db() as db:
            db.executemany(
                "INSERT INTO failures VALUES (?, ?)",
                ((f"user:{user}", now), (f"address:{address}", now)),
            )

    def succeeded(self, user: str) -> None:
        """A good password clears the user's failures (not the address's)."""
        with self._db() as db:
            db.execute("DELETE FROM failures WHERE key = ?", (f"user:{user}",))
