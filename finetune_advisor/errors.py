"""The errors a caller can act on. Each message says what was wrong and what would be accepted.

The server turns every `AdvisorError` into an MCP `ToolError` with this text; the CLI prints it
on stderr and exits 1. Anything else is a bug.
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


class HubError(AdvisorError):
    """The Hugging Face Hub could not answer (offline, timeout, HTTP error)."""


class DocsUnavailableError(AdvisorError):
    """The docs endpoint could not answer."""


class CatalogError(AdvisorError):
    """Packaged or cached data that fails validation."""
