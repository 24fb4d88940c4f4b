"""One compaction invocation: per collection, lease -> restore -> compact -> publish -> complete runs.

Failures are data: the result says, per SQS messageId, whether it must come back. A busy lease is waited for
(``wait_for_lease``) while the invocation's wait budget lasts, so contention between compactors costs time,
not SQS receives; a lease still busy after that, a lost race at the pointer or a lost lease fails that
collection's messages (SQS redelivers them; the work is idempotent); a poison message fails alone.
Working copies left by processes that died are removed at the start of each cycle (``working_copies``).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from receipt_compaction.chroma_ids import COLLECTIONS
from receipt_compaction.compaction.compactor import CompactionResult, compact, complete_runs
from receipt_compaction.compaction.inbox import CompactionMessage, MessageFailure, parse_sqs_records
from receipt_compaction.compaction.working_copies import make_working_dir, remove_stale_working_dirs
from receipt_compaction.crashpoints import crash_point
from receipt_compaction.lock import LeaseBusy, wait_for_lease
from receipt_compaction.snapshot import (
    EFSSnapshotManager,
    PublishedVersion,
    SnapshotStore,
    empty_snapshot_dir,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from receipt_compaction.aws import AwsClients
    from receipt_compaction.chroma_ids import CollectionName
    from receipt_compaction.lock import Lease
    from receipt_compaction.settings import CompactionSettings

__all__ = [
    "CollectionReport",
    "InvocationReport",
    "compact_collection",
    "local_wait_budget",
    "process_sqs_batch",
]

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


def local_wait_budget(settings: CompactionSettings) -> Callable[[], float]:
    """The wait budget with no Lambda context: ``settings.lease_wait_seconds`` from now, for the whole
    invocation (every collection in it)."""
    deadline = time.monotonic() + settings.lease_wait_seconds
    return lambda: deadline - time.monotonic()


def process_sqs_batch(
    records: Iterable[object],
    *,
    settings: CompactionSettings,
    clients: AwsClients,
    wait_budget: Callable[[], float] | None = None,
) -> InvocationReport:
    """Compact each collection the records name. ``wait_budget()`` is how many seconds the invocation may
    still spend waiting for a busy lease (default: ``local_wait_budget(settings)``)."""
    budget = wait_budget or local_wait_budget(settings)
    messages, parse_failures = parse_sqs_records(records)
    for failure in parse_failures:
        logger.warning("message %s can never apply: %s", failure.message_id, failure.reason)
    by_collection: defaultdict[CollectionName, list[CompactionMessage]] = defaultdict(list)
    for message in messages:
        by_collection[message.collection].append(message)
    reports = tuple(
        compact_collection(
            by_collection[name], collection=name, settings=settings, clients=clients, wait_budget=budget
        )
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
    wait_budget: Callable[[], float] | None = None,
) -> CollectionReport:
    ids = tuple(message.message_id for message in messages)
    try:
        lease = wait_for_lease(
            clients.dynamodb,
            settings.table_name,
            collection,
            duration=settings.lease_seconds,
            budget=wait_budget or local_wait_budget(settings),
        )
    except LeaseBusy as error:
        logger.warning("the %d %s messages will be retried: %s", len(ids), collection, error)
        return CollectionReport(collection, ids, dict.fromkeys(ids, str(error)))
    with lease:
        _remove_stale_working_dirs(collection, settings)
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
    parent = make_working_dir(settings.work_root, collection)
    try:
        working = (
            cache.working_copy(pointer.version_id, parent / "chroma")
            if pointer
            else empty_snapshot_dir(collection, parent)
        )
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
        shutil.rmtree(parent, ignore_errors=True)


def _remove_stale_working_dirs(collection: CollectionName, settings: CompactionSettings) -> None:
    try:
        remove_stale_working_dirs(
            settings.work_root, collection=collection, older_than=settings.lease_seconds
        )
    except OSError as error:  # housekeeping: it never fails the messages
        logger.warning("removing stale working copies under %s failed: %s", settings.work_root, error)


def _tidy(store: SnapshotStore, cache: EFSSnapshotManager, settings: CompactionSettings) -> None:
    try:
        store.retain(keep=settings.keep_versions)
        cache.cleanup(keep=2)
    except Exception as error:  # retention is housekeeping: it never fails the messages
        logger.warning("snapshot retention for %s failed: %s", store.collection, error)
