"""What the fleet's Vigil routes share: the caller (set by the signature check) and the fleet's refusals
answered as Inspector's errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from vigil.api.context import Caller
from vigil.api.errors import (
    AccessDeniedException,
    ConflictException,
    FieldProblem,
    ResourceNotFoundException,
    ValidationException,
)
from vigil.fleet.providers import ProviderError
from vigil.scanning.filters import FilterError
from vigil.scanning.operations import NotScannable
from vigil.scanning.scans import ScanConflict

ACCOUNT_ID = r"^\d{12}$"


@contextmanager
def refusals(field: str = "path") -> Iterator[None]:
    """The fleet's refusals as Inspector's errors; `field` names the member a `ProviderError` is about."""
    try:
        yield
    except LookupError as exc:
        raise ResourceNotFoundException(str(exc).strip("'\"")) from None
    except FilterError as exc:
        raise _invalid(exc.field, exc.message) from None
    except ProviderError as exc:
        raise _invalid(field, str(exc)) from None
    except ScanConflict as exc:
        raise ConflictException(str(exc), resource_id=exc.scan_id, resource_type="SCAN") from None
    except NotScannable as exc:
        raise ConflictException(
            str(exc), resource_id=exc.instance_id, resource_type="AWS_EC2_INSTANCE"
        ) from None


def visible_account(caller: Caller, account_id: str | None) -> str:
    """The account a request names (`accountId`, else the caller's own), if the caller may see it."""
    account = account_id or caller.account_id
    if not caller.may_see(account):
        raise AccessDeniedException(f"account {account} is neither the caller nor one of its members")
    return account


def _invalid(field: str, message: str) -> ValidationException:
    return ValidationException(
        f"{field}: {message}", reason="FIELD_VALIDATION_FAILED", fields=(FieldProblem(field, message),)
    )
