"""Parsing SQS records (Lambda event or ReceiveMessage shape) into compaction messages.

A record that can never be applied (body not JSON, not the contract, an unknown entity or collection, a key
that does not parse) becomes a per-message failure, so SQS's redrive policy can move it to the DLQ; it never
stops the other messages. That holds for *any* exception raised while one record is decoded, parsed or
validated (a body nested too deep for the decoder, a number too long to convert, a bug): it is that record's
failure, with its reason, and the next record is read as if it had been alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from receipt_compaction.chroma_ids import COLLECTIONS, CollectionName
from receipt_compaction.contract import StreamMessage
from receipt_compaction.entities import ENTITY_CLASSES, Entity, entity_class_for_key
from receipt_compaction.entities.base import describe_validation_error
from receipt_compaction.keys import KeyValue, render_pk, render_sort_key
from receipt_compaction.state import ReceiptKey

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["CompactionMessage", "MessageFailure", "parse_sqs_record", "parse_sqs_records"]

logger = logging.getLogger(__name__)

_ENTITY_TYPES: dict[str, type[Entity]] = {
    entity_class.ENTITY_TYPE: entity_class for entity_class in ENTITY_CLASSES
}


class MessageError(ValueError):
    """A message that can never be applied; retrying it cannot help."""


@dataclass(frozen=True)
class CompactionMessage:
    """A validated message: which entity (by key) is dirty in which collection."""

    message_id: str
    collection: CollectionName
    message: StreamMessage
    entity_class: type[Entity]
    key: dict[str, KeyValue]

    @property
    def receipt(self) -> ReceiptKey:
        return ReceiptKey(str(self.key["image_id"]), int(self.key["receipt_id"]))

    def key_int(self, name: str) -> int | None:
        value = self.key.get(name)
        return None if value is None else int(value)


@dataclass(frozen=True)
class MessageFailure:
    message_id: str
    reason: str


def parse_sqs_records(records: Iterable[object]) -> tuple[list[CompactionMessage], list[MessageFailure]]:
    """Split records into valid messages and per-message failures (in input order)."""
    messages: list[CompactionMessage] = []
    failures: list[MessageFailure] = []
    for record in records:
        try:
            messages.append(parse_sqs_record(record))
        except MessageError as error:
            failures.append(MessageFailure(message_id_of(record), str(error)))
        except Exception as error:  # a per-message boundary: whatever one body does, it fails alone
            message_id = message_id_of(record)
            logger.warning(
                "reading SQS message %s raised %s", message_id, type(error).__name__, exc_info=True
            )
            failures.append(MessageFailure(message_id, f"the message could not be read: {_describe(error)}"))
    return messages, failures


def parse_sqs_record(record: object) -> CompactionMessage:
    if not isinstance(record, Mapping):
        raise MessageError(f"an SQS record must be an object, got {type(record).__name__}")
    message_id = message_id_of(record)
    body = _first(record, "body", "Body")
    if not isinstance(body, str):
        raise MessageError("the SQS record has no string body")
    try:
        message = StreamMessage.model_validate(_decode(body))
    except ValidationError as error:
        raise MessageError(
            f"the body is not a stream message: {'; '.join(describe_validation_error(error))}"
        ) from None
    collection = _collection(record)
    entity_class = _ENTITY_TYPES.get(message.entity_type)
    if entity_class is None:
        raise MessageError(
            f"unknown entity_type {message.entity_type!r}; known: {', '.join(sorted(_ENTITY_TYPES))}"
        )
    if collection not in entity_class.COLLECTIONS:
        raise MessageError(f"{message.entity_type} messages do not belong to the {collection!r} collection")
    return CompactionMessage(message_id, collection, message, entity_class, _key(entity_class, message))


def _decode(body: str) -> object:
    """The body's JSON, or a MessageError saying why this decoder cannot read it."""
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        raise MessageError(f"the body is not JSON ({error})") from None
    except RecursionError:
        raise MessageError(
            f"the body nests arrays or objects deeper than the JSON decoder follows ({len(body)} characters)"
        ) from None
    except ValueError as error:  # e.g. an integer longer than Python converts (sys.get_int_max_str_digits)
        raise MessageError(f"the body is JSON this decoder refuses ({_describe(error)})") from None


def _describe(error: BaseException) -> str:
    text = str(error)
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def message_id_of(record: object) -> str:
    if isinstance(record, Mapping):
        value = _first(record, "messageId", "MessageId")
        if isinstance(value, str):
            return value
    return "<no messageId>"


def _first(record: Mapping[str, Any], *names: str) -> object:
    for name in names:
        if name in record:
            return record[name]
    return None


def _collection(record: Mapping[str, Any]) -> CollectionName:
    attributes = _first(record, "messageAttributes", "MessageAttributes")
    attribute = attributes.get("collection") if isinstance(attributes, Mapping) else None
    value = _first(attribute, "stringValue", "StringValue") if isinstance(attribute, Mapping) else None
    if value not in COLLECTIONS:
        raise MessageError(
            f"message attribute 'collection' must be one of {', '.join(COLLECTIONS)}, got {value!r}"
        )
    return value


def _key(entity_class: type[Entity], message: StreamMessage) -> dict[str, KeyValue]:
    fields = entity_class.key_fields()
    missing = [name for name in fields if name not in message.entity_data]
    if missing:
        raise MessageError(f"entity_data of {message.entity_type} lacks {', '.join(missing)}")
    key = {name: message.entity_data[name] for name in fields}
    try:
        pk = render_pk(str(key["image_id"]))
        sk = render_sort_key(entity_class.SORT_KEY, key)
    except (TypeError, ValueError) as error:
        raise MessageError(f"entity_data {key!r} is not a {message.entity_type} key ({error})") from None
    if entity_class_for_key(pk, sk) is not entity_class or not _json_key_types(key):
        raise MessageError(f"entity_data {key!r} is not a {message.entity_type} key (PK={pk!r} SK={sk!r})")
    return key


def _json_key_types(key: dict[str, KeyValue]) -> bool:
    """Ids must be JSON integers and names strings, exactly as the stream stage writes them."""
    return all(
        isinstance(value, str) if name in ("image_id", "label", "run_id") else type(value) is int
        for name, value in key.items()
    )
