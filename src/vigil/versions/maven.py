"""Maven versions, ordered as Maven's ComparableVersion orders them.

A Python rendition of org.apache.maven.artifact.versioning.ComparableVersion (Apache-2.0): items are
numbers, qualifiers (alpha < beta < milestone < rc = cr < snapshot < "" = ga = final = release < sp <
unknown, lexically), "combination" items like `alpha1`, and nested lists started by `-`.
"""

from __future__ import annotations

from functools import lru_cache

from vigil.versions.base import InvalidVersion, sign

MAX_VERSION_LENGTH = 256
_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_RELEASE_QUALIFIERS = frozenset({"ga", "final", "release"})
_RELEASE_INDEX = str(_QUALIFIERS.index(""))
INT, STRING, LIST, COMBINATION = "int", "string", "list", "combination"


def _comparable_qualifier(qualifier: str) -> str:
    if qualifier in _RELEASE_QUALIFIERS:
        return _RELEASE_INDEX
    if qualifier in _QUALIFIERS:
        return str(_QUALIFIERS.index(qualifier))
    return f"{len(_QUALIFIERS)}-{qualifier}"


class Item:
    kind = ""

    def cmp(self, other: Item | None) -> int:
        raise TypeError  # pragma: no cover - every item kind overrides it

    def is_null(self) -> bool:
        return False


class IntItem(Item):
    kind = INT

    def __init__(self, value: int) -> None:
        self.value = value

    def is_null(self) -> bool:
        return self.value == 0

    def cmp(self, other: Item | None) -> int:
        if other is None:
            return 0 if self.value == 0 else 1
        if isinstance(other, IntItem):
            return sign(self.value, other.value)
        return 1  # a number beats a qualifier, a combination or a sub-list: 1.1 > 1-sp, 1.1 > 1-1


class StringItem(Item):
    kind = STRING

    def __init__(self, value: str, followed_by_digit: bool) -> None:
        if followed_by_digit and len(value) == 1:
            value = {"a": "alpha", "b": "beta", "m": "milestone"}.get(value, value)
        self.value = "rc" if value == "cr" else value

    def is_null(self) -> bool:
        return not self.value

    def cmp(self, other: Item | None) -> int:
        mine = _comparable_qualifier(self.value)
        if other is None:
            return sign(mine, _RELEASE_INDEX)
        if isinstance(other, IntItem):
            return -1
        if isinstance(other, StringItem):
            return sign(mine, _comparable_qualifier(other.value))
        if isinstance(other, CombinationItem):
            result = self.cmp(other.string_part)
            if result == 0:
                return -other.digit_part.cmp(None) if self.cmp(None) == 0 else -1
            return result
        return -other.cmp(self)


class CombinationItem(Item):
    """A qualifier glued to a number: `alpha1`, `rc-2`."""

    kind = COMBINATION

    def __init__(self, value: str) -> None:
        index = next((i for i, c in enumerate(value) if c.isdigit()), 0)
        self.string_part = StringItem(value[:index], True)
        self.digit_part = _item(False, True, value[index:])

    def cmp(self, other: Item | None) -> int:
        if other is None:
            result = self.string_part.cmp(None)
            return self.digit_part.cmp(None) if result == 0 else result
        if isinstance(other, IntItem):
            return -1
        if isinstance(other, StringItem):
            result = self.string_part.cmp(other)
            if result == 0:
                return self.digit_part.cmp(None) if self.string_part.cmp(None) == 0 else 1
            return result
        if isinstance(other, ListItem):
            return -other.cmp(self)
        assert isinstance(other, CombinationItem)
        result = self.string_part.cmp(other.string_part)
        return self.digit_part.cmp(other.digit_part) if result == 0 else result


class ListItem(Item):
    kind = LIST

    def __init__(self) -> None:
        self.items: list[Item] = []

    def is_null(self) -> bool:
        return not self.items

    def normalize(self) -> None:
        items = self.items
        for i in range(len(items) - 1, -1, -1):
            if not items[i].is_null():
                continue
            if i == len(items) - 1 or isinstance(items[i + 1], StringItem):
                del items[i]
            elif isinstance(items[i + 1], ListItem):
                following = items[i + 1]
                assert isinstance(following, ListItem)
                if following.items and isinstance(following.items[0], CombinationItem | StringItem):
                    del items[i]
        if len(items) == 1 and isinstance(items[0], ListItem):
            self.items = items[0].items

    def cmp(self, other: Item | None) -> int:
        if other is None:
            for item in self.items:
                result = item.cmp(None)
                if result:
                    return result
            return 0
        if isinstance(other, IntItem):
            return -1
        if isinstance(other, StringItem | CombinationItem):
            result = -other.cmp(None) if not self.items else self.items[0].cmp(other)
            for item in self.items[1:]:
                if result:
                    break
                result = item.cmp(None)
            return result
        assert isinstance(other, ListItem)
        for i in range(max(len(self.items), len(other.items))):
            left = self.items[i] if i < len(self.items) else None
            right = other.items[i] if i < len(other.items) else None
            if left is None:
                result = 0 if right is None else -right.cmp(None)
            else:
                result = left.cmp(right)
            if result:
                return result
        return 0


def _item(combination: bool, digit: bool, text: str) -> Item:
    if combination:
        return CombinationItem(text.replace("-", ""))
    if digit:
        return IntItem(int(text) if text else 0)
    return StringItem(text, False)


@lru_cache(maxsize=65536)
def parse(version: str) -> ListItem:
    if len(version) > MAX_VERSION_LENGTH:
        raise InvalidVersion("Maven", version[:32] + "…", f"longer than {MAX_VERSION_LENGTH} characters")
    text = version.lower()
    root = current = ListItem()
    stack = [root]
    is_digit = combination = False
    start = 0

    def open_sublist() -> None:
        nonlocal current
        sub = ListItem()
        current.items.append(sub)
        current = sub
        stack.append(sub)

    i = 0
    while i < len(text):
        c = text[i]
        if c == ".":
            current.items.append(IntItem(0) if i == start else _item(combination, is_digit, text[start:i]))
            combination = False
            start = i + 1
        elif c == "-":
            if i == start:
                current.items.append(IntItem(0))
            else:
                if not is_digit and i != len(text) - 1 and text[i + 1].isascii() and text[i + 1].isdigit():
                    combination = True  # X-1 is read as X1
                    i += 1
                    continue
                current.items.append(_item(combination, is_digit, text[start:i]))
            start = i + 1
            if current.items:
                open_sublist()
            combination = False
        elif "0" <= c <= "9":
            if not is_digit and i > start:
                combination = True
                if current.items:
                    open_sublist()
            is_digit = True
        else:
            if is_digit and i > start:
                current.items.append(_item(combination, True, text[start:i]))
                start = i
                open_sublist()
                combination = False
            is_digit = False
        i += 1
    if len(text) > start:
        if not is_digit and current.items:
            open_sublist()  # 1.0.0.X1 < 1.0.0-X2: a trailing .X is read as -X
        current.items.append(_item(combination, is_digit, text[start:]))
    for item in reversed(stack):
        item.normalize()
    return root


class MavenScheme:
    name = "maven"

    def compare(self, a: str, b: str) -> int:
        return parse(a).cmp(parse(b))

    def is_valid(self, version: str) -> bool:
        return 0 < len(version) <= MAX_VERSION_LENGTH
