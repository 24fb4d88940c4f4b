"""The entity base class: keys, validation, and DynamoDB item encoding.

Every entity is a frozen pydantic model built with keyword arguments named as the table's fields. Its key
fields (``image_id`` plus the fields of its sort-key shape) are written to PK/SK; its other fields are item
attributes. Items are encoded with boto3's ``TypeSerializer``/``TypeDeserializer``, so numbers are
``Decimal`` and never ``float``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Self, TypeAlias, cast

from boto3.dynamodb.types import DYNAMODB_CONTEXT, TypeDeserializer, TypeSerializer
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
)

from receipt_compaction.chroma_ids import CollectionName
from receipt_compaction.keys import (
    MAX_ID,
    KeyValue,
    LiteralSegment,
    SortKeyShape,
    describe_shape,
    image_id_from_pk,
    is_canonical_uuid,
    match_sort_key,
    render_pk,
    render_sort_key,
)

__all__ = [
    "AttributeValue",
    "Confidence",
    "Entity",
    "EntityError",
    "EventName",
    "ImageId",
    "Item",
    "LineId",
    "MessageFields",
    "OptionalText",
    "ReceiptId",
    "WordId",
]

EventName: TypeAlias = Literal["INSERT", "MODIFY", "REMOVE"]
AttributeValue: TypeAlias = Mapping[str, Any]
"""One attribute in DynamoDB JSON, e.g. ``{"S": "text"}`` or ``{"N": "12"}``."""
Item: TypeAlias = Mapping[str, AttributeValue]

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
_RESERVED_ATTRIBUTES = frozenset({"PK", "SK", "TYPE"})


class EntityError(ValueError):
    """An item that is not a valid entity; the message names the key and every bad field."""

    def __init__(self, entity_type: str, pk: object, sk: object, problems: list[str]) -> None:
        self.entity_type = entity_type
        self.pk = pk
        self.sk = sk
        self.problems = tuple(problems)
        super().__init__(f"{entity_type} item PK={pk!r} SK={sk!r}: {'; '.join(problems)}")


def _check_image_id(value: str) -> str:
    if not is_canonical_uuid(value):
        raise ValueError("must be a lower-case hyphenated UUID such as 0d8bb0f4-3b1e-4c36-9a55-1f8a3a3c6f10")
    return value


def _check_dynamodb_number(value: Decimal) -> Decimal:
    try:
        DYNAMODB_CONTEXT.create_decimal(value)
    except ArithmeticError:
        raise ValueError(
            "does not fit a DynamoDB number (at most 38 significant digits, magnitude 1E-130 to 1E+125)"
        ) from None
    return value


def _empty_to_none(value: object) -> object:
    return None if value == "" else value


ImageId = Annotated[str, AfterValidator(_check_image_id)]
# The key parser's bounds (``IdSegment``): five digits, receipts from 1.
ReceiptId = Annotated[int, Field(ge=1, le=MAX_ID)]
LineId = Annotated[int, Field(ge=0, le=MAX_ID)]
WordId = Annotated[int, Field(ge=0, le=MAX_ID)]
Confidence = Annotated[Decimal, Field(ge=0, le=1), AfterValidator(_check_dynamodb_number)]
"""A score in [0, 1], stored as a DynamoDB number (a float given here becomes a Decimal)."""
OptionalText = Annotated[str | None, BeforeValidator(_empty_to_none)]
"""An optional string attribute; an empty string means unset, exactly like an absent one."""


class Entity(BaseModel):
    """Base of every table entity. Subclasses declare their key shape and pipeline role as class vars."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ENTITY_TYPE: ClassVar[str]
    SORT_KEY: ClassVar[SortKeyShape]
    CHROMA_FIELDS: ClassVar[tuple[str, ...]] = ()
    """Fields whose value is copied into Chroma metadata: a MODIFY that changes none of them is no news."""
    COLLECTIONS: ClassVar[tuple[CollectionName, ...]] = ()
    """The Chroma collections whose embeddings depend on this entity."""
    DIRTY_ON: ClassVar[frozenset[EventName]] = frozenset()
    """The stream events of this entity that can change those embeddings."""
    MESSAGES_READ_EVERY_FIELD: ClassVar[bool] = False
    """Whether a stream message about this entity is made of more than its keys and ``CHROMA_FIELDS`` (then
    the stream stage decodes its images whole instead of with ``MessageFields.from_item``)."""

    image_id: ImageId
    receipt_id: ReceiptId

    # -- keys -------------------------------------------------------------------------------------------

    @classmethod
    def key_fields(cls) -> tuple[str, ...]:
        return _key_fields(cls)

    @classmethod
    def attribute_fields(cls) -> tuple[str, ...]:
        return _attribute_fields(cls)

    @classmethod
    def key_template(cls) -> str:
        return describe_shape(cls.SORT_KEY)

    @property
    def pk(self) -> str:
        return render_pk(self.image_id)

    @property
    def sk(self) -> str:
        return render_sort_key(self.SORT_KEY, self.key_values())

    def key_values(self) -> dict[str, KeyValue]:
        values: dict[str, KeyValue] = {name: getattr(self, name) for name in self.key_fields()}
        return values

    def key(self) -> dict[str, dict[str, str]]:
        """The item key in DynamoDB JSON, for GetItem/DeleteItem."""
        return {"PK": {"S": self.pk}, "SK": {"S": self.sk}}

    # -- pipeline role ----------------------------------------------------------------------------------

    def entity_data(self, collection: CollectionName) -> dict[str, KeyValue]:
        """The ``entity_data`` of a stream message about this entity sent to ``collection``."""
        del collection
        return self.key_values()

    # -- item encoding ----------------------------------------------------------------------------------

    def attributes(self) -> dict[str, Any]:
        """The non-key fields that are set, as Python values (None is left out, not written as NULL)."""
        return {name: value for name in self.attribute_fields() if (value := getattr(self, name)) is not None}

    def to_item(self) -> dict[str, dict[str, Any]]:
        plain: dict[str, Any] = {"PK": self.pk, "SK": self.sk, "TYPE": self.ENTITY_TYPE, **self.attributes()}
        return {name: dict(_SERIALIZER.serialize(value)) for name, value in plain.items()}

    @classmethod
    def from_item(cls, item: Item) -> Self:
        """Decode a DynamoDB JSON item (as GetItem, Query or a stream image returns it)."""
        values: dict[str, Any] = {}
        problems: list[str] = []
        for name, attribute in item.items():
            try:
                values[name] = _DESERIALIZER.deserialize(cast("Any", attribute))
            except (TypeError, ValueError, ArithmeticError, KeyError, AttributeError) as error:
                problems.append(
                    f"field {name!r}: not a DynamoDB attribute value ({error}; got {attribute!r})"
                )
        if problems:
            raise EntityError(cls.ENTITY_TYPE, values.get("PK"), values.get("SK"), problems)
        return cls.from_values(values)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Self:
        """Build from an item already decoded to Python values (boto3's resource layer, for instance)."""
        pk, sk = values.get("PK"), values.get("SK")
        image_id = image_id_from_pk(pk) if isinstance(pk, str) else None
        key_values = match_sort_key(cls.SORT_KEY, sk) if isinstance(sk, str) else None
        problems = cls._key_problems(image_id, key_values)
        item_type = values.get("TYPE")
        if item_type is not None and item_type != cls.ENTITY_TYPE:
            problems.append(f"field 'TYPE': is {item_type!r}, but the key is a {cls.ENTITY_TYPE} key")
        if problems:
            raise EntityError(cls.ENTITY_TYPE, pk, sk, problems)
        fields: dict[str, Any] = {"image_id": image_id, **(key_values or {})}
        fields.update((name, values[name]) for name in cls.attribute_fields() if name in values)
        try:
            return cls.model_validate(fields)
        except ValidationError as error:
            raise EntityError(cls.ENTITY_TYPE, pk, sk, describe_validation_error(error)) from None

    @classmethod
    def _key_problems(cls, image_id: str | None, key_values: Mapping[str, KeyValue] | None) -> list[str]:
        problems = []
        if image_id is None:
            problems.append("field 'PK': expected IMAGE#<uuid>")
        if key_values is None:
            problems.append(f"field 'SK': expected {cls.key_template()}")
        return problems


