"""The one settings object of every channelhub process.

Read from the environment (prefix ``CHANNELHUB_``, e.g. ``CHANNELHUB_KAFKA_BOOTSTRAP``) or a
``.env`` file, once, at the entry point, then passed down. Defaults are the local platform's, so
``channelhub up`` needs no configuration.

Secrets fail closed. ``development`` may use the shipped placeholders, but binds only loopback
addresses, so a development stack is never reachable from another machine. Outside it
(``test``, ``production``) every process refuses to start with an empty, placeholder or short
secret among those it uses (:meth:`Settings.refuse_weak_secrets`, called at start-up by
:mod:`kernel.startup`).
"""

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kernel.errors import ConfigError

DEV_PSEUDONYM_KEY = "local-development-pseudonym-key"
DEV_COLLECTOR_TOKEN = "local-development-token"
DEV_DASHBOARD_SECRET_KEY = "local-development-dashboard-secret"
DEV_DASHBOARD_CLICKHOUSE_PASSWORD = "local-development-dashboard-password"
DEV_CALLBACK_TOKEN = "local-development-callback-token"

#: Every placeholder secret the code ships: none of them is accepted outside development.
PLACEHOLDERS = frozenset(
    {
        DEV_PSEUDONYM_KEY,
        DEV_COLLECTOR_TOKEN,
        DEV_DASHBOARD_SECRET_KEY,
        DEV_DASHBOARD_CLICKHOUSE_PASSWORD,
        DEV_CALLBACK_TOKEN,
    }
)
#: The shortest secret accepted outside development (256 bits when it is random).
MIN_SECRET_BYTES = 32

#: The secrets a process may need; each process names those it uses.
SecretName = Literal[
    "pseudonym_key", "collector_token", "sms_callback_token", "dashboard_secret_key"
]
#: The settings that name an address a process listens on.
BIND_HOSTS = ("collector_host", "dashboard_host", "dispatcher_web_host")


class CollectorClient(BaseModel, frozen=True):
    """One channel system's identity at the collector (:mod:`channelhub.ingest.identities`)."""

    token: SecretStr
    #: The channels whose events this client may send, e.g. ``["ivr"]``.
    channels: tuple[str, ...] = Field(min_length=1)
    #: Events per second on average, and the most at once.
    per_second: float = Field(1000.0, gt=0)
    burst: int = Field(10_000, ge=1)


