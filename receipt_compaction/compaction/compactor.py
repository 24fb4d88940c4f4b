"""The compaction entry point: apply a batch of messages for one collection to a Chroma directory.

Order inside one call is fixed, whatever the message order: first the CompactionRun deltas are merged,
then every receipt a message (or a merged delta) touched is reconciled to its current DynamoDB state. So
duplicates, replays and reorderings converge, and a stale delta cannot bring back stale metadata. No snapshot
I/O happens here, and runs are not marked COMPLETED here: the caller does that after publishing
(``complete_runs``), so a crash in between leaves the run PENDING rather than lost.
"""

from __future__ import annotations

import logging
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from receipt_compaction.chroma_ids import receipt_of_embedding_id
from receipt_compaction.chroma_store import open_chroma, open_collection
from receipt_compaction.compaction.deltas import download_delta, merge_delta
from receipt_compaction.compaction.reconcile import ReceiptChanges, Scope, apply_changes, plan_receipt_changes
from receipt_compaction.compaction.runs import load_run, mark_run_completed
from receipt_compaction.compaction.states import load_states
from receipt_compaction.entities import CompactionRun
from receipt_compaction.state import ReceiptKey, ReceiptState

if TYPE_CHECKING:
    from collections.abc import Sequence

    from chromadb.api.models.Collection import Collection

    from receipt_compaction.aws import AwsClients
    from receipt_compaction.chroma_ids import CollectionName
    from receipt_compaction.compaction.inbox import CompactionMessage

