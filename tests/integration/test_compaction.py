"""Reconciliation against real Chroma and DynamoDB: labels, metadata, deletions."""

from __future__ import annotations

from receipt_compaction.chroma_ids import line_embedding_id, word_embedding_id
from receipt_compaction.entities import ReceiptLine, ReceiptMetadata, ReceiptWord, ReceiptWordLabel
from tests.support.world import World

IMAGE = "3b0c6f55-8e8e-4f0e-9d1b-2a7c1f0e4d21"
OTHER = "9e4a2b10-5c3d-4e6f-8a7b-1c2d3e4f5a6b"
WORD = word_embedding_id(IMAGE, 1, 1, 2)


def label(name: str, status: str = "PENDING", **extra: object) -> ReceiptWordLabel:
    return ReceiptWordLabel(
        image_id=IMAGE, receipt_id=1, line_id=1, word_id=2, label=name, validation_status=status, **extra
    )


def label_view(world: World) -> dict[str, object]:
    metadata = world.metadata("words", WORD)
    return {
        key: metadata[key] for key in ("label_status", "valid_labels", "invalid_labels") if key in metadata
    }


def test_a_label_insert_shows_up(world: World) -> None:
    world.seed(IMAGE, 1, [["TOTAL", "12.50"]])
    assert label_view(world) == {"label_status": "unvalidated"}
    result = world.compact(world.change("INSERT", new=label("GRAND_TOTAL", "VALID")), "words")
    assert [outcome.status for outcome in result.outcomes] == ["applied"]
    assert result.updated == 1
    assert label_view(world) == {"label_status": "validated", "valid_labels": ["GRAND_TOTAL"]}


def test_removing_one_of_three_labels_keeps_the_other_two(world: World) -> None:
    world.seed(IMAGE, 1, [["TOTAL", "12.50"]])
    labels = [label("GRAND_TOTAL", "VALID"), label("SUBTOTAL", "INVALID"), label("TAX", "VALID")]
    messages = [m for item in labels for m in world.change("INSERT", new=item)]
    world.compact(messages, "words")
    assert label_view(world) == {
        "label_status": "validated",
        "valid_labels": ["GRAND_TOTAL", "TAX"],
        "invalid_labels": ["SUBTOTAL"],
    }
    world.compact(world.change("REMOVE", old=labels[2]), "words")
    assert label_view(world) == {
        "label_status": "validated",
        "valid_labels": ["GRAND_TOTAL"],
        "invalid_labels": ["SUBTOTAL"],
    }
    world.compact(world.change("REMOVE", old=labels[0]), "words")
    assert label_view(world) == {"label_status": "invalidated", "invalid_labels": ["SUBTOTAL"]}


def test_label_lifecycle_pending_valid_invalid_remove(world: World) -> None:
    world.seed(IMAGE, 1, [["TOTAL", "12.50"]])
    pending = label("GRAND_TOTAL", "PENDING")
    valid = pending.model_copy(update={"validation_status": "VALID"})
    invalid = pending.model_copy(update={"validation_status": "INVALID"})
    steps = [
        ("INSERT", None, pending, {"label_status": "auto_suggested"}),
        ("MODIFY", pending, valid, {"label_status": "validated", "valid_labels": ["GRAND_TOTAL"]}),
        ("MODIFY", valid, invalid, {"label_status": "invalidated", "invalid_labels": ["GRAND_TOTAL"]}),
        ("REMOVE", invalid, None, {"label_status": "unvalidated"}),
    ]
    for event_name, old, new, expected in steps:
        result = world.compact(world.change(event_name, old=old, new=new), "words")
        assert result.failed_message_ids == []
        assert label_view(world) == expected, event_name


def test_metadata_rename_and_removal_reach_both_collections(world: World) -> None:
    state = world.seed(IMAGE, 1, [["CORNER", "SHOP"], ["TOTAL", "3.00"]], merchant_name="Corner Shop")
    world.seed(OTHER, 1, [["ELSEWHERE"]], merchant_name="Elsewhere")
    old = state.metadata
    assert old is not None
    renamed = old.model_copy(update={"merchant_name": "Corner Shop & Deli", "phone_number": "555-0100"})
    results = world.compact_all(world.change("MODIFY", old=old, new=renamed))
    assert results["lines"].updated == 2
    assert results["words"].updated == 4
    for collection in ("lines", "words"):
        mine = {i: meta for i, (_, meta) in world.records(collection).items() if meta["image_id"] == IMAGE}
        assert {meta["merchant_name"] for meta in mine.values()} == {"Corner Shop & Deli"}
        assert {meta["phone_number"] for meta in mine.values()} == {"555-0100"}
    world.compact_all(world.change("REMOVE", old=renamed))
    for collection in ("lines", "words"):
        for _, meta in world.records(collection).values():
            if meta["image_id"] == IMAGE:
                assert "merchant_name" not in meta
                assert "phone_number" not in meta
            else:
                assert meta["merchant_name"] == "Elsewhere"  # another receipt is untouched


