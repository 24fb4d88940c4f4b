"""Which messages a parsed record produces, and for which collections (DESIGN §4)."""

from __future__ import annotations

from receipt_compaction.contract import QueueMessage, StreamMessage
from receipt_compaction.stream.changes import relevant_changes
from receipt_compaction.stream.parsing import ParsedRecord

__all__ = ["build_messages"]


def build_messages(parsed: ParsedRecord, *, timestamp: str) -> tuple[QueueMessage, ...]:
    """One message per collection the entity feeds, or none when the event cannot change an embedding.

    Each entity class declares the events that make its embeddings dirty (``DIRTY_ON``) and the
    collections they live in (``COLLECTIONS``). A MODIFY counts only when a Chroma-relevant field changed;
    an INSERT or REMOVE always counts, because the compactor reconciles to the current state anyway.
    """
    record, entity_class = parsed.record, parsed.entity_class
    if record.event_name not in entity_class.DIRTY_ON:
        return ()
    changes = relevant_changes(entity_class, parsed.old, parsed.new)
    if record.event_name == "MODIFY" and not changes:
        return ()
    entity = parsed.new or parsed.old
    assert entity is not None  # parse_record guarantees the image each event needs
    return tuple(
        QueueMessage(
            collection=collection,
            message=StreamMessage(
                entity_type=entity_class.ENTITY_TYPE,
                entity_data=entity.entity_data(collection),
                changes=changes,
                event_name=record.event_name,
                timestamp=timestamp,
                stream_record_id=record.event_id,
                aws_region=record.aws_region,
            ),
        )
        for collection in entity_class.COLLECTIONS
    )
