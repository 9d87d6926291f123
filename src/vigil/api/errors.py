"""Inspector's errors: what a handler raises, so that boto3 raises `ClientError` with Inspector's code.

The protocol layer turns each into the model's error shape (HTTP status, `x-amzn-ErrorType`, JSON body with
`message` and, for `ValidationException`, `reason` and `fields`).
"""

from __future__ import annotations

from dataclasses import dataclass


class InspectorError(Exception):
    """An error of Inspector's model; `code` is the shape's name, `status` its HTTP status."""

    code = "InternalServerException"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One member of the request that is wrong (`ValidationExceptionField`)."""

    name: str
    message: str


class ValidationException(InspectorError):
    code = "ValidationException"
    status = 400

    def __init__(self, message: str, *, reason: str = "OTHER", fields: tuple[FieldProblem, ...] = ()) -> None:
        super().__init__(message)
        self.reason = reason  # CANNOT_PARSE | FIELD_VALIDATION_FAILED | OTHER
        self.fields = fields


class AccessDeniedException(InspectorError):
    code = "AccessDeniedException"
    status = 403


class ResourceNotFoundException(InspectorError):
    code = "ResourceNotFoundException"
    status = 404


class ConflictException(InspectorError):
    code = "ConflictException"
    status = 409

    def __init__(self, message: str, *, resource_id: str = "", resource_type: str = "") -> None:
        super().__init__(message)
        self.resource_id = resource_id
        self.resource_type = resource_type


class ServiceQuotaExceededException(InspectorError):
    code = "ServiceQuotaExceededException"
    status = 402

    def __init__(self, message: str, *, resource_id: str = "") -> None:
        super().__init__(message)
        self.resource_id = resource_id


class ThrottlingException(InspectorError):
    code = "ThrottlingException"
    status = 429


class BadRequestException(InspectorError):
    code = "BadRequestException"
    status = 400
