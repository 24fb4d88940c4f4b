"""The stage vocabulary: each action is a name, a description, a JSON schema for its argument, and a
function that runs it. Installed packages add actions through the ``receipt_compaction.stage_actions`` entry
point group, a ``conftest.py`` through the pytest plugin's stage-actions hook (see ``vocabulary``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from receipt_compaction.crashpoints import CRASH_POINTS
from receipt_compaction.harness.scenarios.draining import run_drain, run_fault
from receipt_compaction.harness.scenarios.expectations import (
    run_expect_batch_failures,
    run_expect_dlq,
    run_expect_messages,
    run_expect_run,
    run_expect_snapshot,
)
from receipt_compaction.harness.scenarios.schema import entity_argument_schema
from receipt_compaction.harness.scenarios.writing import (
    run_compaction_run,
    run_delete,
    run_put,
    run_send_message,
    run_update,
)

if TYPE_CHECKING:
    from receipt_compaction.harness.scenarios.context import ScenarioContext

__all__ = ["BUILTIN_ACTIONS", "StageAction"]

COLLECTION = {"enum": ["lines", "words"]}
REFS = {"type": "array", "items": {"type": "string", "pattern": "^[^/]+/[0-9]+(/[0-9]+)?$"}}


@dataclass(frozen=True)
class StageAction:
    name: str
    description: str
    schema: dict[str, Any]
    run: Callable[[ScenarioContext, Any], None]


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required or [],
        "properties": properties,
    }


def _true_or(options: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [{"const": True}, options]}


BUILTIN_ACTIONS: tuple[StageAction, ...] = (
    StageAction(
        "put",
        "Write an entity (PutItem: INSERT or MODIFY): `entity` is receipt, line, word, metadata, label or "
        "run; `receipt` a seeded alias; the other keys are that entity's fields (all its required ones).",
        entity_argument_schema(mode="put"),
        run_put,
    ),
    StageAction(
        "update",
        "Read the entity with that key (its key fields) and put it back with the given fields changed.",
        entity_argument_schema(mode="update"),
        run_update,
    ),
    StageAction(
        "delete",
        "Delete the entity with that key (its key fields only; REMOVE).",
        entity_argument_schema(mode="delete"),
        run_delete,
    ),
    StageAction(
        "compaction_run",
        "Embed the receipt's current state into deltas (`layout`: tarball or directory), upload them, then "
        "write the CompactionRun item; `run` names it for `expect_run`.",
        _object(
            {
                "receipt": {"type": "string"},
                "run": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
                "layout": {"enum": ["tarball", "directory"]},
            },
            ["receipt"],
        ),
        run_compaction_run,
    ),
    StageAction(
        "send_message",
        "Put a raw message `body` on `collection`'s queue (with its collection attribute): a poison one, "
        "for instance.",
        _object({"collection": COLLECTION, "body": {"type": "string"}}, ["collection", "body"]),
        run_send_message,
    ),
    StageAction(
        "drain",
        "Run the stream and queue sources until nothing is in flight (armed faults apply to this drain); "
        "`quiet_period` and `deadline` (seconds) override the run's for this drain.",
        {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                "quiet_period": {"type": "number", "minimum": 0},
                "deadline": {"type": "number", "exclusiveMinimum": 0},
            },
        },
        run_drain,
    ),
    StageAction(
        "fault",
        "Arm faults for the next drain: `crash_at` a named point; `sqs_send_failure` {call: N, times} (every "
        "entry of SendMessageBatch calls N.. fails; 4 exhaust the publisher's retries); `pointer_conflict` "
        "{status: 412|409, nth, times} (pointer writes); `lease_loss`; `duplicate_delivery`; "
        "`reordered_delivery`. On the stream reader's client: `empty_pages` N (empty GetRecords pages before "
        "the records); `stream_latency` {milliseconds: T} or {polls: N} (records visible only that much "
        "later); `iterator_expired` (true or {times: N}: GetRecords raises ExpiredIteratorException); "
        "`shard_split` (true or {after: N records}: the shard closes, a child shard goes on); "
        "`identical_put` (a put that changes nothing writes no stream record, as on AWS).",
        _object(
            {
                "crash_at": {"enum": list(CRASH_POINTS)},
                "sqs_send_failure": _object(
                    {"call": {"type": "integer", "minimum": 1}, "times": {"type": "integer", "minimum": 1}}
                ),
                "pointer_conflict": _object(
                    {
                        "status": {"enum": [409, 412]},
                        "nth": {"type": "integer", "minimum": 1},
                        "times": {"type": "integer", "minimum": 1},
                    }
                ),
                "lease_loss": {"type": "boolean"},
                "duplicate_delivery": {"type": "boolean"},
                "reordered_delivery": {"type": "boolean"},
                "empty_pages": {"type": "integer", "minimum": 1},
                "stream_latency": _object(
                    {
                        "milliseconds": {"type": "number", "exclusiveMinimum": 0},
                        "polls": {"type": "integer", "minimum": 1},
                    }
                )
                | {"minProperties": 1, "maxProperties": 1},
                "iterator_expired": _true_or(_object({"times": {"type": "integer", "minimum": 1}})),
                "shard_split": _true_or(_object({"after": {"type": "integer", "minimum": 1}})),
                "identical_put": {"type": "boolean"},
            }
        )
        | {"minProperties": 1},
        run_fault,
    ),
    StageAction(
        "expect_snapshot",
        "Check the latest published snapshot of `collection`: `ids` (receipt/line[/word]) or `where` or "
        "`receipt` select records; `count`, `metadata` (a subset every selected record has; null means "
        "absent), `absent` ids, `version` (advanced or unchanged since the last drain began).",
        _object(
            {
                "collection": COLLECTION,
                "ids": REFS,
                "where": {"type": "object"},
                "receipt": {"type": "string"},
                "count": {"type": "integer", "minimum": 0},
                "metadata": {"type": "object"},
                "absent": REFS,
                "version": {"enum": ["advanced", "unchanged"]},
            },
            ["collection"],
        ),
        run_expect_snapshot,
    ),
    StageAction(
        "expect_messages",
        "Check how many messages the last drain delivered to `collection` for the first time.",
        _object(
            {"collection": COLLECTION, "count": {"type": "integer", "minimum": 0}}, ["collection", "count"]
        ),
        run_expect_messages,
    ),
    StageAction(
        "expect_dlq",
        "Check how many messages reached `collection`'s DLQ during the last drain.",
        _object(
            {"collection": COLLECTION, "count": {"type": "integer", "minimum": 0}}, ["collection", "count"]
        ),
        run_expect_dlq,
    ),
    StageAction(
        "expect_run",
        "Check a CompactionRun's state per collection (`lines`, `words`: PENDING, PROCESSING, COMPLETED, "
        "FAILED).",
        _object(
            {
                "run": {"type": "string"},
                "lines": {"enum": ["PENDING", "PROCESSING", "COMPLETED", "FAILED"]},
                "words": {"enum": ["PENDING", "PROCESSING", "COMPLETED", "FAILED"]},
            },
            ["run"],
        ),
        run_expect_run,
    ),
    StageAction(
        "expect_batch_failures",
        "Check the batch item failures of the last drain: `count`, or `min`/`max`; `source` is stream, lines "
        "or words.",
        _object(
            {
                "count": {"type": "integer", "minimum": 0},
                "min": {"type": "integer", "minimum": 0},
                "max": {"type": "integer", "minimum": 0},
                "source": {"enum": ["stream", "lines", "words"]},
            }
        ),
        run_expect_batch_failures,
    ),
)
