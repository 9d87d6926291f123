"""Input checked against the operation's input shape with botocore's own `ParamValidator`.

botocore checks what a client can check (types, required members, unknown members, minimums); a service
also refuses what is above a maximum, outside an enum, or not matching a pattern, so those are added here
the way botocore reports the others. A failure is Inspector's `ValidationException` with `fields`.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from botocore.model import Shape
from botocore.validate import ParamValidator, ValidationErrors

from vigil.api.errors import FieldProblem, ValidationException

MAX_SHOWN = 80  # characters of a refused value quoted back


class _Collected(ValidationErrors):  # type: ignore[misc]
    def report(self, name: str, reason: str, **kwargs: Any) -> None:
        if (
            "param" in kwargs
            and isinstance(kwargs["param"], str | bytes)
            and len(kwargs["param"]) > MAX_SHOWN
        ):
            kwargs["param"] = kwargs["param"][:MAX_SHOWN] + "…"  # type: ignore[operator]
        super().report(name, reason, **kwargs)

    def _format_error(self, error: tuple[str, str, dict[str, Any]]) -> str:
        reason, name, details = error
        name = self._get_name(name)
        prefix = f"Invalid {details.get('what', 'value')} for parameter {name}, value: {details.get('param')}"
        if reason == "above maximum":
            return f"{prefix}, valid max {details['what']}: {details['max_allowed']}"
        if reason == "not in enum":
            return f"{prefix}, valid values: {', '.join(details['valid_values'])}"
        if reason == "pattern mismatch":
            return f"{prefix}, must match pattern: {details['pattern']}"
        return str(super()._format_error(error))

    def problems(self) -> tuple[FieldProblem, ...]:
        return tuple(FieldProblem(self._get_name(e[1]), self._format_error(e)) for e in self._errors)


class _ServiceValidator(ParamValidator):  # type: ignore[misc]
    """botocore's validator, with the checks a service makes beyond a client's."""

    VALIDATED_METADATA_ATTRS = ParamValidator.VALIDATED_METADATA_ATTRS | {"max", "enum", "pattern"}

    def _validate_string(self, param: Any, shape: Shape, errors: _Collected, name: str) -> None:
        super()._validate_string(param, shape, errors, name)
        if not isinstance(param, str):
            return
        _maximum(param, len(param), shape, errors, name, "length")
        if shape.enum and param not in shape.enum:
            errors.report(name, "not in enum", param=param, valid_values=shape.enum)
        pattern = shape.metadata.get("pattern")
        if pattern and (compiled := _compiled(pattern)) is not None and not compiled.search(param):
            errors.report(name, "pattern mismatch", param=param, pattern=pattern)

    def _validate_list(self, param: Any, shape: Shape, errors: _Collected, name: str) -> None:
        super()._validate_list(param, shape, errors, name)
        if isinstance(param, list | tuple):
            _maximum(param, len(param), shape, errors, name, "length")

    def _validate_map(self, param: Any, shape: Shape, errors: _Collected, name: str) -> None:
        super()._validate_map(param, shape, errors, name)
        if isinstance(param, dict):
            _maximum(param, len(param), shape, errors, name, "length")

    def _validate_number(self, param: Any, shape: Shape, errors: _Collected, name: str) -> None:
        if isinstance(param, bool):  # JSON true is no number, though Python's bool is an int
            errors.report(name, "invalid type", param=param, valid_types=[str(int), str(float)])
            return
        getattr(super(), f"_validate_{shape.type_name}")(param, shape, errors, name)
        if isinstance(param, int | float):
            _maximum(param, param, shape, errors, name, "value")

    _validate_integer = _validate_long = _validate_double = _validate_float = _validate_number


def _maximum(param: Any, size: float, shape: Shape, errors: _Collected, name: str, what: str) -> None:
    maximum = shape.metadata.get("max")
    if maximum is not None and size > maximum:
        shown = param if what == "value" or isinstance(param, str) else f"{len(param)} items"
        errors.report(name, "above maximum", param=shown, max_allowed=maximum, what=what)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    """The model's pattern (not anchored, as Smithy's are not); None if Python cannot read it."""
    try:
        return re.compile(pattern)
    except re.error:
        return None


def validate(params: dict[str, Any], shape: Shape | None) -> None:
    """Raise `ValidationException` naming every member that is wrong."""
    if shape is None:
        return
    errors = _Collected()
    _ServiceValidator()._validate(params, shape, errors, name="")
    problems = errors.problems()
    if problems:
        summary = problems[0].message if len(problems) == 1 else f"{len(problems)} validation errors detected"
        raise ValidationException(summary, reason="FIELD_VALIDATION_FAILED", fields=problems)