def test_receipt_line_and_word_deletion(world: World) -> None:
    state = world.seed(IMAGE, 1, [["A", "B"], ["C"]])
    world.seed(IMAGE, 2, [["KEEP"]])
    word = state.words[(1, 2)]
    world.compact(world.change("REMOVE", old=word), "words")
    assert word_embedding_id(IMAGE, 1, 1, 2) not in world.records("words")
    assert word_embedding_id(IMAGE, 1, 1, 1) in world.records("words")

    line = state.lines[2]
    world.compact(world.change("REMOVE", old=line), "lines")
    assert sorted(world.records("lines")) == [line_embedding_id(IMAGE, 1, 1), line_embedding_id(IMAGE, 2, 1)]

    receipt = state.receipt
    assert receipt is not None
    results = world.compact_all(world.change("REMOVE", old=receipt))
    assert results["lines"].deleted == 1
    assert results["words"].deleted == 2  # word 1 of line 1, and the word of line 2 (only its line was gone)
    assert sorted(world.records("lines")) == [line_embedding_id(IMAGE, 2, 1)]
    assert sorted(world.records("words")) == [word_embedding_id(IMAGE, 2, 1, 1)]
    # deleting what is already gone is not an error
    again = world.compact_all(world.messages("REMOVE", old=receipt) + world.messages("REMOVE", old=word))
    assert [o.status for r in again.values() for o in r.outcomes] == ["applied", "applied", "applied"]


def test_a_replayed_receipt_remove_after_the_receipt_came_back_deletes_nothing(world: World) -> None:
    state = world.seed(IMAGE, 1, [["A"]])
    assert state.receipt is not None
    stale = world.messages("REMOVE", old=state.receipt)  # the receipt still exists in DynamoDB
    results = world.compact_all(stale)
    assert results["words"].deleted == 0
    assert word_embedding_id(IMAGE, 1, 1, 1) in world.records("words")


def test_a_word_deleted_in_dynamodb_is_dropped_when_its_receipt_is_reconciled(world: World) -> None:
    state = world.seed(IMAGE, 1, [["A", "B"]], merchant_name="Shop")
    world.delete(state.words[(1, 1)])  # its REMOVE message is lost; a later metadata change still converges
    assert state.metadata is not None
    world.compact(
        world.change("MODIFY", old=state.metadata, new=state.metadata.model_copy(update={"place_id": "p"})),
        "words",
    )
    assert sorted(world.records("words")) == [word_embedding_id(IMAGE, 1, 1, 2)]


def test_a_duplicate_message_changes_nothing_further(world: World) -> None:
    world.seed(IMAGE, 1, [["TOTAL", "12.50"]])
    messages = world.change("INSERT", new=label("GRAND_TOTAL", "VALID"))
    first = world.compact(messages, "words")
    before = world.records("words")
    second = world.compact(messages + messages, "words")
    assert first.updated == 1
    assert second.updated == 0
    assert [o.status for o in second.outcomes] == ["applied", "applied"]
    assert world.records("words") == before


def test_embeddings_not_yet_in_chroma_are_not_invented(world: World) -> None:
    world.put(ReceiptMetadata(image_id=IMAGE, receipt_id=5, merchant_name="Shop"))
    world.put(ReceiptLine(image_id=IMAGE, receipt_id=5, line_id=1, text="A"))
    world.put(ReceiptWord(image_id=IMAGE, receipt_id=5, line_id=1, word_id=1, text="A"))
    results = world.compact_all(world.messages("INSERT", new=ReceiptMetadata(image_id=IMAGE, receipt_id=5)))
    assert all(result.updated == 0 and result.failed_message_ids == [] for result in results.values())
    assert world.records("words") == {}


def test_a_malformed_item_fails_only_its_receipts_messages(world: World) -> None:
    world.seed(IMAGE, 1, [["A"]])
    world.seed(OTHER, 1, [["B"]])
    broken = ReceiptWord(image_id=IMAGE, receipt_id=1, line_id=9, word_id=9, text="x").to_item()
    broken["text"] = {"N": "7"}
    world.clients.dynamodb.put_item(TableName=world.table, Item=broken)  # type: ignore[arg-type]
    bad = world.change(
        "INSERT", new=ReceiptWordLabel(image_id=IMAGE, receipt_id=1, line_id=1, word_id=1, label="X")
    )
    good = world.change(
        "INSERT",
        new=ReceiptWordLabel(
            image_id=OTHER, receipt_id=1, line_id=1, word_id=1, label="X", validation_status="VALID"
        ),
    )
    result = world.compact(bad + good, "words")
    assert [o.status for o in result.outcomes] == ["failed", "applied"]
    assert "field 'text': Input should be a valid string" in result.outcomes[0].reason
    assert world.metadata("words", word_embedding_id(OTHER, 1, 1, 1))["valid_labels"] == ["X"]
    assert world.metadata("words", word_embedding_id(IMAGE, 1, 1, 1))["label_status"] == "unvalidated"
    assert result.updated == 1


def test_a_receipt_whose_state_cannot_be_read_fails_alone(world: World) -> None:
    world.seed(IMAGE, 1, [["TOTAL", "12.50"]])
    world.seed(OTHER, 1, [["CASH", "20.00"]])
    broken = ReceiptWord(image_id=OTHER, receipt_id=1, line_id=1, word_id=1, text="CASH").to_item()
    broken["confidence"] = {"S": "very"}  # an item no ReceiptWord can be read from
    world.clients.dynamodb.put_item(TableName=world.table, Item=broken)
    other_label = ReceiptWordLabel(
        image_id=OTHER, receipt_id=1, line_id=1, word_id=2, label="CASH", validation_status="VALID"
    )
    mine, theirs = (
        world.change("INSERT", new=label("GRAND_TOTAL", "VALID")),
        world.change("INSERT", new=other_label),
    )
    result = world.compact(mine + theirs, "words")
    failed = {outcome.message_id: outcome.reason for outcome in result.outcomes if outcome.status == "failed"}
    assert set(failed) == {message.message_id for message in theirs}
    assert all(reason.startswith(f"reconciling receipt {OTHER}/1 failed") for reason in failed.values())
    assert label_view(world) == {"label_status": "validated", "valid_labels": ["GRAND_TOTAL"]}
