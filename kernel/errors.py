"""The one exception root of channelhub.

    ChannelhubError
    ├── ConfigError            settings or a file the user gave are wrong
    ├── PrerequisiteError      a program or package the platform needs is missing
    ├── ServiceError           a service did not start, stopped, or did not become healthy
    └── StorageError           ClickHouse refused a statement (wraps the driver's error)

Every message says what was found, what was expected and how to fix it, because these reach
operators on the command line as one line.
"""


class ChannelhubError(Exception):
    """Root of every error channelhub raises on purpose."""


class ConfigError(ChannelhubError):
    """A setting or a user-supplied file is invalid."""


class PrerequisiteError(ChannelhubError):
    """Something the platform needs is not installed; the message says how to install it."""


class ServiceError(ChannelhubError):
    """A managed service failed to start, died, or did not report healthy in time."""


class StorageError(ChannelhubError):
    """ClickHouse rejected a statement or could not be reached."""
