"""Inspector's service model (botocore's `inspector2`) and the route table made from it.

Each operation is found from its `http.method` and `http.requestUri`, matched against the request's raw
(still percent-encoded) path, so a label holding an encoded `/` (an ARN) stays one label.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

import botocore.session
from botocore.model import OperationModel, ServiceModel

SERVICE = "inspector2"
_LABEL = re.compile(r"\{([^}]+)\}")


@functools.cache
def inspector_model() -> ServiceModel:
    """botocore's model of Inspector2, loaded once per process."""
    return botocore.session.get_session().get_service_model(SERVICE)


@dataclass(frozen=True, slots=True)
class _Segment:
    text: str  # a literal segment, or a label's member name
    label: bool = False
    greedy: bool = False  # `{key+}`: the rest of the path


@dataclass(frozen=True, slots=True)
class Route:
    operation: OperationModel
    method: str
    segments: tuple[_Segment, ...]

    def match(self, path: str) -> dict[str, str] | None:
        """The labels' values if this raw path is this route's, else None."""
        parts = path.split("/")[1:]
        labels: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.greedy:
                rest = "/".join(parts[index:])
                if not rest:
                    return None
                labels[segment.text] = unquote(rest)
                return labels
            if index >= len(parts):
                return None
            if segment.label:
                if not parts[index]:
                    return None
                labels[segment.text] = unquote(parts[index])
            elif parts[index] != segment.text:
                return None
        return labels if len(parts) == len(self.segments) else None


def _route(operation: OperationModel) -> Route:
    template = operation.http["requestUri"].split("?", 1)[0]
    segments = []
    for part in template.split("/")[1:]:
        label = _LABEL.fullmatch(part)
        if label:
            name = label[1]
            segments.append(_Segment(name.removesuffix("+"), label=True, greedy=name.endswith("+")))
        else:
            segments.append(_Segment(part))
    return Route(operation, operation.http["method"].upper(), tuple(segments))


class RouteTable:
    """Every operation of the model, found by method and raw path."""

    def __init__(self, model: ServiceModel) -> None:
        self.model = model
        self._routes = [_route(model.operation_model(name)) for name in model.operation_names]

    @property
    def operation_names(self) -> Iterable[str]:
        return (route.operation.name for route in self._routes)

    def find(self, method: str, path: str) -> tuple[OperationModel, dict[str, str]] | None:
        for route in self._routes:
            if route.method == method:
                labels = route.match(path)
                if labels is not None:
                    return route.operation, labels
        return None
