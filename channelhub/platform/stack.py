"""The services of ``channelhub up``, in start order, with the steps that must run between them.

The plan is data: a list of :class:`ServiceSpec` and :class:`Hook` steps built from one
Settings object. :class:`Stack` walks it, waiting for each service's health before the next
step, because each step needs the previous one (migrations need ClickHouse; the worker needs
its topics, which Tansu forgets on every restart; the service catalogue and the published
content are seeded once the topics exist).

Once everything is up, :meth:`Stack.supervise` restarts a service that exits, after a
backoff (:mod:`channelhub.platform.restarts`), and leaves the others running: the stages
commit only what they finished and the sink retries ClickHouse, so one service's crash need
not take the platform down. A restart waits for the service's health as the first start
did, then runs the hooks that depend on it again: Tansu keeps its topics in memory, so after
a broker restart the topics are created and the catalogue and content seeded again.
ClickHouse keeps its data directory, so after its restart there is nothing to redo. Each
exit is logged and counted in the service's status record, so a crash loop is as visible as
a stopped stack would be.
"""

import enum
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from channelhub.platform import broker, clickhouse, pids
from channelhub.platform.env import settings_env
from channelhub.platform.health import http_ok, tcp_open
from channelhub.platform.process import Echo, ManagedProcess, ServiceSpec, stop_all
from channelhub.platform.restarts import (
    Backoff,
    RestartRecord,
    exit_reason,
    record_path,
    utc_stamp,
    write_record,
)
from channelhub.platform.topics import topic_configs
from kernel.settings import Settings

APP_STOP_GRACE = 5.0
INFRA_STOP_GRACE = 4.0  # with APP_STOP_GRACE: everything is gone within 10 s of Ctrl-C
WORKER_HOST = "127.0.0.1"
HISTORY_HOURS = 24


@dataclass(frozen=True)
class Hook:
    """A step that runs in this process between two services (migrations, topics)."""

    name: str
    run: Callable[[], object]
    rerun_after: tuple[str, ...] = ()
    """Services whose restart undoes this step, so it runs again once they are healthy."""


Step = ServiceSpec | Hook


def python_service(
    settings: Settings,
    name: str,
    module: str,
    *args: str,
    health: Callable[[], object] | None = None,
    endpoint: str = "",
    startup_timeout: float = 60.0,
    min_uptime: float = 0.0,
) -> ServiceSpec:
    """``python -m module`` with the settings exported as CHANNELHUB_* variables."""
    return ServiceSpec(
        name=name,
        argv=[sys.executable, "-m", module, *args],
        env={**settings_env(settings), "PYTHONUNBUFFERED": "1"},
        health=health,
        endpoint=endpoint,
        startup_timeout=startup_timeout,
        min_uptime=min_uptime,
    )


def _migrate(settings: Settings) -> object:
    from sinks import migrations

    return migrations.migrate(settings)


def _create_topics(settings: Settings) -> object:
    names = broker.topic_names(settings)
    return broker.ensure_topics(
        settings.kafka_bootstrap, names, settings.topic_partitions, topic_configs(settings)
    )


def _seed_catalogue(settings: Settings) -> object:
    """Today's static catalogue on ``channel.catalogue``, once: the seed records have fixed ids,
    so a second run (or a run after a broker restart that kept the topic) writes nothing."""
    from channelhub.catalogue.seed import seed

    return seed(settings)


def _seed_content(settings: Settings) -> object:
    """The shipped rules' and example campaign's texts as published version 1 on
    ``channel.content``, so publishing is in force from the first start: an item that has a
    version already is left alone."""
    from channelhub.content.store import seed

    return seed(settings)


def start_storage(settings: Settings) -> list[ManagedProcess]:
    """The broker and ClickHouse of ``settings`` started in its state folder, migrated, and
    every topic created with its lifecycle, as ``up`` prepares them: what the benchmarks run
    their stages on. On a failure what was started is stopped again."""
    from channelhub.platform.isolated import start_in_order

    processes = start_in_order(
        [broker.spec(settings.kafka_bootstrap), clickhouse.spec(settings)], settings.state_dir
    )
    try:
        _migrate(settings)
        _create_topics(settings)
    except BaseException:
        stop_all(list(reversed(processes)), grace=5)
        raise
    return processes


