"""JSON advisory documents with bounded nesting: a record nested too deeply is one unreadable record.

CPython's decoder recurses once per level of nesting and stops at the interpreter's recursion limit
(about 1,000 levels; real advisory records nest fewer than 20) with a RecursionError, which would abort
the whole import. A file that is one record (OSV, CSAF, ALAS JSON) then simply fails as that record.
A document that holds many records (the Debian tracker export, the KEV catalog, an NVD page, a secdb
file) is read again, slowly, only in that case: the levels above its records are walked here and each
record is decoded on its own, so only the records nested too deeply are left out, each one reported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from vigil.advisories.importer import RecordError

TOO_DEEP = "nested deeper than the JSON reader's recursion limit: record skipped"

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_SKIPPED = object()


class TooDeep(ValueError):
    """A JSON document nested deeper than the decoder can follow."""


def loads(data: bytes | str, where: str) -> Any:
    """A document that is one record; nesting too deep is a ValueError naming `where`."""
    try:
        return json.loads(data)
    except RecursionError:
        raise TooDeep(f"{where}: {TOO_DEEP}") from None


def load_records(
    data: bytes | str,
    where: str,
    errors: list[RecordError],
    *,
    depth: int = 2,
    record_id: Callable[[tuple[str, ...]], str | None] = lambda path: None,
) -> Any:
    """A document whose records are the values `depth` levels down; one nested too deeply is left out.

    Each record left out goes to `errors`, with `record_id(path)` as the id of the advisory it belonged
    to when the format tells (so its stored copy is kept). Malformed JSON is a ValueError as usual.
    """
    try:
        return json.loads(data)
    except RecursionError:
        pass
    text = data.decode(json.detect_encoding(data), "surrogatepass") if isinstance(data, bytes) else data
    walker = _Walker(text, where, errors, depth, record_id)
    value, end = walker.value(_skip(text, 0), 0, ())
    if _skip(text, end) != len(text):
        raise ValueError(f"{where}: extra data after the JSON document (offset {end})")
    return value


def _skip(text: str, at: int) -> int:
    match = _SPACE.match(text, at)
    return match.end() if match else at


class _Walker:
    """Walks the containers above the records by hand and decodes each record with the C decoder."""

    def __init__(
        self,
        text: str,
        where: str,
        errors: list[RecordError],
        depth: int,
        record_id: Callable[[tuple[str, ...]], str | None],
    ) -> None:
        self.text, self.where, self.errors, self.depth, self.record_id = text, where, errors, depth, record_id

    def value(self, at: int, level: int, path: tuple[str, ...]) -> tuple[Any, int]:
        opening = self.text[at : at + 1]
        if level < self.depth and opening == "{":
            return self._object(at, level, path)
        if level < self.depth and opening == "[":
            return self._array(at, level, path)
        try:
            return _DECODER.raw_decode(self.text, at)
        except RecursionError:
            where = f"{self.where}#{'/'.join(path)}"
            self.errors.append(RecordError(where, TOO_DEEP, record_id=self.record_id(path)))
            return _SKIPPED, _end_of_value(self.text, at, self.where)

    def _object(self, at: int, level: int, path: tuple[str, ...]) -> tuple[dict[str, Any], int]:
        result: dict[str, Any] = {}
        done, at = self._opened(at, "}")
        while not done:
            if self.text[at : at + 1] != '"':
                raise self._malformed(at, "a key")
            key, at = _DECODER.raw_decode(self.text, at)
            at = _skip(self.text, at)
            if self.text[at : at + 1] != ":":
                raise self._malformed(at, "':'")
            value, at = self.value(_skip(self.text, at + 1), level + 1, (*path, key))
            if value is not _SKIPPED:
                result[key] = value
            done, at = self._separated(at, "}")
        return result, at

    def _array(self, at: int, level: int, path: tuple[str, ...]) -> tuple[list[Any], int]:
        result: list[Any] = []
        done, at = self._opened(at, "]")
        index = 0
        while not done:
            value, at = self.value(at, level + 1, (*path, str(index)))
            index += 1
            if value is not _SKIPPED:
                result.append(value)
            done, at = self._separated(at, "]")
        return result, at

    def _opened(self, at: int, closing: str) -> tuple[bool, int]:
        """Past an opening bracket: whether the container is empty, and where its content or end is."""
        at = _skip(self.text, at + 1)
        return (True, at + 1) if self.text[at : at + 1] == closing else (False, at)

    def _separated(self, at: int, closing: str) -> tuple[bool, int]:
        """Past the comma after a member (False), or past the closing bracket (True)."""
        at = _skip(self.text, at)
        separator = self.text[at : at + 1]
        if separator == closing:
            return True, at + 1
        if separator != ",":
            raise self._malformed(at, f"',' or '{closing}'")
        return False, _skip(self.text, at + 1)

    def _malformed(self, at: int, expected: str) -> ValueError:
        return ValueError(f"{self.where}: malformed JSON at offset {at}: expected {expected}")


def _end_of_value(text: str, at: int, where: str) -> int:
    """Where the array or object starting at `at` ends, found by counting brackets outside strings."""
    depth = 0
    for token in _TOKEN.finditer(text, at):
        mark = token.group()[0]
        if mark in "[{":
            depth += 1
        elif mark in "]}":
            depth -= 1
            if depth == 0:
                return token.end()
    raise ValueError(f"{where}: malformed JSON: unterminated value at offset {at}")
