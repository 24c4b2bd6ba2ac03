"""Every exception finetune-advisor raises on purpose. Each message says what was wrong and what
would be accepted, so the server and the CLI pass `str(err)` on unchanged.

    AdvisorError                      anything anticipated; anything else is a bug
    ├── InvalidInputError             an argument outside what a tool accepts (names the field)
    ├── ArgumentError                 arguments that do not match a tool's input schema (the server's check)
    ├── ConfigurationError            an environment variable or start-up option that cannot be used
    ├── ServeError                    the server cannot start where it was asked to (a taken port)
    ├── UnknownModelError             a model neither the catalog nor the Hub knows
    ├── UnknownLicenseError           a licence id the project has no clause data for
    ├── DataError                     packaged or cached data that fails validation
    ├── CacheWriteError               a cache file that cannot be written
    ├── HubError                      the Hugging Face Hub could not answer
    │   └── HubNotFoundError          it answered: no such repo or file
    └── DocsUnavailableError          the docs' answer service could not answer
        ├── DocsTransientError        a failure worth another attempt (timeout, 429, 5xx)
        ├── DocsUnreachableError      no connection at all (DNS, refused, unreachable): not retried
        └── DocsReplyError            it replied, but not with an answer

The server turns an `AdvisorError` into an MCP error carrying this text (`server/app.py`,
`to_mcp_error`); the CLI prints it on stderr with its own flag names and exits 2 for what the user
typed wrong (InvalidInputError, ArgumentError, UnknownLicenseError, ConfigurationError), 1 for the
rest (`server/cli.py`).
"""

from __future__ import annotations

from collections.abc import Iterable


class AdvisorError(Exception):
    """Base of every anticipated error; `str(err)` is written for the user or model."""


class InvalidInputError(AdvisorError, ValueError):
    """An argument outside what the tool accepts."""

    def __init__(self, field: str, problem: str, accepted: str) -> None:
        self.field = field
        self.accepted = accepted
        super().__init__(f"Invalid '{field}': {problem}. Accepted: {accepted}.")


class ArgumentError(AdvisorError, ValueError):
    """Arguments that do not match a tool's input schema; the text names the field and what is accepted."""


class ConfigurationError(AdvisorError):
    """A setting (environment variable or start-up option) that cannot be used as given."""


class ServeError(AdvisorError):
    """The server cannot listen where it was asked to: the port is taken or the host does not resolve."""


class UnknownModelError(AdvisorError, LookupError):
    """A model reference found neither in the catalog nor on the Hub."""

    def __init__(self, ref: str, reason: str, suggestions: Iterable[str] = (), field: str = "model") -> None:
        self.field = field
        self.ref = ref
        self.suggestions = list(suggestions)
        text = f"Unknown '{field}' {ref!r}: {reason}."
        if self.suggestions:
            text += " Closest catalog ids: " + ", ".join(self.suggestions) + "."
        text += " Accepted: a catalog id or alias (see the catalog://models resource) or a Hugging Face repo id."
        super().__init__(text)


class UnknownLicenseError(AdvisorError, LookupError):
    """A licence id the project has no data for."""


class DataError(AdvisorError):
    """Packaged or cached data that fails validation."""


class CacheWriteError(AdvisorError):
    """A file under the cache directory that cannot be written."""


class HubError(AdvisorError):
    """The Hugging Face Hub could not answer (offline, timeout, HTTP error)."""


class HubNotFoundError(HubError):
    """The Hub answered that the repo (or the file asked for) does not exist."""


class DocsUnavailableError(AdvisorError):
    """The docs endpoint could not answer."""


class DocsTransientError(DocsUnavailableError):
    """A failure worth another attempt; `retry_after` is the server's wish in seconds, if it said."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class DocsUnreachableError(DocsUnavailableError):
    """No connection to the docs host (its name does not resolve, or nothing answers): another attempt
    within seconds would fail the same way, so it is not retried and is remembered for a while."""


class DocsReplyError(DocsUnavailableError):
    """The docs replied, but not with an answer. `kind`: no_answer, no_question, html or unexpected."""

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(reason)
