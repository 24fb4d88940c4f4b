"""Stage actions that run the pipeline: drain, and the faults armed for the next drain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from receipt_compaction.aws import HANDLER_EVENTS
from receipt_compaction.crashpoints import SimulatedCrash, at_point, crash_at
from receipt_compaction.harness.faults import (
    STREAM_FAULTS,
    S3PointerConflicts,
    SqsBatchRewrite,
    SqsEntryFaults,
    stream_fault,
)
from receipt_compaction.snapshot import SnapshotStore

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from receipt_compaction.harness.scenarios.context import ScenarioContext

__all__ = ["current_pointer", "run_drain", "run_fault"]


def run_drain(context: ScenarioContext, arguments: Any) -> None:
    """Drain with the faults armed; ``quiet_period`` and ``deadline`` (seconds) override the pipeline's."""
    options = arguments or {}
    context.drained = True  # the pipeline's ``last_writes`` says which pointers this drain moved
    context.crashed = None
    with context.armed():
        try:
            context.last_report = context.pipeline.drain(
                quiet_period=options.get("quiet_period"), deadline=options.get("deadline")
            )
        except SimulatedCrash as crash:
            # The compactor process died: its messages come back (the queue source released them) and its
            # lease runs out; the scenario goes on as AWS would after the visibility timeout.
            context.crashed = str(crash)
            context.last_report = None
    if context.crashed:
        context.pipeline.expire_leases()


def run_fault(context: ScenarioContext, arguments: Mapping[str, Any]) -> None:
    """Arm faults for the next drain: on the handlers' clients (``HANDLER_EVENTS``), and the stream faults
    on the pipeline's own ``dynamodbstreams`` client, the one its shard reader uses."""
    for name in STREAM_FAULTS:
        if name in arguments and arguments[name] is not False:
            context.arm(
                stream_fault(
                    name,
                    arguments[name],
                    streams=context.pipeline.clients.dynamodbstreams,
                    stream_arn=context.pipeline.resources.stream_arn,
                )
            )
    if "crash_at" in arguments:
        context.arm(crash_at(arguments["crash_at"]))
    if "sqs_send_failure" in arguments:
        options = arguments["sqs_send_failure"]
        first, times = options.get("call", 1), options.get("times", 4)
        failing = {call: set(range(10)) for call in range(first, first + times)}
        context.arm(SqsEntryFaults(HANDLER_EVENTS, calls=failing))
    if "pointer_conflict" in arguments:
        options = arguments["pointer_conflict"]
        status, times, nth = options.get("status", 412), options.get("times", 1), options.get("nth", 1)
        context.arm(S3PointerConflicts(HANDLER_EVENTS, status=status, times=times, skip=nth - 1))
    if arguments.get("lease_loss"):
        context.arm(at_point("after_manifest", _once(context.pipeline.expire_leases)))
    if arguments.get("duplicate_delivery") or arguments.get("reordered_delivery"):
        rewrite = SqsBatchRewrite(
            HANDLER_EVENTS,
            duplicate=bool(arguments.get("duplicate_delivery")),
            reverse=bool(arguments.get("reordered_delivery")),
        )
        context.arm(rewrite)


def _once(action: Callable[[], None]) -> Callable[[], None]:
    done: list[bool] = []

    def run() -> None:
        if not done:
            done.append(True)
            action()

    return run


def current_pointer(context: ScenarioContext, collection: str) -> str | None:
    pointer = SnapshotStore(
        context.pipeline.clients.s3, context.pipeline.resources.bucket, collection
    ).read_pointer()
    return pointer.version_id if pointer else None
