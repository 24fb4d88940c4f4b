"""Stage actions that check: the published snapshot, the last drain's report, CompactionRun states."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from receipt_compaction.entities import CompactionRun
from receipt_compaction.harness.scenarios.context import ScenarioContext, StageFailure
from receipt_compaction.harness.scenarios.writing import current_entity

if TYPE_CHECKING:
    from collections.abc import Mapping

    from receipt_compaction.harness.pipeline import SnapshotView

__all__ = [
    "run_expect_batch_failures",
    "run_expect_dlq",
    "run_expect_messages",
    "run_expect_run",
    "run_expect_snapshot",
]


def run_expect_snapshot(context: ScenarioContext, arguments: Mapping[str, Any]) -> None:
    collection = arguments["collection"]
    snapshot = context.snapshot(collection)
    if "version" in arguments:
        _expect_version(context, collection, arguments["version"], snapshot)
    if snapshot is None:
        snapshot = context.pipeline.latest_snapshot(collection)  # raises: nothing has been published
    ids = [context.embedding_id(reference) for reference in arguments.get("ids", [])]
    where = _where(context, arguments)
    found = context.read(snapshot, ids=ids or None, where=where)
    if ids:
        missing = sorted(set(ids) - set(found["ids"]))
        if missing:
            raise StageFailure(
                f"{len(missing)} id(s) missing from {collection}", expected=ids, actual=found["ids"]
            )
    if "count" in arguments and len(found["ids"]) != arguments["count"]:
        raise StageFailure(
            f"wrong number of {collection} records", expected=arguments["count"], actual=len(found["ids"])
        )
    for embedding_id, metadata in zip(found["ids"], found["metadatas"], strict=True):
        _expect_metadata(embedding_id, metadata or {}, arguments.get("metadata", {}))
    absent = [context.embedding_id(reference) for reference in arguments.get("absent", [])]
    present = context.read(snapshot, ids=absent)["ids"] if absent else []
    if present:
        raise StageFailure(f"ids that should be gone are still in {collection}", expected=[], actual=present)


def _where(context: ScenarioContext, arguments: Mapping[str, Any]) -> dict[str, Any] | None:
    conditions = [dict(arguments["where"])] if arguments.get("where") else []
    if "receipt" in arguments:
        key = context.receipt(arguments["receipt"])
        conditions += [{"image_id": key.image_id}, {"receipt_id": key.receipt_id}]
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def _expect_metadata(embedding_id: str, actual: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    differing = {name: actual.get(name) for name, value in expected.items() if actual.get(name) != value}
    if differing:
        wanted = {name: expected[name] for name in differing}
        raise StageFailure(f"metadata of {embedding_id} differs", expected=wanted, actual=differing)


def _expect_version(
    context: ScenarioContext, collection: str, expectation: str, snapshot: SnapshotView | None
) -> None:
    """Advanced: the last drain moved the pointer (a handler's pointer write succeeded; version ids are
    never reused, so the pointer names another version), or, before any drain, a version is published."""
    now = snapshot.version_id if snapshot else None
    if context.drained:
        advanced = context.pipeline.last_writes.pointer_moved(collection)
        actual = f"{now} ({'moved' if advanced else 'not moved'} by the last drain)"
    else:
        advanced, actual = now is not None, f"{now} (no drain ran yet)"
    if advanced != (expectation == "advanced"):
        raise StageFailure(
            f"the {collection} version should be {expectation}",
            expected=f"{expectation} by the last drain",
            actual=actual,
        )


def _report(context: ScenarioContext) -> Any:
    if context.last_report is None:
        reason = f"it crashed at {context.crashed}" if context.crashed else "no drain ran yet"
        raise StageFailure(f"there is no drain report to check: {reason}")
    return context.last_report


def run_expect_messages(context: ScenarioContext, arguments: Mapping[str, Any]) -> None:
    report = _report(context)
    actual = report.messages_by_collection.get(arguments["collection"], 0)
    if actual != arguments["count"]:
        raise StageFailure(
            f"wrong number of messages sent to {arguments['collection']} in the last drain",
            expected=arguments["count"],
            actual=actual,
        )


def run_expect_dlq(context: ScenarioContext, arguments: Mapping[str, Any]) -> None:
    actual = _report(context).dlq_arrivals.get(arguments["collection"], 0)
    if actual != arguments["count"]:
        raise StageFailure(
            f"wrong number of {arguments['collection']} DLQ arrivals in the last drain",
            expected=arguments["count"],
            actual=actual,
        )


def run_expect_batch_failures(context: ScenarioContext, arguments: Mapping[str, Any]) -> None:
    report = _report(context)
    sources = arguments.get("source")
    failures = [f for i in report.invocations if sources in (None, i.source) for f in i.failures]
    low, high = arguments.get("min", 0), arguments.get("max", float("inf"))
    if "count" in arguments:
        low = high = arguments["count"]
    if not low <= len(failures) <= high:
        raise StageFailure(
            f"wrong number of batch item failures{f' from {sources}' if sources else ''} in the last drain",
            expected=arguments.get("count", f"{low}..{high}"),
            actual=len(failures),
        )


def run_expect_run(context: ScenarioContext, arguments: Mapping[str, Any]) -> None:
    alias = arguments["run"]
    if alias not in context.runs:
        raise StageFailure(f"no compaction_run stage named run {alias!r}")
    run = context.runs[alias]
    current = current_entity(context, CompactionRun, {**run.key_values(), "image_id": run.image_id})
    if not isinstance(current, CompactionRun):
        raise StageFailure(f"run {alias!r} is no longer in the table")
    for collection in ("lines", "words"):
        wanted = arguments.get(collection)
        if wanted is not None and current.state_for(collection) != wanted:
            raise StageFailure(
                f"run {alias!r} is {current.state_for(collection)} for {collection}",
                expected=wanted,
                actual=current.state_for(collection),
            )