@functools.cache
def _key_fields(cls: type[Entity]) -> tuple[str, ...]:
    # Cached per class: every item read and written asks, and the answer is fixed by the class.
    return (
        "image_id",
        *(segment.field for segment in cls.SORT_KEY if not isinstance(segment, LiteralSegment)),
    )


@functools.cache
def _attribute_fields(cls: type[Entity]) -> tuple[str, ...]:
    keys = set(_key_fields(cls))
    return tuple(name for name in cls.model_fields if name not in keys)


@dataclass(frozen=True, slots=True)
class MessageFields:
    """What a stream message about one entity is made of, decoded from an item without the rest of it:
    the key values and the ``CHROMA_FIELDS``, each checked exactly as the entity checks it.

    Why: the stream stage reads every record of the table, and most of an image (geometry, confidences, a
    label's reasoning) never reaches a message; decoding and validating whole entities cost the stage 7x a
    bare decode of the images. Fields are read as attributes, like an entity's."""

    entity_class: type[Entity]
    key_values: dict[str, KeyValue]
    chroma: dict[str, Any]

    def value(self, name: str) -> Any:
        """A key or ``CHROMA_FIELDS`` value (None when the item does not set it)."""
        chroma = self.chroma
        return chroma[name] if name in chroma else self.key_values.get(name)

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_") and (name in self.chroma or name in self.key_values):
            return self.value(name)
        raise AttributeError(name)

    def entity_data(self, collection: CollectionName) -> dict[str, KeyValue]:
        """As ``Entity.entity_data`` (an entity whose messages need more: ``MESSAGES_READ_EVERY_FIELD``)."""
        del collection
        return dict(self.key_values)

    @classmethod
    def from_item(cls, entity_class: type[Entity], item: Item) -> MessageFields:
        """Decode and check the key and the ``CHROMA_FIELDS`` of ``item``; every other attribute is left
        unread. An item ``entity_class.from_item`` accepts gives the same values; a problem in a field read
        here is the same ``EntityError``."""
        pk, sk = _string_of(item.get("PK")), _string_of(item.get("SK"))
        image_id = image_id_from_pk(pk) if pk is not None else None
        key_values = match_sort_key(entity_class.SORT_KEY, sk) if sk is not None else None
        problems = entity_class._key_problems(image_id, key_values)
        item_type = item.get("TYPE")
        if item_type is not None and _string_of(item_type) != entity_class.ENTITY_TYPE:
            problems.append(
                f"field 'TYPE': is {item_type!r}, but the key is a {entity_class.ENTITY_TYPE} key"
            )
        values: dict[str, Any] = {}
        for name in _message_fields(entity_class):
            attribute = item.get(name)
            if attribute is None:
                continue
            try:
                values[name] = _DESERIALIZER.deserialize(cast("Any", attribute))
            except (TypeError, ValueError, ArithmeticError, KeyError, AttributeError) as error:
                problems.append(
                    f"field {name!r}: not a DynamoDB attribute value ({error}; got {attribute!r})"
                )
        if problems or image_id is None or key_values is None:
            raise EntityError(entity_class.ENTITY_TYPE, pk, sk, problems)
        checker = _message_model(entity_class)
        if checker is not None:
            try:
                values = vars(checker.model_validate(values))  # the fields (``dict(model)`` costs 5x)
            except ValidationError as error:
                raise EntityError(
                    entity_class.ENTITY_TYPE, pk, sk, describe_validation_error(error)
                ) from None
        return cls(entity_class, {"image_id": image_id, **key_values}, values)

    @classmethod
    def from_image(
        cls, entity_class: type[Entity], image: Item, keys: Item, key_values: dict[str, KeyValue]
    ) -> MessageFields:
        """``from_item({**image, **keys})`` for an image whose ``keys`` are known good and parsed
        (``key_values``: ``image_id`` and the sort-key fields), answered from a memo of earlier images with
        the same raw ``TYPE`` and message attributes when there is one.

        Why: the stream stage reads every record of the table and the values a message is made of repeat
        (a label and its status, a merchant across its records); checking them again with pydantic cost the
        stage more than a bare decode of both images. The memo holds only what ``from_item`` returned for
        exactly those raw attributes, so the answer is the same; a raw value that is not a plain ``str`` or
        ``bool``, or an image ``from_item`` refuses, is never memoized."""
        memo_key = _memo_key(entity_class, image)
        if memo_key is not None:
            values = _CHECKED.get(memo_key)
            if values is not None:
                return cls(entity_class, key_values, values)
        decoded = cls.from_item(entity_class, {**image, **keys})
        if memo_key is not None:
            if len(_CHECKED) >= _CHECKED_LIMIT:
                _CHECKED.clear()
            _CHECKED[memo_key] = decoded.chroma
        return cls(entity_class, key_values, decoded.chroma)


