"""The metadata builder and the deterministic embedder."""

from __future__ import annotations

import numpy as np
import pytest

from receipt_compaction.embedding import HashEmbedder, desired_embeddings, label_fields
from receipt_compaction.entities import ReceiptMetadata, ReceiptWordLabel
from receipt_compaction.harness import receipt_entities
from receipt_compaction.state import ReceiptKey, ReceiptState

IMAGE = "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"


def labels(*pairs: tuple[str, str]) -> list[ReceiptWordLabel]:
    return [
        ReceiptWordLabel(
            image_id=IMAGE, receipt_id=1, line_id=1, word_id=1, label=name, validation_status=status
        )
        for name, status in pairs
    ]


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ((), {"label_status": "unvalidated"}),
        ((("TOTAL", "NONE"),), {"label_status": "unvalidated"}),
        ((("TOTAL", "NEEDS_REVIEW"),), {"label_status": "unvalidated"}),
        ((("TOTAL", "PENDING"),), {"label_status": "auto_suggested"}),
        ((("TOTAL", "INVALID"),), {"label_status": "invalidated", "invalid_labels": ["TOTAL"]}),
        (
            (("TOTAL", "INVALID"), ("TAX", "PENDING")),
            {"label_status": "auto_suggested", "invalid_labels": ["TOTAL"]},
        ),
        (
            (("TOTAL", "VALID"), ("TAX", "INVALID"), ("DATE", "PENDING"), ("AMOUNT", "VALID")),
            {"label_status": "validated", "valid_labels": ["AMOUNT", "TOTAL"], "invalid_labels": ["TAX"]},
        ),
    ],
)
def test_label_fields_from_all_labels(
    pairs: tuple[tuple[str, str], ...], expected: dict[str, object]
) -> None:
    assert label_fields(labels(*pairs)) == expected


def test_desired_embeddings_carry_keys_text_and_merchant_fields_verbatim() -> None:
    key = ReceiptKey(IMAGE, 1)
    entities = receipt_entities(image_id=IMAGE, receipt_id=1, lines=[["Hello", "World"]])
    metadata = ReceiptMetadata(image_id=IMAGE, receipt_id=1, merchant_name="  café Ünïcode ", phone_number="")
    state = ReceiptState.from_entities(key, [*entities, metadata, *labels(("TOTAL", "VALID"))])
    lines = desired_embeddings(state, "lines")
    words = desired_embeddings(state, "words")
    line_id = f"IMAGE#{IMAGE}#RECEIPT#00001#LINE#00001"
    assert list(lines) == [line_id]
    assert lines[line_id].document == "Hello World"
    assert lines[line_id].metadata == {
        "image_id": IMAGE,
        "receipt_id": 1,
        "line_id": 1,
        "text": "Hello World",
        "merchant_name": "  café Ünïcode ",
    }
    assert list(words) == [f"{line_id}#WORD#00001", f"{line_id}#WORD#00002"]
    assert words[f"{line_id}#WORD#00001"].metadata == {
        "image_id": IMAGE,
        "receipt_id": 1,
        "line_id": 1,
        "word_id": 1,
        "text": "Hello",
        "merchant_name": "  café Ünïcode ",
        "label_status": "validated",
        "valid_labels": ["TOTAL"],
    }
    assert words[f"{line_id}#WORD#00002"].metadata["label_status"] == "unvalidated"


def test_state_ignores_entities_of_other_receipts() -> None:
    entities = receipt_entities(image_id=IMAGE, receipt_id=2, lines=[["X"]])
    state = ReceiptState.from_entities(ReceiptKey(IMAGE, 1), entities)
    assert (state.receipt, state.lines, state.words) == (None, {}, {})


def test_the_hash_embedder_is_deterministic_unit_length_and_input_sensitive() -> None:
    embedder = HashEmbedder(12)
    first = embedder.embed(["a", "b", "a"], ["x", "x", "y"])
    again = HashEmbedder(12).embed(["a", "b", "a"], ["x", "x", "y"])
    assert first.shape == (3, 12)
    assert first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-6)
    assert not np.allclose(first[0], first[1])
    assert not np.allclose(first[0], first[2])
    with pytest.raises(ValueError, match="2 ids but 1 texts"):
        embedder.embed(["a", "b"], ["x"])
