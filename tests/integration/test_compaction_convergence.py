"""Property: any permutation of a message list, with random duplicates and split into random batches,
leaves the same collections (ids, documents, metadatas) as the list applied once, in order."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receipt_compaction.compaction import CompactionMessage, compact
from receipt_compaction.entities import ReceiptWordLabel
from receipt_compaction.harness import receipt_entities
from tests.support.world import World

IMAGE = "5f6e7d8c-9b0a-4c1d-8e2f-3a4b5c6d7e8f"


def label(line: int, word: int, name: str, status: str, receipt: int = 1) -> ReceiptWordLabel:
    return ReceiptWordLabel(
        image_id=IMAGE, receipt_id=receipt, line_id=line, word_id=word, label=name, validation_status=status
    )


def history(world: World) -> list[CompactionMessage]:
    """Seed two receipts, then make every kind of change, collecting the messages in order."""
    first = world.seed(IMAGE, 1, [["CORNER", "SHOP"], ["TOTAL", "9.99"]], merchant_name="Corner Shop")
    second = world.seed(IMAGE, 2, [["TAXI"], ["FARE", "20"]], merchant_name="Cab Co")
    messages: list[CompactionMessage] = []
    total = label(2, 2, "GRAND_TOTAL", "PENDING")
    for old, new in [
        (None, total),
        (None, label(2, 2, "SUBTOTAL", "INVALID")),
        (None, label(1, 1, "MERCHANT_NAME", "VALID")),
        (total, total.model_copy(update={"validation_status": "VALID"})),
        (label(1, 1, "MERCHANT_NAME", "VALID"), None),
        (None, label(1, 2, "MERCHANT_NAME", "PENDING", receipt=2)),
    ]:
        messages += world.change(
            "INSERT" if old is None else "REMOVE" if new is None else "MODIFY", old=old, new=new
        )
    assert first.metadata is not None
    assert second.metadata is not None
    messages += world.change(
        "MODIFY", old=first.metadata, new=first.metadata.model_copy(update={"merchant_name": "Corner Deli"})
    )
    messages += world.change("REMOVE", old=second.metadata)
    messages += world.change("REMOVE", old=first.words[(1, 2)])
    messages += world.change("REMOVE", old=second.lines[2])
    world.put(*receipt_entities(image_id=IMAGE, receipt_id=3, lines=[["NEW", "ONE"]], merchant_name="Newco"))
    run = world.produce(world.state(IMAGE, 3), "run-prop")
    messages += world.messages("INSERT", new=run)
    messages += world.change("REMOVE", old=world.state(IMAGE, 3).words[(1, 2)])
    return messages


def snapshot(path: Path) -> dict[str, Any]:
    world_view = World(None, "", "", path)  # type: ignore[arg-type]
    return {collection: world_view.records(collection) for collection in ("lines", "words")}


def apply(world: World, base: Path, target: Path, batches: list[list[CompactionMessage]]) -> dict[str, Any]:
    shutil.copytree(base, target)
    for batch in batches:
        for collection in ("lines", "words"):
            result = compact(
                [m for m in batch if m.collection == collection],
                collection=collection,
                chroma_dir=target,
                clients=world.clients,
                table_name=world.table,
                bucket=world.bucket,
            )
            assert result.failed_message_ids == []
    return snapshot(target)


@pytest.mark.slow  # ~17 s: 30 orders, each compacted into a fresh copy of the collections
@pytest.mark.usefixtures("world")
def test_any_order_with_duplicates_converges(world: World, tmp_path: Path) -> None:
    base = tmp_path / "base"
    world.chroma_dir = base
    messages = history(world)  # seeds into base; DynamoDB now holds the final state
    assert len(messages) == 15
    expected = apply(world, base, tmp_path / "in-order", [messages])
    assert (len(expected["lines"]), len(expected["words"])) == (4, 7)
    total = expected["words"][f"IMAGE#{IMAGE}#RECEIPT#00001#LINE#00002#WORD#00002"][1]
    assert (total["valid_labels"], total["invalid_labels"], total["merchant_name"]) == (
        ["GRAND_TOTAL"],
        ["SUBTOTAL"],
        "Corner Deli",
    )
    assert not any(
        "merchant_name" in meta for key, (_, meta) in expected["lines"].items() if "#00002#" in key
    )
    runs = iter(range(10**6))

    @settings(max_examples=30, database=None)
    @given(data=st.data())
    def permuted(data: st.DataObject) -> None:
        order = data.draw(st.permutations(messages))
        duplicates = data.draw(st.lists(st.sampled_from(messages), max_size=6))
        mixed = data.draw(st.permutations(order + duplicates))
        cuts = sorted(data.draw(st.lists(st.integers(0, len(mixed)), max_size=3)))
        batches = [mixed[a:b] for a, b in zip([0, *cuts], [*cuts, len(mixed)], strict=True)]
        assert apply(world, base, tmp_path / f"run-{next(runs)}", batches) == expected

    permuted()
