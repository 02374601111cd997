"""The local platform: real servers run as plain processes, started and stopped by channelhub.

No Docker engine runs on the development machines, so ``channelhub up`` starts the Tansu
broker, ClickHouse and the Python services itself, and stops them by PID.

    prereqs     where the programs are, and how to install them when they are not
    process     one service: a spec (argv, env, health) and a managed process (pid file, log)
    pids        pid files with start times, liveness from /proc, stopping process groups
    health      TCP and HTTP probes for specs
    broker      Tansu: spec, health, topic creation
    topics      each topic's configs (cleanup, retention), from its lifecycle and the settings
    clickhouse  clickhouse-server: config rendering, spec, health
    stack       the ordered services of ``up``, the steps between them, restarting those that exit
    restarts    the backoff between restarts, and each service's restart record for ``status``
    commands    ``up``, ``down``, ``status``
    supervisor  the background process behind ``up --detach``
    env         a Settings object as CHANNELHUB_* environment variables for child processes
"""

from channelhub.platform.env import settings_env

__all__ = ["settings_env"]
