"""Reading CompactionRun items and marking one collection of a run COMPLETED."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from receipt_compaction.entities import CompactionRun

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from receipt_compaction.chroma_ids import CollectionName

__all__ = ["load_run", "mark_run_completed"]


def load_run(dynamodb: DynamoDBClient, table_name: str, run_key: CompactionRun) -> CompactionRun | None:
    """The current item of the run whose key ``run_key`` has (a consistent read); None when it is gone."""
    item = dynamodb.get_item(TableName=table_name, Key=run_key.key(), ConsistentRead=True).get("Item")
    return CompactionRun.from_item(item) if item else None


def mark_run_completed(
    dynamodb: DynamoDBClient,
    table_name: str,
    run: CompactionRun,
    *,
    collection: CollectionName,
    merged_vectors: int,
    now: datetime | None = None,
) -> None:
    """One atomic UpdateItem that touches only ``collection``'s fields; the item must still exist."""
    timestamp = (now or datetime.now(UTC)).isoformat()
    dynamodb.update_item(
        TableName=table_name,
        Key=run.key(),
        UpdateExpression="SET #state = :completed, #merged = :merged, #finished = :now, updated_at = :now",
        ConditionExpression="attribute_exists(PK)",
        ExpressionAttributeNames={
            "#state": f"{collection}_state",
            "#merged": f"{collection}_merged_vectors",
            "#finished": f"{collection}_finished_at",
        },
        ExpressionAttributeValues={
            ":completed": {"S": "COMPLETED"},
            ":merged": {"N": str(merged_vectors)},
            ":now": {"S": timestamp},
        },
    )