def simulator_history(settings: Settings, *, now: datetime | None = None) -> list[str]:
    """Backfill only the part of the last day that ClickHouse does not hold yet.

    ClickHouse keeps its rows across ``down``/``up``; backfilling a full day again would add a
    second, differently seeded copy of the hours already there.
    """
    from sinks.client import connect
    from sinks.tables import events

    client = connect(settings)
    try:
        ((newest, count),) = client.execute(events.NEWEST.format(db=settings.clickhouse_database))
    finally:
        client.disconnect()
    now = now or datetime.now(UTC)
    missing_h = (now - newest).total_seconds() / 3600 if count else HISTORY_HOURS
    if missing_h < 1 / 60:
        return ["--live"]
    return ["--backfill-hours", f"{min(missing_h, HISTORY_HOURS):.6g}", "--live"]


def endpoints(settings: Settings) -> dict[str, str]:
    """Where each service of the plan can be reached, by name (no side effects)."""
    from orchestration.dispatch.factory import outbox_path

    return {
        "broker": settings.kafka_bootstrap,
        "clickhouse": clickhouse.endpoint(settings),
        "worker": f"http://{WORKER_HOST}:{settings.worker_web_port}/ (faust web)",
        "nudger": f"http://{WORKER_HOST}:{settings.nudger_web_port}/ (faust web)",
        "campaigns": f"http://{WORKER_HOST}:{settings.campaigns_web_port}/ (faust web)",
        "waits": f"http://{WORKER_HOST}:{settings.waits_web_port}/ (faust web), "
        f"{settings.topic_events} → ivr.wait_predicted",
        "dispatcher": f"http://{WORKER_HOST}:{settings.dispatcher_web_port}/ (faust web), SMS → "
        + (str(outbox_path(settings)) if settings.sms_gateway == "file" else settings.sms_gateway),
        "sink": f"→ ClickHouse database {settings.clickhouse_database}",
        "collector": settings.collector_url,
        "dashboard": settings.dashboard_url,
        "alerts": f"→ {settings.topic_alerts}"
        + (f", webhook {settings.alert_webhook_url}" if settings.alert_webhook_url else ""),
        "simulator": f"→ {settings.topic_raw}",
        "handsets": f"{settings.topic_nudges_dispatches} → {settings.topic_raw}",
    }


def _stage(
    settings: Settings, name: str, stage: str, web_port: int, where: dict[str, str]
) -> ServiceSpec:
    """``python -m streams --stage <stage>`` as service ``name``. faust always opens its web
    server, so its port answering means the worker booted."""
    return python_service(
        settings, name, "streams", "--stage", stage,
        health=tcp_open(WORKER_HOST, web_port), endpoint=where[name], startup_timeout=120.0,
    )  # fmt: skip


