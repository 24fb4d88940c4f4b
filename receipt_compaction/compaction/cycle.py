"""One compaction invocation: per collection, lease -> restore -> compact -> publish -> complete runs.

Failures are data: the result says, per SQS messageId, whether it must come back. A busy lease, a lost race
at the pointer or a lost lease fails that collection's messages (SQS redelivers them; the work is
idempotent); a poison message fails alone.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from receipt_compaction.chroma_ids import COLLECTIONS
from receipt_compaction.compaction.compactor import CompactionResult, compact, complete_runs
from receipt_compaction.compaction.inbox import CompactionMessage, MessageFailure, parse_sqs_records
from receipt_compaction.crashpoints import crash_point
from receipt_compaction.lock import LeaseBusy, acquire_lease
from receipt_compaction.snapshot import (
    EFSSnapshotManager,
    PublishedVersion,
    SnapshotStore,
    empty_snapshot_dir,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from receipt_compaction.aws import AwsClients
    from receipt_compaction.chroma_ids import CollectionName
    from receipt_compaction.lock import Lease
    from receipt_compaction.settings import CompactionSettings

__all__ = ["CollectionReport", "InvocationReport", "compact_collection", "process_sqs_batch"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CollectionReport:
    collection: CollectionName
    message_ids: tuple[str, ...]
    failures: dict[str, str] = field(default_factory=dict)
    published: PublishedVersion | None = None
    result: CompactionResult | None = None

    @property
    def version_id(self) -> str | None:
        return self.published.manifest.version_id if self.published else None


@dataclass(frozen=True)
class InvocationReport:
    collections: tuple[CollectionReport, ...]
    parse_failures: tuple[MessageFailure, ...]

    def failed(self) -> dict[str, str]:
        failed = {failure.message_id: failure.reason for failure in self.parse_failures}
        for report in self.collections:
            failed.update(report.failures)
        return failed

    def response(self) -> dict[str, list[dict[str, str]]]:
        """The Lambda partial batch response for an SQS event source."""
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in self.failed()]}


def process_sqs_batch(
    records: Iterable[object], *, settings: CompactionSettings, clients: AwsClients
) -> InvocationReport:
    messages, parse_failures = parse_sqs_records(records)
    for failure in parse_failures:
        logger.warning("message %s can never apply: %s", failure.message_id, failure.reason)
    by_collection: defaultdict[CollectionName, list[CompactionMessage]] = defaultdict(list)
    for message in messages:
        by_collection[message.collection].append(message)
    reports = tuple(
        compact_collection(by_collection[name], collection=name, settings=settings, clients=clients)
        for name in COLLECTIONS
        if by_collection[name]
    )
    return InvocationReport(reports, tuple(parse_failures))


def compact_collection(
    messages: Sequence[CompactionMessage],
    *,
    collection: CollectionName,
    settings: CompactionSettings,
    clients: AwsClients,
) -> CollectionReport:
    ids = tuple(message.message_id for message in messages)
    try:
        lease = acquire_lease(
            clients.dynamodb, settings.table_name, collection, duration=settings.lease_seconds
        )
    except LeaseBusy as error:
        return CollectionReport(collection, ids, dict.fromkeys(ids, str(error)))
    with lease:
        store = SnapshotStore(clients.s3, settings.bucket, collection)
        cache = EFSSnapshotManager(settings.efs_root, store)
        try:
            return _locked_cycle(
                messages,
                collection=collection,
                settings=settings,
                clients=clients,
                store=store,
                cache=cache,
                lease=lease,
            )
        except Exception as error:  # a per-collection boundary: every message of it comes back later
            logger.warning(
                "compaction of %s failed, its %d messages will be retried: %s", collection, len(ids), error
            )
            return CollectionReport(collection, ids, dict.fromkeys(ids, f"{type(error).__name__}: {error}"))


def _locked_cycle(
    messages: Sequence[CompactionMessage],
    *,
    collection: CollectionName,
    settings: CompactionSettings,
    clients: AwsClients,
    store: SnapshotStore,
    cache: EFSSnapshotManager,
    lease: Lease,
) -> CollectionReport:
    ids = tuple(message.message_id for message in messages)
    pointer = store.read_pointer()
    working = cache.working_copy(pointer.version_id) if pointer else _empty_working_copy(collection)
    try:
        crash_point("after_restore")
        result = compact(
            messages,
            collection=collection,
            chroma_dir=working,
            clients=clients,
            table_name=settings.table_name,
            bucket=settings.bucket,
        )
        crash_point("after_compaction")
        failures = {o.message_id: o.reason for o in result.outcomes if o.status == "failed"}
        if not result.changed:
            if pointer is not None:
                cache.set_current(pointer.version_id)
            return CollectionReport(collection, ids, failures, None, result)
        published = store.publish(
            working, expected=pointer, fencing_token=lease.token, count=result.count, guard=lease.check
        )
        cache.adopt(working, published.manifest)
        cache.set_current(published.manifest.version_id)
        failures.update(complete_runs(result, clients=clients, table_name=settings.table_name))
        _tidy(store, cache, settings)
        return CollectionReport(collection, ids, failures, published, result)
    finally:
        shutil.rmtree(working.parent, ignore_errors=True)


def _empty_working_copy(collection: CollectionName) -> Path:
    """No version yet: the first one is compacted from an empty collection and published with no parent
    (its pointer write requires that there still is no pointer)."""
    return empty_snapshot_dir(collection, Path(tempfile.mkdtemp(prefix="working-")))


def _tidy(store: SnapshotStore, cache: EFSSnapshotManager, settings: CompactionSettings) -> None:
    try:
        store.retain(keep=settings.keep_versions)
        cache.cleanup(keep=2)
    except Exception as error:  # retention is housekeeping: it never fails the messages
        logger.warning("snapshot retention for %s failed: %s", store.collection, error)
