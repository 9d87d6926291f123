"""What the findings service refuses, as data the API turns into Inspector's errors."""

from __future__ import annotations


class FindingsServiceError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(FindingsServiceError):
    """A member of the request is wrong: `member` names it as the model does (`filterCriteria.severity`)."""

    def __init__(self, member: str, message: str) -> None:
        super().__init__(f"{member}: {message}")
        self.member = member


class NotFound(FindingsServiceError):
    """No such resource among those the caller may see (another account's is not found either)."""


class QuotaExceeded(FindingsServiceError):
    """The caller has as many of these as an account may have."""