def plan(settings: Settings, *, simulator: bool) -> list[Step]:
    """Every step of ``up``, in order."""
    where = endpoints(settings)
    steps: list[Step] = [
        broker.spec(settings.kafka_bootstrap),
        clickhouse.spec(settings),
        Hook("migrations", lambda: _migrate(settings)),
        Hook("topics", lambda: _create_topics(settings), rerun_after=("broker",)),
        # The live catalogue the nudge stage, the simulator and the dashboard follow.
        Hook("catalogue", lambda: _seed_catalogue(settings), rerun_after=("broker",)),
        # Publishing in force: the nudge stage sends only published texts.
        Hook("content", lambda: _seed_content(settings), rerun_after=("broker",)),
        # One worker process per stream stage: the nudge stage's CPU never slows validation.
        _stage(settings, "worker", "validate", settings.worker_web_port, where),
        _stage(settings, "nudger", "nudges", settings.nudger_web_port, where),
        # Exactly one wait predictor: a queue's state is made of every partition's events.
        _stage(settings, "waits", "waits", settings.waits_web_port, where),
        # Campaign fan-out: triggered campaigns → audience chunks for the nudge stage.
        _stage(settings, "campaigns", "campaigns", settings.campaigns_web_port, where),
        # Its own process too: a slow or unreachable gateway never holds up the nudge stage.
        _stage(settings, "dispatcher", "dispatch", settings.dispatcher_web_port, where),
        python_service(settings, "sink", "sinks", min_uptime=3.0, endpoint=where["sink"]),
        python_service(
            settings,
            "collector",
            "channelhub.ingest.collector",
            health=http_ok(f"{settings.collector_url}/health"),
            endpoint=where["collector"],
        ),
        python_service(
            settings,
            "dashboard",
            "dashboards",
            health=http_ok(settings.dashboard_url),
            endpoint=where["dashboard"],
            startup_timeout=90.0,
        ),
        # The one alert evaluator: each queue alert is recorded (and sent) once, however many
        # people have the queue page open.
        python_service(
            settings, "alerts", "dashboards.alerts", min_uptime=3.0, endpoint=where["alerts"]
        ),
    ]
    if simulator:
        simulate = python_service(
            settings, "simulator", "channelhub.simulator",
            min_uptime=3.0, endpoint=where["simulator"],
        )  # fmt: skip
        steps.append(replace(simulate, late_args=lambda: simulator_history(settings)))
        # The simulated subscribers answering the nudges they are sent: only with the simulator,
        # whose population they are.
        handsets = python_service(
            settings, "handsets", "channelhub.simulator.handsets",
            min_uptime=3.0, endpoint=where["handsets"],
        )  # fmt: skip
        steps.append(handsets)
    return steps


class _Phase(enum.Enum):
    RUNNING = "running"
    WAITING = "waiting"  # exited; restarts when its backoff is over
    STARTING = "starting"  # restarted; waiting for its health, then its hooks


@dataclass
class _Supervised:
    """One service under supervision: its process, where its restart stands, its record."""

    process: ManagedProcess
    hooks: list[Hook]
    record: RestartRecord
    phase: _Phase = _Phase.RUNNING
    due: float = 0.0
    """Monotonic time: when WAITING restarts, or when STARTING gives up."""
    running_since: float = 0.0
    """Monotonic time it last became healthy (after its hooks, on a restart)."""
    failures: int = 0
    """Failures in a row: exits and given-up restarts, none after a long enough healthy run."""