__all__ = ["CompactionResult", "MergedRun", "MessageOutcome", "compact", "complete_runs", "scope_of"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MessageOutcome:
    message_id: str
    status: Literal["applied", "failed"]
    reason: str


@dataclass(frozen=True)
class MergedRun:
    """A run whose delta for ``collection`` is now in the working directory."""

    run: CompactionRun
    collection: CollectionName
    merged_vectors: int
    message_ids: tuple[str, ...]


@dataclass(frozen=True)
class CompactionResult:
    collection: CollectionName
    outcomes: tuple[MessageOutcome, ...]
    updated: int
    deleted: int
    merged_runs: tuple[MergedRun, ...]
    count: int
    """How many embeddings the collection holds afterwards."""

    @property
    def changed(self) -> bool:
        """Whether the directory differs from before (so a new version is worth publishing)."""
        return bool(self.updated or self.deleted or self.merged_runs)

    @property
    def failed_message_ids(self) -> list[str]:
        return [outcome.message_id for outcome in self.outcomes if outcome.status == "failed"]

    @property
    def merged_vectors(self) -> int:
        return sum(run.merged_vectors for run in self.merged_runs)


@dataclass(frozen=True)
class _Context:
    """What one call works on: the open collection, and where DynamoDB state and deltas live."""

    collection: Collection
    name: CollectionName
    clients: AwsClients
    table_name: str
    bucket: str


@dataclass(frozen=True)
class _Merge:
    run: CompactionRun
    receipts: frozenset[ReceiptKey]
    merged_vectors: int


@dataclass
class _Batch:
    """Bookkeeping of one call: scopes per receipt, who asked for them, and what failed."""

    scopes: defaultdict[ReceiptKey, list[tuple[Scope, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    failures: dict[str, str] = field(default_factory=dict)
    merged: list[MergedRun] = field(default_factory=list)

    def fail(self, message_ids: Sequence[str], reason: str) -> None:
        for message_id in message_ids:
            self.failures.setdefault(message_id, reason)


def scope_of(message: CompactionMessage) -> Scope:
    """What a message makes dirty: its word, its line, or (metadata, receipts, runs) its whole receipt."""
    return Scope(message.receipt, line_id=message.key_int("line_id"), word_id=message.key_int("word_id"))


def compact(
    messages: Sequence[CompactionMessage],
    *,
    collection: CollectionName,
    chroma_dir: str | Path,
    clients: AwsClients,
    table_name: str,
    bucket: str,
) -> CompactionResult:
    """Apply ``messages`` to the ``collection`` collection of the Chroma directory ``chroma_dir``."""
    batch = _Batch()
    for message in messages:
        if message.collection != collection:
            batch.fail(
                [message.message_id],
                f"a {message.collection!r} message given to the {collection!r} compaction",
            )
    mine = [message for message in messages if message.collection == collection]
    with open_chroma(chroma_dir) as client:
        context = _Context(open_collection(client, collection), collection, clients, table_name, bucket)
        _merge_runs(context, [m for m in mine if m.entity_class is CompactionRun], batch)
        for message in mine:
            if message.entity_class is not CompactionRun:
                try:
                    batch.scopes[message.receipt].append((scope_of(message), message.message_id))
                except Exception as error:  # a per-message boundary: a key no receipt can have fails alone
                    batch.fail([message.message_id], f"entity_data {message.key!r} names no receipt: {error}")
        changes = _reconcile(context, batch)
        count = context.collection.count()
    return CompactionResult(
        collection=collection,
        outcomes=tuple(_outcome(message.message_id, batch) for message in messages),
        updated=len(changes.updates),
        deleted=len(changes.deletes),
        merged_runs=tuple(run for run in batch.merged if not set(run.message_ids) & set(batch.failures)),
        count=count,
    )


def complete_runs(result: CompactionResult, *, clients: AwsClients, table_name: str) -> dict[str, str]:
    """Mark every merged run COMPLETED for the result's collection (after its snapshot is published).

    Returns the reason per message id whose run could not be marked: the delta is published, so a retry
    merges it again (idempotent) and completes it."""
    failures: dict[str, str] = {}
    for merged in result.merged_runs:
        try:
            mark_run_completed(
                clients.dynamodb,
                table_name,
                merged.run,
                collection=merged.collection,
                merged_vectors=merged.merged_vectors,
            )
        except Exception as error:  # per run: the other runs are still marked
            reason = f"marking run {merged.run.run_id} COMPLETED failed: {error}"
            failures.update(dict.fromkeys(merged.message_ids, reason))
    return failures


def _merge_runs(context: _Context, messages: list[CompactionMessage], batch: _Batch) -> None:
    by_run: defaultdict[tuple[ReceiptKey, str], list[str]] = defaultdict(list)
    for message in messages:
        try:
            by_run[(message.receipt, str(message.key["run_id"]))].append(message.message_id)
        except Exception as error:  # a per-message boundary: a key no run can have fails alone
            batch.fail([message.message_id], f"entity_data {message.key!r} names no run: {error}")
    for (receipt, run_id), message_ids in sorted(by_run.items()):
        try:
            run_key = CompactionRun(image_id=receipt.image_id, receipt_id=receipt.receipt_id, run_id=run_id)
            merge = _merge_run(context, run_key)
        except (
            Exception
        ) as error:  # a per-message boundary: this run (its key included) fails, the batch goes on
            logger.warning("delta merge of run %s into %s failed: %s", run_id, context.name, error)
            batch.fail(message_ids, f"delta merge failed: {error}")
            continue
        # Reconcile the run's receipt even when already merged: a replayed message still converges.
        for touched in {receipt} | (merge.receipts if merge else frozenset()):
            batch.scopes[touched] += [(Scope(touched), message_id) for message_id in message_ids]
        if merge is not None:
            batch.merged.append(MergedRun(merge.run, context.name, merge.merged_vectors, tuple(message_ids)))


def _merge_run(context: _Context, run_key: CompactionRun) -> _Merge | None:
    """Merge the run's delta into the collection; None when this collection already merged it."""
    run = load_run(context.clients.dynamodb, context.table_name, run_key)
    if run is None:
        raise LookupError(f"CompactionRun {run_key.pk} {run_key.sk} is not in table {context.table_name}")
    if run.state_for(context.name) == "COMPLETED":
        return None
    with tempfile.TemporaryDirectory(prefix="delta-") as scratch:
        prefix = run.delta_key_prefix(context.name, bucket=context.bucket)
        delta_dir = download_delta(context.clients.s3, context.bucket, prefix, Path(scratch) / "delta")
        ids = merge_delta(delta_dir, context.collection, context.name)
    receipts = frozenset(
        ReceiptKey(*found) for embedding_id in ids if (found := receipt_of_embedding_id(embedding_id))
    )
    return _Merge(run, receipts, len(ids))


def _reconcile(context: _Context, batch: _Batch) -> ReceiptChanges:
    changes = ReceiptChanges()
    planned: list[str] = []
    states = _read_states(context, sorted(batch.scopes))
    for receipt, scoped in sorted(batch.scopes.items()):
        message_ids = [message_id for _, message_id in scoped]
        try:
            state = states[receipt]
            if isinstance(state, Exception):
                raise state
            scopes = [scope for scope, _ in scoped]
            changes.merge(plan_receipt_changes(context.collection, context.name, state, scopes))
            planned += message_ids
        except Exception as error:  # a per-receipt boundary: its messages fail, the others go on
            logger.warning("reconciling %s in %s failed: %s", receipt, context.name, error)
            batch.fail(
                message_ids, f"reconciling receipt {receipt.image_id}/{receipt.receipt_id} failed: {error}"
            )
    try:
        apply_changes(context.collection, changes)
    except Exception as error:  # Chroma refused the writes: every message that planned one must retry
        logger.warning("applying %d updates to %s failed: %s", len(changes.updates), context.name, error)
        batch.fail(planned, f"writing to Chroma failed: {error}")
        return ReceiptChanges()
    return changes


def _read_states(context: _Context, receipts: list[ReceiptKey]) -> dict[ReceiptKey, ReceiptState | Exception]:
    """Every receipt's current state: one consistent Query per image partition (receipts of one image
    share it), partitions read concurrently. A failed read is kept as its exception."""
    return load_states(context.clients.dynamodb, context.table_name, receipts)


def _outcome(message_id: str, batch: _Batch) -> MessageOutcome:
    reason = batch.failures.get(message_id)
    if reason is not None:
        return MessageOutcome(message_id, "failed", reason)
    return MessageOutcome(message_id, "applied", "applied")
