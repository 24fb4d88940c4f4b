"""What a running scenario knows: the pipeline, receipt aliases, runs, the last drain, armed faults."""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from receipt_compaction.chroma_ids import line_embedding_id, word_embedding_id
from receipt_compaction.chroma_store import open_chroma, open_collection
from receipt_compaction.state import ReceiptKey

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from pathlib import Path

    from chromadb.api.models.Collection import Collection

    from receipt_compaction.chroma_ids import CollectionName
    from receipt_compaction.entities import CompactionRun
    from receipt_compaction.harness.pipeline import DrainReport, LocalPipeline, SnapshotView

__all__ = ["ScenarioContext", "StageFailure"]

_NAMESPACE = uuid.UUID("5d6f1e5c-3f7a-4b8e-9c2d-1a0b9e8f7c6d")


class StageFailure(AssertionError):
    """A stage whose expectation did not hold, or whose arguments make no sense here."""

    def __init__(self, problem: str, *, expected: Any = None, actual: Any = None) -> None:
        self.problem = problem
        self.expected = expected
        self.actual = actual
        super().__init__(problem)


@dataclass
class ScenarioContext:
    scenario: str
    pipeline: LocalPipeline
    receipts: dict[str, ReceiptKey] = field(default_factory=dict)
    runs: dict[str, CompactionRun] = field(default_factory=dict)
    last_report: DrainReport | None = None
    crashed: str | None = None
    drained: bool = False
    """Whether a ``drain`` stage ran: ``expect_snapshot``'s ``version`` is about the last one."""
    _armed: list[AbstractContextManager[Any]] = field(default_factory=list)
    _snapshots: dict[str, SnapshotView] = field(default_factory=dict)
    _open: dict[Path, Collection] = field(default_factory=dict)
    _closing: ExitStack = field(default_factory=ExitStack)

    # -- snapshots ------------------------------------------------------------------------------------------

    def snapshot(self, collection: CollectionName) -> SnapshotView | None:
        """The version the pointer names now (None before the first publish), downloaded once per version:
        the checks of one scenario only read it."""
        try:
            view = self.pipeline.latest_snapshot(collection, reuse=self._snapshots.get(collection))
        except LookupError:
            return None
        self._snapshots[collection] = view
        return view

    def read(
        self, view: SnapshotView, *, ids: list[str] | None = None, where: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """``view.get``, on a client opened once per downloaded version and kept until ``close``."""
        if view.path not in self._open:
            client = self._closing.enter_context(open_chroma(view.path))
            self._open[view.path] = open_collection(client, view.collection)
        found = self._open[view.path].get(ids=ids, where=where, include=["documents", "metadatas"])
        return dict(found)

    def close(self) -> None:
        """Close the snapshot clients ``read`` opened (the run is over)."""
        self._open.clear()
        self._closing.close()

    # -- receipts -------------------------------------------------------------------------------------------

    def new_receipt(self, alias: str, *, image_id: str | None = None, receipt_id: int = 1) -> ReceiptKey:
        if alias in self.receipts:
            raise StageFailure(f"receipt {alias!r} is seeded twice")
        key = ReceiptKey(image_id or str(uuid.uuid5(_NAMESPACE, f"{self.scenario}/{alias}")), receipt_id)
        self.receipts[alias] = key
        return key

    def receipt(self, alias: str) -> ReceiptKey:
        try:
            return self.receipts[alias]
        except KeyError:
            known = ", ".join(sorted(self.receipts)) or "none"
            raise StageFailure(f"no receipt {alias!r} was seeded (seeded: {known})") from None

    def embedding_id(self, reference: str) -> str:
        """``alias/line`` names a line embedding, ``alias/line/word`` a word embedding."""
        parts = reference.split("/")
        if len(parts) not in (2, 3) or not all(part.isdigit() for part in parts[1:]):
            raise StageFailure(
                f"{reference!r} is no embedding reference: write receipt/line or receipt/line/word"
            )
        key = self.receipt(parts[0])
        if len(parts) == 2:
            return line_embedding_id(key.image_id, key.receipt_id, int(parts[1]))
        return word_embedding_id(key.image_id, key.receipt_id, int(parts[1]), int(parts[2]))

    # -- faults ---------------------------------------------------------------------------------------------

    def arm(self, fault: AbstractContextManager[Any]) -> None:
        """Keep ``fault`` active during the next drain only."""
        self._armed.append(fault)

    def armed(self) -> ExitStack:
        stack = ExitStack()
        for fault in self._armed:
            stack.enter_context(fault)
        self._armed = []
        return stack
