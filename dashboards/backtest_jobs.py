"""Back-tests run for dashboard users off the request thread, one at a time per user.

A back-test of days of a province's events takes longer than a request may: the campaigns page
starts it here, on a daemon thread of the dashboard process, and polls :meth:`Jobs.get` with
the job's id until it is done. Bounded by construction: a user has at most one job, a running
one cannot be replaced, and a finished one is forgotten ``keep`` after it ended (or when the
user starts the next). Results live in this process only; nothing is written anywhere.
"""

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from channelhub.marketing.backtest import Backtest

#: What a job runs: given a ``folded(done, total)`` callback, the report.
Work = Callable[[Callable[[int, int], None]], Backtest]


@dataclass
class Job:
    """One user's back-test: progress while running, then its report or its error."""

    id: str
    folded: int = 0
    total: int | None = None
    report: Backtest | None = None
    error: str | None = None
    ended: float | None = None  # the clock's reading when it finished

    @property
    def running(self) -> bool:
        return self.ended is None


class Jobs:
    """Each user's latest back-test. ``spawn`` runs a job's work (a daemon thread by default;
    tests pass one that runs it inline or not at all)."""

    def __init__(
        self,
        keep_s: float,
        clock: Callable[[], float] = time.monotonic,
        spawn: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self._keep_s = keep_s
        self._clock = clock
        self._spawn = spawn or _daemon
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, user: str, work: Work) -> Job | None:
        """Start ``work`` as ``user``'s job; None while their previous job still runs."""
        with self._lock:
            self._forget_old()
            previous = self._jobs.get(user)
            if previous is not None and previous.running:
                return None
            job = Job(id=uuid.uuid4().hex)
            self._jobs[user] = job
        self._spawn(lambda: self._run(job, work))
        return job

    def get(self, user: str, job_id: str) -> Job | None:
        """``user``'s job ``job_id``, while it is kept; never another user's."""
        with self._lock:
            self._forget_old()
            job = self._jobs.get(user)
        return job if job is not None and job.id == job_id else None

    def __len__(self) -> int:
        with self._lock:
            self._forget_old()
            return len(self._jobs)

    def _run(self, job: Job, work: Work) -> None:
        def folded(done: int, total: int) -> None:
            job.folded, job.total = done, total

        try:
            job.report = work(folded)
        except Exception as e:  # a job's failure is told to its user, never lost with the thread
            # One line: a server's exception can carry its stack trace after the message.
            job.error = (str(e) or type(e).__name__).splitlines()[0]
        job.ended = self._clock()

    def _forget_old(self) -> None:
        now = self._clock()
        for user, job in list(self._jobs.items()):
            if job.ended is not None and now - job.ended > self._keep_s:
                del self._jobs[user]


def _daemon(run: Callable[[], None]) -> None:
    threading.Thread(target=run, name="backtest", daemon=True).start()