class Settings(BaseSettings):
    """Where the services are, what the topics are called, and how hard to batch."""

    model_config = SettingsConfigDict(
        env_prefix="CHANNELHUB_", env_file=".env", extra="ignore", env_parse_none_str="null"
    )

    environment: Literal["development", "test", "production"] = "development"
    state_dir: Path = Field(Path(".state"), description="data, logs and pid files of `up`")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:19092"
    topic_raw: str = "channel.events.raw"
    topic_events: str = "channel.events"
    topic_dlq: str = "channel.events.dlq"
    topic_nudges_requested: str = "nudges.requested"
    topic_nudges_decisions: str = "nudges.decisions"
    topic_nudges_outbound: str = "nudges.outbound"
    #: The nudge stage's changelog: per-subscriber state and per-partition checkpoints, with
    #: the partition count of ``topic_events`` (changelog partition p belongs to events p).
    topic_nudges_state: str = "channelhub.nudges.state"
    #: What the dispatcher handed to the gateway (or why it could not): one record per nudge.
    topic_nudges_dispatches: str = "nudges.dispatches"
    #: Delivery receipts from the gateway, one per SMS part.
    topic_nudges_receipts: str = "nudges.receipts"
    #: Goals reached by sent and holdout subscribers: the raw material of uplift.
    topic_nudges_conversions: str = "nudges.conversions"
    #: Opt-outs (and their scope) as the nudge stage recorded them.
    topic_nudges_optouts: str = "nudges.optouts"
    #: Contacts the nudge stage counts as they begin, and sessions found re-contacted.
    topic_contacts: str = "channel.contacts"
    #: IVR calls the nudge stage summarises once they are over, and self-service calls
    #: found re-contacted.
    topic_calls: str = "ivr.calls"
    #: SMS confirmation dialogues the nudge stage summarises once they are over.
    topic_dialogues: str = "sms.dialogues"
    #: Campaign fan-out: audience chunks, each on the events partition of its subscribers.
    topic_campaign_requests: str = "campaigns.requests"
    #: Campaign lifecycle events: created, triggered (the trigger is an event).
    topic_campaigns: str = "campaigns.events"
    #: Queue alerts opened and cleared (``python -m dashboards.alerts``): one record each.
    topic_alerts: str = "alerts.events"
    #: Alert rules changed or reset on the queue page, keyed by rule: the newest one applies.
    topic_alert_rules: str = "alerts.rules"
    #: The service catalogue: entries seeded, opening and retirement requests and their steps.
    topic_catalogue: str = "channel.catalogue"
    #: Published content: every version of every SMS template and web-hall text, and its reviews.
    topic_content: str = "channel.content"
    topic_partitions: int = Field(4, ge=1, le=256)
    #: Tansu answers JoinGroup only after half the session timeout: short means fast starts.
    kafka_session_timeout_ms: int = Field(6000, ge=1000)
    #: How long a stage's fetch may wait for data. Tansu answers a fetch only when this
    #: expires, not when data arrives, so every hop of a nudge costs up to this much.
    kafka_fetch_max_wait_ms: int = Field(20, ge=1, le=500)
    group_prefix: str = Field(
        "channelhub", description="consumer groups: <prefix>-validate, <prefix>-sink"
    )
    #: Topic lifecycles (each topic's is in :mod:`schemas.registry`). How long the raw and
    #: canonical events and the dead letters are kept: how far back ``channelhub rebuild``
    #: and ``channelhub dlq redrive`` reach.
    kafka_replay_horizon_hours: float = Field(14 * 24.0, gt=0)
    #: How long every other topic of events is kept.
    kafka_retention_hours: float = Field(7 * 24.0, gt=0)
    #: How long a compacted topic's record stays before a newer one of its key may replace it
    #: (``min.compaction.lag.ms``). Longer than the nudge stage may stay down: the changelog
    #: records of a batch it never finished must not replace the checkpointed ones before the
    #: stage has processed that batch again (:mod:`streams.state_store`).
    kafka_compaction_lag_hours: float = Field(24.0, gt=0)

    # ClickHouse (native protocol)
    clickhouse_host: str = "127.0.0.1"
    clickhouse_port: int = 19000
    clickhouse_http_port: int = 18123
    clickhouse_database: str = "channelhub"
    clickhouse_user: str = "default"
    clickhouse_password: SecretStr = SecretStr("")
    #: A cluster of the servers' ``remote_servers`` to lay the tables out on
    #: (:mod:`sinks.migrations.cluster`): every DDL runs ``ON CLUSTER <name>``, and each
    #: MergeTree table ``x`` becomes ``x_local`` on every shard behind a Distributed table
    #: ``x``. None: one server, plain tables.
    clickhouse_cluster: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    #: With a cluster: whether the shards' tables are Replicated (each shard has replicas
    #: kept in step through ZooKeeper or Keeper), or plain MergeTree (one server per shard).
    clickhouse_replicated: bool = True
    #: Where a Replicated table keeps its state in ZooKeeper or Keeper:
    #: ``<prefix>/{shard}/<database>/<table>_local``, ``{shard}`` a macro of each server.
    clickhouse_zookeeper_prefix: str = Field(
        "/clickhouse/tables", pattern=r"^(/[A-Za-z0-9_.{}-]+)+$"
    )

    # Personal data: MSISDNs are stored only as keyed pseudonyms (kernel.pseudonym).
    pseudonym_key: SecretStr = SecretStr(DEV_PSEUDONYM_KEY)
    #: The id of ``pseudonym_key``: every pseudonym names the key it was made under
    #: (``k<id>.<hex>``). Raise it when the key rotates (``channelhub pseudonyms rotate``).
    pseudonym_key_id: int = Field(1, ge=1, le=99_999)
    #: The keys used before ``pseudonym_key``, by id, as JSON: ``{"1": "<old key>"}``. New
    #: pseudonyms are chained through them, so a retired key is never removed. They are not
    #: held to the rules for secrets: rotating away from a weak or leaked key is what they are
    #: for, and the active key alone keeps a pseudonym from being linked to its number.
    pseudonym_retired_keys: dict[int, SecretStr] = Field(default_factory=dict)

    #: How far ahead of its receive time an event's ``occurred_at`` may be: the collector and
    #: the validation stage refuse later ones (``in_future``), and no stage's event-time
    #: watermark runs further ahead of the wall clock than this.
    clock_skew_seconds: float = Field(300.0, ge=0, le=86_400)

    # Stream worker
    worker_web_port: int = 16066
    nudger_web_port: int = 16067
    campaigns_web_port: int = 16069
    #: The wait predictor (``--stage waits``): its web port, and the span of event time its
    #: estimates of each agent queue (arrivals, agents, handle time, patience) average over,
    #: with exponentially decaying weights.
    waits_web_port: int = 16070
    queue_wait_window_seconds: float = Field(900.0, ge=60, le=86_400)
    worker_batch_size: int = Field(2000, ge=1)
    worker_batch_seconds: float = Field(0.2, gt=0)
    #: The SMS gateway's rate in nudges per second of event time, shared out evenly over the
    #: partitions of ``topic_events`` (each partition keeps its own token bucket).
    nudge_rate_per_second: float = Field(50.0, gt=0)
    #: Rule files the nudge stage loads, and re-reads while running (hot reload): a file that
    #: fails validation is reported and the rule's previous version keeps running.
    rules_dir: Path | None = Field(None, description="default: the shipped rules")
    rules_reload_seconds: float = Field(5.0, gt=0)
    #: The dispatcher (``--stage dispatch``): approved nudges → the SMS gateway. Its web
    #: server also takes the webhook gateway's receipt and reply callbacks, so a deployment
    #: whose aggregator calls back from outside binds it to 0.0.0.0.
    dispatcher_web_host: str = "127.0.0.1"
    dispatcher_web_port: int = 16068
    sms_gateway: Literal["file", "webhook", "smpp"] = Field(
        "file", description="file: one JSON line per SMS in <state_dir>/sms/outbox.jsonl"
    )
    #: Nudges waiting for the gateway's answer at once.
    dispatch_concurrency: int = Field(32, ge=1)
    #: How long one nudge is retried against a gateway that is down before its batch is
    #: given back (offsets not committed) and fetched again after a pause.
    dispatch_deadline_seconds: float = Field(60.0, gt=0)
    #: How long the send journal (``<state_dir>/dispatch/journal``) remembers a nudge after its
    #: last entry, in the journal's own time (a stopped dispatcher forgets nothing): a record
    #: of it fetched again within this is answered from the journal. About 450 B each in memory.
    dispatch_journal_retention_hours: float = Field(6.0, gt=0)
    sms_gateway_timeout_seconds: float = Field(10.0, gt=0)
    sms_webhook_url: str = Field("", description="the aggregator's POST endpoint")
    #: Sent as ``Authorization: Bearer`` to the aggregator when set.
    sms_webhook_token: SecretStr = SecretStr("")
    #: Required as ``Authorization: Bearer`` on the aggregator's callbacks; without one every
    #: callback is refused.
    sms_callback_token: SecretStr = SecretStr(DEV_CALLBACK_TOKEN)
    sms_smpp_host: str = "127.0.0.1"
    sms_smpp_port: int = 2775
    sms_smpp_system_id: str = "channelhub"
    sms_smpp_password: SecretStr = SecretStr("")
    sms_smpp_system_type: str = ""
    sms_smpp_bind: Literal["transceiver", "transmitter"] = "transceiver"
    sms_smpp_source_addr: str = Field("10086", description="the number our SMS come from")

    # ClickHouse sink
    sink_batch_size: int = Field(20_000, ge=1)
    sink_flush_seconds: float = Field(0.5, gt=0)
    #: How long a sink that is behind (the rest of a full batch already waits in its topics)
    #: may hold rows past ``sink_flush_seconds`` to write one full insert instead of several
    #: small ones; a caught-up sink still writes every ``sink_flush_seconds``.
    sink_catch_up_seconds: float = Field(5.0, gt=0)
    sink_dedupe_window: int = Field(500_000, ge=0, description="recent ids kept per sink")
    #: How far back from a table's newest row a sink reloads the ids it must not write again
    #: when partitions are assigned (at most ``sink_dedupe_window`` of them). Older duplicates
    #: are still dropped: the sink looks them up in ClickHouse (see sinks/dedupe.py).
    sink_dedupe_horizon_seconds: float = Field(3600.0, ge=0)

    # HTTP collector
    collector_host: str = "127.0.0.1"
    collector_port: int = 18088
    collector_token: SecretStr = SecretStr(DEV_COLLECTOR_TOKEN)
    #: One token per channel system, as JSON: ``{"ivr-platform": {"token": "...", "channels":
    #: ["ivr"], "per_second": 500, "burst": 5000}}``. Empty: ``collector_token`` may send
    #: every channel at the default rate below.
    collector_clients: dict[str, CollectorClient] = Field(default_factory=dict)
    collector_default_per_second: float = Field(100_000.0, gt=0)
    collector_default_burst: int = Field(200_000, ge=1)
    collector_max_body_bytes: int = Field(5 * 1024 * 1024, ge=1024)

    # Dashboard
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 18050
    #: gunicorn worker processes of the dashboard, each with eight threads. More than one is
    #: possible (sessions and sign-in failures are shared) but not yet proven by the browser
    #: tests, which load pages slower and sometimes not at all with two workers on two cores.
    dashboard_workers: int = Field(1, ge=1)
    dashboard_refresh_seconds: float = Field(5.0, gt=0)
    #: The queue's service-level definition and alert rules, read by the queue page and by
    #: the alert evaluator (``python -m dashboards.alerts``), which re-reads it every round.
    alert_rules_file: Path | None = Field(
        None, description="default: dashboards/alerts/config/queue.toml"
    )
    alert_evaluate_seconds: float = Field(5.0, gt=0)
    #: Each opened or cleared alert is POSTed here as JSON when set; a failure is logged only.
    alert_webhook_url: str = ""
    alert_webhook_timeout_seconds: float = Field(5.0, gt=0)
    #: Signs the dashboard's session cookie: whoever knows it can sign in as anyone.
    dashboard_secret_key: SecretStr = SecretStr(DEV_DASHBOARD_SECRET_KEY)
    #: Dashboard users, their roles and salted password hashes (TOML). The default is the
    #: shipped development users, refused in production.
    dashboard_users_file: Path | None = Field(None, description="default: dashboards/users.toml")
    #: Who holds which role in opening and retiring services (TOML), checked before a request
    #: or a step is written.
    catalogue_staff_file: Path | None = Field(
        None, description="default: orchestration/catalogue/config/staff.toml"
    )
    #: The dashboard reads ClickHouse as this user, read-only on the server, so a bug or a
    #: forged request in the web process can never change data.
    dashboard_clickhouse_user: str = "dashboard"
    dashboard_clickhouse_password: SecretStr = SecretStr(DEV_DASHBOARD_CLICKHOUSE_PASSWORD)
    #: Server-side time limit of every dashboard query (the read-only user's profile).
    dashboard_query_seconds: int = Field(10, ge=1)
    #: Most rows one dashboard query may return (the read-only user's profile): more is an
    #: error, not a truncated answer.
    dashboard_result_rows: int = Field(1_000_000, ge=1)
    #: Most events one query of a back-test reads (``channelhub rules backtest`` and the
    #: campaigns page alike): well inside ``dashboard_result_rows``, and a page is held in
    #: memory while it is folded (some 50 MB at the default).
    backtest_page_rows: int = Field(50_000, ge=1)

    # Simulated handsets (``python -m channelhub.simulator.handsets``)
    #: Share of sent nudges the simulated subscribers act on: the conversion rate that
    #: attribution should measure.
    handset_response_probability: float = Field(0.3, ge=0, le=1)
    #: Which subscribers answer which nudge, and how: the same seed, the same answers.
    handset_seed: int = 0

    @model_validator(mode="after")
    def _development_binds_only_loopback(self) -> "Settings":
        if self.environment == "development":
            for name in BIND_HOSTS:
                host = getattr(self, name)
                if not _is_loopback(host):
                    raise ValueError(
                        f"{name} is {host!r}, but development listens on loopback addresses "
                        f"only: set CHANNELHUB_{name.upper()}=127.0.0.1, or run as production "
                        "with secrets of your own"
                    )
        late = sorted(i for i in self.pseudonym_retired_keys if i >= self.pseudonym_key_id)
        if late:
            raise ValueError(
                f"pseudonym_retired_keys has ids {late}, not below pseudonym_key_id "
                f"{self.pseudonym_key_id}: the active key's id must be the highest; set "
                "CHANNELHUB_PSEUDONYM_KEY_ID above every retired key's id"
            )
        if self.dashboard_clickhouse_user == self.clickhouse_user:
            raise ValueError(
                f"dashboard_clickhouse_user and clickhouse_user are both "
                f"{self.clickhouse_user!r}; the dashboard needs its own read-only user: set "
                "CHANNELHUB_DASHBOARD_CLICKHOUSE_USER to another name"
            )
        return self

    def refuse_weak_secrets(self, *names: SecretName) -> None:
        """Outside development, refuse each of ``names`` when empty, a shipped placeholder, or
        shorter than :data:`MIN_SECRET_BYTES` (each client token, for ``collector_token``
        when clients are configured)."""
        if self.environment == "development":
            return
        secrets: list[tuple[str, str, str]] = [
            (name, getattr(self, name).get_secret_value(), f"CHANNELHUB_{name.upper()}")
            for name in dict.fromkeys(names)
            if not (name == "collector_token" and self.collector_clients)
        ]
        if "collector_token" in names:
            secrets += [
                (f"the token of collector client {client!r}", c.token.get_secret_value(),
                 "its token in CHANNELHUB_COLLECTOR_CLIENTS")
                for client, c in self.collector_clients.items()
            ]  # fmt: skip
        for name, value, where in secrets:
            problem = _weakness(value)
            if problem is not None:
                raise ConfigError(
                    f"{name} is {problem}; set {where} to a random secret of at least "
                    f"{MIN_SECRET_BYTES} bytes (python -c 'import secrets; "
                    "print(secrets.token_urlsafe(32))')"
                )

    def check_dashboard_secrets(self) -> None:
        """Outside development, refuse the dashboard's weak session secret and its read-only
        ClickHouse user's placeholder password (the users are checked by
        :func:`dashboards.auth.refuse_development_users`).

        Called by the dashboard only: the other services never use these, and a worker should
        not need the dashboard's session key to start.
        """
        if self.environment == "development":
            return
        self.refuse_weak_secrets("dashboard_secret_key")
        password = self.dashboard_clickhouse_password.get_secret_value()
        if not password or password in PLACEHOLDERS:
            raise ConfigError(
                "dashboard_clickhouse_password is empty or the development placeholder; set "
                "CHANNELHUB_DASHBOARD_CLICKHOUSE_PASSWORD to a secret of your own"
            )

    @cached_property
    def collector_url(self) -> str:
        return f"http://{self.collector_host}:{self.collector_port}"

    @cached_property
    def dashboard_url(self) -> str:
        return f"http://{self.dashboard_host}:{self.dashboard_port}/"


def _weakness(secret: str) -> str | None:
    """Why ``secret`` is too weak to run outside development, or None."""
    if not secret:
        return "empty"
    if secret in PLACEHOLDERS:
        return "the development placeholder"
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return f"{len(secret.encode())} bytes long"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
