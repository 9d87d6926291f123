"""`ResourceFilterCriteria` (SBOM exports): which instances an export covers, decided on each instance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vigil.findings.service.errors import InvalidRequest
from vigil.fleet.model import Instance

EC2_INSTANCE = "AWS_EC2_INSTANCE"
STRING_MEMBERS = (
    "accountId", "resourceId", "resourceType", "ecrRepositoryName", "lambdaFunctionName", "ecrImageTags",
    "cloudProvider", "cloudProviderAccountId", "cloudProviderOrgId", "cloudProviderRegion",
    "cloudContainerImageTags", "cloudContainerRepositoryName", "cloudContainerRegistryName",
    "cloudServerlessFunctionName", "cloudServerlessFunctionRuntime",
)  # fmt: skip
MAP_MEMBERS = ("ec2InstanceTags", "lambdaFunctionTags", "cloudVmInstanceTags", "cloudServerlessFunctionTags")


@dataclass(frozen=True, slots=True)
class ResourceCriteria:
    strings: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # member, (comparison, value)...
    tags: tuple[tuple[str, tuple[tuple[str, str | None], ...]], ...]  # member, (key, value)...
    document: dict[str, Any]

    def accounts(self, visible: Sequence[str]) -> list[str]:
        """The accounts the export may cover: the visible ones its account filters let through."""
        return [a for a in visible if _strings_match(self._terms("accountId"), a)]

    def instance_ids(self) -> list[str] | None:
        """The instances named with EQUALS alone, when that is all the resource filters say (a lookup)."""
        terms = self._terms("resourceId")
        if terms and all(c == "EQUALS" for c, _ in terms):
            return [v for _, v in terms]
        return None

    def covers(self, instance: Instance) -> bool:
        values = {
            "accountId": instance.account_id,
            "resourceId": instance.instance_id,
            "resourceType": EC2_INSTANCE,
        }
        for member, terms in self.strings:
            if not _strings_match(terms, values.get(member)):
                return False
        for member, tags in self.tags:
            own = instance.tags if member == "ec2InstanceTags" else {}
            if not any(key in own and (value is None or own[key] == value) for key, value in tags):
                return False
        return True

    def _terms(self, member: str) -> tuple[tuple[str, str], ...]:
        return next((terms for name, terms in self.strings if name == member), ())


def _strings_match(terms: tuple[tuple[str, str], ...], value: str | None) -> bool:
    """EQUALS filters any of which may match, NOT_EQUALS all of which must (an absent value equals none)."""
    positive = [v for c, v in terms if c == "EQUALS"]
    negative = [v for c, v in terms if c == "NOT_EQUALS"]
    return (not positive or value in positive) and value not in negative


def parse_resource_criteria(document: Mapping[str, Any] | None) -> ResourceCriteria:
    member_path = "resourceFilterCriteria"
    if not document:
        return ResourceCriteria((), (), {})
    if not isinstance(document, Mapping):
        raise InvalidRequest(member_path, "not a ResourceFilterCriteria structure")
    strings, tags = [], []
    for member, items in sorted(document.items()):
        path = f"{member_path}.{member}"
        if member not in STRING_MEMBERS and member not in MAP_MEMBERS:
            raise InvalidRequest(path, "not a member of ResourceFilterCriteria")
        if not isinstance(items, Sequence) or isinstance(items, str) or not 1 <= len(items) <= 10:
            raise InvalidRequest(path, "a list of 1 to 10 filters")
        if member in STRING_MEMBERS:
            strings.append((member, tuple(_string(item, f"{path}[{i}]") for i, item in enumerate(items))))
        else:
            tags.append((member, tuple(_tag(item, f"{path}[{i}]") for i, item in enumerate(items))))
    normal = {m: [{"comparison": c, "value": v} for c, v in t] for m, t in strings}
    normal |= {
        m: [{"comparison": "EQUALS", "key": k} | ({} if v is None else {"value": v}) for k, v in t]
        for m, t in tags
    }
    return ResourceCriteria(tuple(strings), tuple(tags), normal)


def _string(item: Any, path: str) -> tuple[str, str]:
    if not isinstance(item, Mapping) or set(item) - {"comparison", "value"}:
        raise InvalidRequest(path, "a ResourceStringFilter: comparison and value")
    comparison, value = item.get("comparison"), item.get("value")
    if comparison not in ("EQUALS", "NOT_EQUALS"):
        raise InvalidRequest(f"{path}.comparison", "EQUALS or NOT_EQUALS")
    if not isinstance(value, str) or not 1 <= len(value) <= 1024:
        raise InvalidRequest(f"{path}.value", "a string of 1 to 1024 characters")
    return comparison, value


def _tag(item: Any, path: str) -> tuple[str, str | None]:
    if not isinstance(item, Mapping) or set(item) - {"comparison", "key", "value"}:
        raise InvalidRequest(path, "a ResourceMapFilter: comparison, key and value")
    key, value = item.get("key"), item.get("value")
    if item.get("comparison") != "EQUALS":
        raise InvalidRequest(f"{path}.comparison", "EQUALS")
    if not isinstance(key, str) or not key:
        raise InvalidRequest(f"{path}.key", "a non-empty string")
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidRequest(f"{path}.value", "a non-empty string")
    return key, value
