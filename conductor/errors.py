"""Every error Conductor raises on purpose, and the exit code each one maps to.

    ConductorError                 base; never raised itself            exit 1
    ├── UsageError                 bad command grammar or CLI options  exit 2
    ├── ConfigError                bad .mothership/config.json         exit 2
    ├── JournalError               the journal cannot be read/written  exit 1
    ├── LockHeldError              another process holds the service   exit 2
    ├── PlatformError              the platform failed an action       exit 1
    │   └── NotReadyError          a version never became ready        exit 1
    ├── MetricsError               the metrics source failed           exit 1
    └── ModelError                 the brain failed (API, budget)      exit 1

A *refusal* by a guard is not an exception: it is a structured tool result the brain can read and
act on. Exceptions are for things that stop the command; their message is what the user sees, so
it names what is wrong and where.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_ROLLED_BACK = 3
EXIT_REFUSED = 4  # a freeze (or another standing rule) refused the command before anything changed
EXIT_PAUSED = 5  # `conductor status`: the orchestration waits for a person's approval
EXIT_IN_PROGRESS = 6  # `conductor status`: still in flight (with --wait: the timeout came first)
EXIT_BRAIN_STOPPED = 7  # the brain ended its turns with work due and no person asked (`--model policy` finishes)


class ConductorError(Exception):
    """Base of every deliberate Conductor error."""

    exit_code = EXIT_ERROR


class UsageError(ConductorError):
    """The command or its options are malformed; nothing was changed."""

    exit_code = EXIT_USAGE


class ConfigError(ConductorError):
    """The config file is missing, unreadable or invalid; nothing was changed.

    The message names the file, the JSON path and the problem, e.g.
    ``.mothership/config.json: orchestration.rollbackThreshold.errorRate: must be >= 0``.
    """

    exit_code = EXIT_USAGE


class JournalError(ConductorError):
    """The journal database cannot be opened, read or written."""


class LockHeldError(ConductorError):
    """Another live process is orchestrating the same service right now."""

    exit_code = EXIT_USAGE


class PlatformError(ConductorError):
    """The platform could not carry out an action (a platform failure, not a bad release)."""


class NotReadyError(PlatformError):
    """A deployed version did not become ready in time; traffic was not touched."""


class MetricsError(ConductorError):
    """The metrics source could not be queried."""


class ModelError(ConductorError):
    """The brain failed: API error after retries, refusal, or budget exhausted."""
