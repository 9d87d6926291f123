"""Inspector's errors: what a handler raises, so that boto3 raises `ClientError` with Inspector's code.

The protocol layer turns each into the model's error shape (HTTP status, `x-amzn-ErrorType`, JSON body with
`message` and, for `ValidationException`, `reason` and `fields`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class InspectorError(Exception):
    """An error of Inspector's model; `code` is the shape's name, `status` its HTTP status."""

    code = "InternalServerException"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def members(self) -> dict[str, Any]:
        """The members of the error's shape in the model."""
        return {"message": self.message}


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

    @classmethod
    def of_field(cls, name: str, message: str) -> ValidationException:
        """One member of the request is wrong: `message` says how."""
        return cls(
            f"{name}: {message}", reason="FIELD_VALIDATION_FAILED", fields=(FieldProblem(name, message),)
        )

    def members(self) -> dict[str, Any]:
        fields = [{"name": f.name, "message": f.message} for f in self.fields]
        return {**super().members(), "reason": self.reason, "fields": fields or None}


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

    def members(self) -> dict[str, Any]:
        return {**super().members(), "resourceId": self.resource_id, "resourceType": self.resource_type}


class ServiceQuotaExceededException(InspectorError):
    code = "ServiceQuotaExceededException"
    status = 402

    def __init__(self, message: str, *, resource_id: str = "") -> None:
        super().__init__(message)
        self.resource_id = resource_id

    def members(self) -> dict[str, Any]:
        return {**super().members(), "resourceId": self.resource_id}


class ThrottlingException(InspectorError):
    code = "ThrottlingException"
    status = 429


class BadRequestException(InspectorError):
    code = "BadRequestException"
    status = 400


class UnknownOperationException(InspectorError):
    """A method and path that are no operation of Inspector's model."""

    code = "UnknownOperationException"
    status = 404


class PayloadTooLargeException(InspectorError):
    code = "RequestEntityTooLargeException"
    status = 413


class RequestTimeoutException(InspectorError):
    code = "RequestTimeoutException"
    status = 408


# the signing layer's errors, as AWS's front door answers them (not in the service's model)


class MissingAuthenticationTokenException(InspectorError):
    code = "MissingAuthenticationTokenException"
    status = 403


class IncompleteSignatureException(InspectorError):
    code = "IncompleteSignatureException"
    status = 400


class InvalidSignatureException(InspectorError):
    code = "InvalidSignatureException"
    status = 403


class UnrecognizedClientException(InspectorError):
    code = "UnrecognizedClientException"
    status = 403
