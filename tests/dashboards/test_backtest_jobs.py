"""The dashboard's back-test jobs: one per user, never another user's, forgotten after a while."""

from collections.abc import Callable

from channelhub.marketing.backtest import Backtest
from dashboards.backtest_jobs import Jobs

Folded = Callable[[int, int], None]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Held:
    """Runs each job only when told: a job started here stays running until :meth:`finish`."""

    def __init__(self) -> None:
        self.waiting: list[Callable[[], None]] = []

    def __call__(self, run: Callable[[], None]) -> None:
        self.waiting.append(run)

    def finish(self) -> None:
        while self.waiting:
            self.waiting.pop(0)()


REPORT = object()


def _work(folded: Folded) -> Backtest:
    folded(5, 10)
    return REPORT  # type: ignore[return-value]


def _failing(folded: Folded) -> Backtest:
    raise RuntimeError("ClickHouse went away\nStack trace:\n0. somewhere")


def test_a_user_runs_one_back_test_at_a_time() -> None:
    held = Held()
    jobs = Jobs(keep_s=60, clock=Clock(), spawn=held)
    first = jobs.start("mei", _work)
    assert first is not None
    assert first.running
    assert jobs.start("mei", _work) is None
    other = jobs.start("li", _work)
    assert other is not None
    assert len(jobs) == 2
    held.finish()
    assert first.report is REPORT
    assert (first.folded, first.total) == (5, 10)
    again = jobs.start("mei", _work)
    assert again is not None
    assert again.id != first.id
    assert jobs.get("mei", first.id) is None  # the next run replaces the finished one


def test_a_job_is_its_users_alone() -> None:
    jobs = Jobs(keep_s=60, clock=Clock(), spawn=lambda run: run())
    job = jobs.start("mei", _work)
    assert job is not None
    assert jobs.get("mei", job.id) is job
    assert jobs.get("li", job.id) is None


def test_a_finished_job_is_kept_a_while_then_forgotten() -> None:
    clock = Clock()
    jobs = Jobs(keep_s=60, clock=clock, spawn=lambda run: run())
    job = jobs.start("mei", _work)
    assert job is not None
    assert not job.running
    clock.now = 60
    assert jobs.get("mei", job.id) is job
    clock.now = 61
    assert jobs.get("mei", job.id) is None
    assert len(jobs) == 0


def test_a_failure_is_told_not_raised() -> None:
    jobs = Jobs(keep_s=60, clock=Clock(), spawn=lambda run: run())
    job = jobs.start("mei", _failing)
    assert job is not None
    assert not job.running
    assert (job.report, job.error) == (None, "ClickHouse went away")
