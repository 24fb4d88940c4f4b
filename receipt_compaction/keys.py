"""Structural parsing and rendering of the table's PK/SK keys.

A sort key is a sequence of named segments (``RECEIPT#00001#LINE#00002``). Each entity class declares its
shape as a tuple of segments; a key matches a shape only when every segment name, every value and the segment
count agree. Nothing here tests for substrings, so ``...#LABEL#PLACE_OF_BUSINESS`` is a label and
``...#WORD#00003#LETTER#00001`` matches no shape at all.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeAlias

__all__ = [
    "IMAGE_PREFIX",
    "MAX_ID",
    "SEPARATOR",
    "IdSegment",
    "KeyValue",
    "LiteralSegment",
    "NameSegment",
    "Segment",
    "SortKeyShape",
    "describe_shape",
    "explain_mismatch",
    "image_id_from_pk",
    "is_canonical_uuid",
    "match_sort_key",
    "render_pk",
    "render_sort_key",
]

IMAGE_PREFIX = "IMAGE#"
SEPARATOR = "#"
ID_WIDTH = 5
MAX_ID = 10**ID_WIDTH - 1
"""The largest id five digits can hold: the entities' bound too (``ReceiptId`` and friends)."""
KEY_CACHE_SIZE = 16_384

KeyValue: TypeAlias = int | str


@dataclass(frozen=True)
class IdSegment:
    """``NAME#00042``: an integer id, exactly five digits, from ``minimum`` to ``maximum``.

    The bounds are the entity fields' bounds (a property test holds them together): a key this accepts is
    a key its entity accepts, so nothing the parser lets through fails validation further on."""

    name: str
    field: str
    minimum: int = 0
    maximum: int = MAX_ID

    def parse(self, token: str) -> int | None:
        if len(token) != ID_WIDTH or not token.isascii() or not token.isdigit():
            return None
        value = int(token)
        return value if self.minimum <= value <= self.maximum else None

    def render(self, value: KeyValue) -> str:
        return f"{self.name}{SEPARATOR}{format_id(int(value))}"

    def describe(self) -> str:
        return f"{self.name}#{'n' * ID_WIDTH}"


@dataclass(frozen=True)
class NameSegment:
    """``NAME#VALUE``: a token such as a label name or a run id, checked against a pattern."""

    name: str
    field: str
    pattern: re.Pattern[str]

    def parse(self, token: str) -> str | None:
        return token if self.pattern.fullmatch(token) else None

    def render(self, value: KeyValue) -> str:
        return f"{self.name}{SEPARATOR}{value}"

    def describe(self) -> str:
        return f"{self.name}#<{self.field}>"


@dataclass(frozen=True)
class LiteralSegment:
    """A bare word such as ``METADATA`` that carries no value."""

    name: str

    def describe(self) -> str:
        return self.name


Segment: TypeAlias = IdSegment | NameSegment | LiteralSegment
SortKeyShape: TypeAlias = tuple[Segment, ...]


def format_id(value: int) -> str:
    return f"{value:0{ID_WIDTH}d}"


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_canonical_uuid(value: str) -> bool:
    """True for a lower-case, hyphenated UUID string (the only spelling the keys use): exactly the strings
    ``str(uuid.UUID(value)) == value`` accepts, without building a UUID (this runs for every key read)."""
    return isinstance(value, str) and _CANONICAL_UUID.fullmatch(value) is not None


def render_pk(image_id: str) -> str:
    return f"{IMAGE_PREFIX}{image_id}"


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def image_id_from_pk(pk: str) -> str | None:
    """The image id of ``IMAGE#{uuid}``, or None when the key is not an image partition.

    Cached: a stream record's key is read for its routing and again for each of its images."""
    if not pk.startswith(IMAGE_PREFIX):
        return None
    image_id = pk[len(IMAGE_PREFIX) :]
    return image_id if is_canonical_uuid(image_id) else None


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def match_sort_key(shape: SortKeyShape, sk: str) -> Mapping[str, KeyValue] | None:
    """The field values of ``sk`` if it has exactly this shape, else None (read-only: the result is cached,
    because a stream record's key is matched for its routing and again for each of its images)."""
    tokens = sk.split(SEPARATOR)
    values: dict[str, KeyValue] = {}
    position = 0
    for segment in shape:
        if position >= len(tokens) or tokens[position] != segment.name:
            return None
        if isinstance(segment, LiteralSegment):
            position += 1
            continue
        if position + 1 >= len(tokens):
            return None
        value = segment.parse(tokens[position + 1])
        if value is None:
            return None
        values[segment.field] = value
        position += 2
    return MappingProxyType(values) if position == len(tokens) else None


def render_sort_key(shape: SortKeyShape, values: dict[str, KeyValue]) -> str:
    parts = [
        segment.name if isinstance(segment, LiteralSegment) else segment.render(values[segment.field])
        for segment in shape
    ]
    return SEPARATOR.join(parts)


def describe_shape(shape: SortKeyShape) -> str:
    """A human-readable template such as ``RECEIPT#nnnnn#LINE#nnnnn``."""
    return SEPARATOR.join(segment.describe() for segment in shape)


def explain_mismatch(shape: SortKeyShape, sk: str) -> str | None:
    """Why ``sk`` is not a key of ``shape`` although its segment names line up with it (a near miss such as
    ``RECEIPT#00001#COMPACTION_RUN#2026-01-01T00:00:00Z``), or None when they do not line up (another kind of
    item, or a key of this shape). A last name segment takes the rest of the key, ``#`` included."""
    tokens = sk.split(SEPARATOR)
    problems: list[str] = []
    position = 0
    for number, segment in enumerate(shape):
        if position >= len(tokens) or tokens[position] != segment.name:
            return None
        if isinstance(segment, LiteralSegment):
            position += 1
            continue
        if position + 1 >= len(tokens):
            return None
        last = number == len(shape) - 1 and isinstance(segment, NameSegment)
        token = SEPARATOR.join(tokens[position + 1 :]) if last else tokens[position + 1]
        position = len(tokens) if last else position + 2
        if segment.parse(token) is None:
            problems.append(f"{segment.field} {token!r} {_expected(segment)}")
    if position != len(tokens) or not problems:
        return None
    return "; ".join(problems)


def _expected(segment: IdSegment | NameSegment) -> str:
    if isinstance(segment, IdSegment):
        low, high = format_id(segment.minimum), format_id(segment.maximum)
        return f"is not a {ID_WIDTH}-digit id from {low} to {high}"
    return f"does not match {segment.pattern.pattern}"
