"""CompactionRun: announces per-collection deltas in S3 that are ready to merge."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal, Self, TypeAlias

from pydantic import Field, StringConstraints, model_validator

from receipt_compaction.chroma_ids import COLLECTIONS, CollectionName
from receipt_compaction.entities.base import Entity, EventName, OptionalText
from receipt_compaction.entities.receipt import RECEIPT_SEGMENT
from receipt_compaction.keys import KeyValue, NameSegment, SortKeyShape

__all__ = [
    "DELTA_TARBALL",
    "RUN_ID_PATTERN",
    "S3_SCHEME",
    "CompactionRun",
    "DeltaPrefixError",
    "RunState",
    "delta_prefix",
]

RUN_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}"
"""A run id is part of the sort key and of S3 prefixes: no ``#``, ``/`` or dots."""

DELTA_TARBALL = "delta.tar.gz"
"""A delta stored as one archive sits at ``{prefix}delta.tar.gz``; else its files sit under the prefix."""

S3_SCHEME = "s3://"


class DeltaPrefixError(ValueError):
    """A run's delta prefix that names a place the compactor does not read."""


RunState: TypeAlias = Literal["PENDING", "PROCESSING", "COMPLETED", "FAILED"]


def delta_prefix(collection: CollectionName, run_id: str) -> str:
    """Where a run's delta for ``collection`` lives in the bucket: ``{collection}/delta/{run_id}/``."""
    return f"{collection}/delta/{run_id}/"


class CompactionRun(Entity):
    """``RECEIPT#{r:05d}#COMPACTION_RUN#{run_id}``; its INSERT asks each collection to merge its delta."""

    ENTITY_TYPE: ClassVar[str] = "COMPACTION_RUN"
    SORT_KEY: ClassVar[SortKeyShape] = (
        RECEIPT_SEGMENT,
        NameSegment("COMPACTION_RUN", "run_id", re.compile(RUN_ID_PATTERN)),
    )
    COLLECTIONS: ClassVar[tuple[CollectionName, ...]] = COLLECTIONS
    DIRTY_ON: ClassVar[frozenset[EventName]] = frozenset({"INSERT"})
    MESSAGES_READ_EVERY_FIELD: ClassVar[bool] = True
    """Its messages carry the delta prefixes, checked against the run by the model's own validator."""

    run_id: Annotated[str, StringConstraints(pattern=f"^{RUN_ID_PATTERN}$")]
    lines_delta_prefix: str = ""
    words_delta_prefix: str = ""
    lines_state: RunState = "PENDING"
    words_state: RunState = "PENDING"
    lines_merged_vectors: Annotated[int, Field(ge=0)] = 0
    words_merged_vectors: Annotated[int, Field(ge=0)] = 0
    lines_error: OptionalText = None
    words_error: OptionalText = None
    lines_finished_at: OptionalText = None
    words_finished_at: OptionalText = None
    created_at: OptionalText = None
    updated_at: OptionalText = None

    @model_validator(mode="after")
    def _default_prefixes(self) -> Self:
        # Frozen model: fill the conventional prefixes once, at construction.
        for collection in COLLECTIONS:
            name = f"{collection}_delta_prefix"
            if not getattr(self, name):
                object.__setattr__(self, name, delta_prefix(collection, self.run_id))
        return self

    def prefix_for(self, collection: CollectionName) -> str:
        prefix: str = getattr(self, f"{collection}_delta_prefix")
        return prefix

    def delta_key_prefix(self, collection: CollectionName, *, bucket: str) -> str:
        """The key prefix of this run's ``collection`` delta in ``bucket``.

        The prefix is usually a key prefix (``words/delta/{run_id}/``). Producers also write it as a URL,
        ``s3://{bucket}/{key prefix}``: accepted when it names ``bucket`` (the only bucket the compactor
        reads), refused with a DeltaPrefixError otherwise, instead of being used as a key that never exists.
        """
        field = f"{collection}_delta_prefix"
        prefix = self.prefix_for(collection)
        if not prefix.startswith(S3_SCHEME):
            return prefix
        named, _, key = prefix[len(S3_SCHEME) :].partition("/")
        if named != bucket:
            raise DeltaPrefixError(
                f"CompactionRun {self.run_id} {field} {prefix!r} names bucket {named!r}, but deltas are read "
                f"from bucket {bucket!r} (CHROMADB_BUCKET): write the delta to that bucket and the prefix as "
                f"{'s3://' + bucket + '/' + key!r} or as the key prefix {key!r}"
            )
        if not key:
            raise DeltaPrefixError(
                f"CompactionRun {self.run_id} {field} {prefix!r} names the bucket but no key prefix: "
                f"write it as s3://{bucket}/{delta_prefix(collection, self.run_id)}"
            )
        return key

    def state_for(self, collection: CollectionName) -> RunState:
        state: RunState = getattr(self, f"{collection}_state")
        return state

    def entity_data(self, collection: CollectionName) -> dict[str, KeyValue]:
        return {
            **self.key_values(),
            "lines_delta_prefix": self.lines_delta_prefix,
            "words_delta_prefix": self.words_delta_prefix,
            "delta_s3_prefix": self.prefix_for(collection),
        }