class Stack:
    """Starts a plan step by step, keeps its services running, and stops what it started,
    apps first, then infrastructure."""

    def __init__(
        self,
        settings: Settings,
        steps: Sequence[Step],
        echo: Echo = print,
        backoff: Backoff | None = None,
    ) -> None:
        self.settings = settings
        self.steps = list(steps)
        self.echo = echo
        self.backoff = backoff or Backoff()
        self.run_dir = settings.state_dir.resolve() / "run"
        self.processes: list[ManagedProcess] = []
        self._supervised: list[_Supervised] = []

    def start(self) -> None:
        """Run every step in order; raises ServiceError at the first that fails."""
        for step in self.steps:
            began = time.monotonic()
            if isinstance(step, Hook):
                self.echo(f"running {step.name} ...")
                step.run()
                self.echo(f"  {step.name} done in {time.monotonic() - began:.1f}s")
                continue
            self.echo(f"starting {step.name} ...")
            process = ManagedProcess(step, self.settings.state_dir.resolve())
            self.processes.append(process)
            hooks = [h for h in self.steps if isinstance(h, Hook) and step.name in h.rerun_after]
            supervised = _Supervised(process, hooks, RestartRecord(step.name))
            self._supervised.append(supervised)
            write_record(self.run_dir, supervised.record)
            process.start()
            process.wait_healthy(progress=self.echo)
            supervised.running_since = time.monotonic()
            where = f": {step.endpoint}" if step.endpoint else ""
            self.echo(f"  {step.name} ready in {time.monotonic() - began:.1f}s{where}")

    def supervise(self, poll_seconds: float = 0.25) -> None:
        """Keep every service running, restarting those that exit, until interrupted."""
        while True:
            self.tick()
            time.sleep(poll_seconds)

    def tick(self) -> None:
        """One look at every service: notice exits, restart those whose backoff is over, and
        finish the restarts whose health passed (or give them up at their deadline)."""
        for s in self._supervised:
            if s.phase is _Phase.WAITING:
                if time.monotonic() >= s.due:
                    self._restart(s)
                continue
            code = s.process.exit_code
            if code is not None:
                self._failed(s, "exited", exit_reason(code))
            elif s.phase is _Phase.STARTING:
                self._finish_restart(s)

    def _restart(self, s: _Supervised) -> None:
        s.record = replace(s.record, restarts=s.record.restarts + 1, next_restart_at=None)
        write_record(self.run_dir, s.record)
        try:
            s.process.start()
        except Exception as e:  # prepare() or late_args() may need a service that is down too
            self._failed(s, "could not be started", f"{type(e).__name__}: {e}")
            return
        s.phase = _Phase.STARTING
        s.due = time.monotonic() + s.process.spec.startup_timeout

    def _finish_restart(self, s: _Supervised) -> None:
        name = s.process.spec.name
        try:
            s.process.check_ready()
        except Exception as e:
            if time.monotonic() >= s.due:
                s.process.stop()
                timeout = s.process.spec.startup_timeout
                self._failed(s, "failed", f"not healthy within {timeout:.0f}s: {e}")
            return
        for hook in s.hooks:
            self._say(f"running {hook.name} again after the {name} restart ...")
            try:
                hook.run()
            except Exception as e:  # the service is of no use without it: try it all again
                s.process.stop()
                self._failed(s, "failed", f"{hook.name} failed: {type(e).__name__}: {e}")
                return
        s.phase = _Phase.RUNNING
        s.running_since = time.monotonic()
        self._say(f"{name} running again (pid {s.process.pid}, restart {s.record.restarts})")

    def _failed(self, s: _Supervised, what: str, reason: str) -> None:
        """Record an exit (or a given-up restart), clear what is left of the process group,
        and schedule the next start after the backoff."""
        process = s.process
        up_for = time.monotonic() - s.running_since if s.phase is _Phase.RUNNING else 0.0
        s.failures = 1 if up_for >= self.backoff.reset_after else s.failures + 1
        delay = self.backoff.delay(s.failures)
        if process.pid is not None:
            # Children of a killed leader keep its group (and maybe its ports): not theirs now.
            pids.stop_groups([process.pid], process.spec.stop_grace, process.reap)
        process.note(f"{what} ({reason})")
        s.record = replace(
            s.record,
            last_exit=reason,
            last_exit_at=utc_stamp(),
            next_restart_at=utc_stamp(time.time() + delay),
        )
        write_record(self.run_dir, s.record)
        s.phase = _Phase.WAITING
        s.due = time.monotonic() + delay
        self._say(
            f"{process.spec.name} {what} ({reason}); "
            f"restarting in {delay:g} s, restart {s.record.restarts + 1}"
        )

    def _say(self, line: str) -> None:
        """Supervision lines carry the time: they come long after the start-up lines."""
        self.echo(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}")

    def stop(self) -> None:
        """Stop the services (concurrently), then broker and ClickHouse, within ~10 s.

        A service waiting out its backoff has no process to stop and is not started again;
        one being restarted is stopped like the others.
        """
        apps = [p for p in self.processes if not p.spec.infrastructure]
        infra = [p for p in self.processes if p.spec.infrastructure]
        for wave, grace in ((apps, APP_STOP_GRACE), (infra, INFRA_STOP_GRACE)):
            running = [p for p in wave if p.running]
            if running:
                self.echo(f"stopping {', '.join(p.spec.name for p in running)} ...")
            stop_all(wave, grace)
        for process in self.processes:
            record_path(self.run_dir, process.spec.name).unlink(missing_ok=True)
        self.processes.clear()
        self._supervised.clear()

    def endpoints(self) -> list[tuple[str, str]]:
        return [(p.spec.name, p.spec.endpoint) for p in self.processes]