_CHECKED: dict[tuple[Any, ...], dict[str, Any]] = {}
"""``MessageFields.from_image``'s memo: checked message values by (class, raw TYPE, raw attributes).
Values are shared between results and never mutated (``MessageFields`` only reads them)."""
_CHECKED_LIMIT = 16_384


def forget_checked_values() -> None:
    """Empty the memo (a benchmark measuring a fresh process)."""
    _CHECKED.clear()


def _memo_key(entity_class: type[Entity], image: Item) -> tuple[Any, ...] | None:
    """The raw ``TYPE`` and message attributes of ``image`` as a hashable key, or None when one of them
    is not a one-member attribute holding a ``str`` or ``bool`` (left to ``from_item`` every time)."""
    parts: list[Any] = [entity_class]
    for name in _memo_fields(entity_class):
        attribute = image.get(name)
        if attribute is None:
            parts.append(None)
            continue
        if type(attribute) is not dict or len(attribute) != 1:
            return None
        ((tag, value),) = attribute.items()
        if type(value) is not str and type(value) is not bool:
            return None
        parts.append((tag, value))
    return tuple(parts)


@functools.cache
def _memo_fields(cls: type[Entity]) -> tuple[str, ...]:
    return ("TYPE", *_message_fields(cls))


def _string_of(attribute: object) -> str | None:
    if isinstance(attribute, Mapping) and isinstance(value := attribute.get("S"), str):
        return value
    return None


@functools.cache
def _message_fields(cls: type[Entity]) -> tuple[str, ...]:
    """The attributes ``MessageFields`` reads: the ``CHROMA_FIELDS`` that are not key fields."""
    return tuple(name for name in cls.CHROMA_FIELDS if name in _attribute_fields(cls))


@functools.cache
def _message_model(cls: type[Entity]) -> type[BaseModel] | None:
    """A model of just those fields, declared as on ``cls`` (types, constraints, validators, defaults)."""
    names = _message_fields(cls)
    if not names:
        return None
    fields: Any = {name: (cls.model_fields[name].annotation, cls.model_fields[name]) for name in names}
    return create_model(f"{cls.__name__}MessageFields", __config__=ConfigDict(extra="forbid"), **fields)


def describe_validation_error(error: ValidationError) -> list[str]:
    """One line per problem: the field, what is wrong, and the value found."""
    lines = []
    for problem in error.errors(include_url=False):
        field = ".".join(str(part) for part in problem["loc"]) or "<item>"
        found = repr(problem.get("input"))
        if len(found) > 80:
            found = found[:77] + "..."
        lines.append(f"field {field!r}: {problem['msg']} (got {found})")
    return lines
