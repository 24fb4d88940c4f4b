"""Which messages a parsed record produces, and for which collections (DESIGN §4)."""

from __future__ import annotations

from typing import Any

from receipt_compaction.contract import OutgoingMessage, message_body
from receipt_compaction.entities import MessageFields
from receipt_compaction.stream.changes import plain_changes
from receipt_compaction.stream.parsing import ParsedRecord

__all__ = ["build_messages"]


def build_messages(parsed: ParsedRecord, *, timestamp: str) -> tuple[OutgoingMessage, ...]:
    """One message per collection the entity feeds, or none when the event cannot change an embedding.

    Each entity class declares the events that make its embeddings dirty (``DIRTY_ON``) and the
    collections they live in (``COLLECTIONS``). A MODIFY counts only when a Chroma-relevant field changed;
    an INSERT or REMOVE always counts, because the compactor reconciles to the current state anyway.
    Collections whose ``entity_data`` is the same share one body (built once).
    """
    record, entity_class = parsed.record, parsed.entity_class
    if record.event_name not in entity_class.DIRTY_ON:
        return ()
    changes = plain_changes(entity_class, parsed.old, parsed.new)
    if record.event_name == "MODIFY" and not changes:
        return ()
    entity = parsed.new or parsed.old
    assert entity is not None  # parse_record guarantees the image each event needs
    messages: list[OutgoingMessage] = []
    shared: tuple[dict[str, Any], dict[str, Any], str] | None = None
    same_data = type(entity) is MessageFields  # its entity_data is the key, whatever the collection
    for collection in entity_class.COLLECTIONS:
        if same_data and shared is not None:
            messages.append(OutgoingMessage(collection, shared[1], shared[2]))
            continue
        entity_data = entity.entity_data(collection)
        if shared is None or shared[0] != entity_data:
            fields = {
                "source": "dynamodb_stream",
                "entity_type": entity_class.ENTITY_TYPE,
                "entity_data": entity_data,
                "changes": changes,
                "event_name": record.event_name,
                "timestamp": timestamp,
                "stream_record_id": record.event_id,
                "aws_region": record.aws_region,
            }
            shared = (entity_data, fields, message_body(fields))
        messages.append(OutgoingMessage(collection, shared[1], shared[2]))
    return tuple(messages)
