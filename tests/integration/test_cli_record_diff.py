"""``receipt-compaction snapshot diff COLLECTION V1 V2 --records`` on versions the real handlers published:
ids added and removed, and each metadata key added, removed or changed, old -> new."""

from __future__ import annotations

import json

import pytest

from receipt_compaction.cli import main
from receipt_compaction.entities import ReceiptMetadata, ReceiptWord, ReceiptWordLabel
from receipt_compaction.harness.pipeline import LocalPipeline
from receipt_compaction.snapshot import SnapshotStore
from receipt_compaction.state import ReceiptKey

IMAGE = "d1ff0000-1234-4abc-8def-0123456789ab"


def word(line: int, number: int) -> str:
    return f"IMAGE#{IMAGE}#RECEIPT#00001#LINE#{line:05d}#WORD#{number:05d}"


@pytest.fixture
def two_versions(pipeline: LocalPipeline) -> tuple[str, str]:
    """The seeded receipt's words, then: a label, a merchant, a word deleted and a word added (embedded
    through a CompactionRun), drained."""
    seeded = pipeline.seed_receipt(image_id=IMAGE, receipt_id=1, lines=[["TOTAL", "4.20"], ["CASH"]])
    (first,) = seeded.report.published_versions["words"]
    pipeline.put(
        ReceiptWordLabel(
            image_id=IMAGE, receipt_id=1, line_id=1, word_id=2, label="GRAND_TOTAL", validation_status="VALID"
        )
    )
    pipeline.put(ReceiptMetadata(image_id=IMAGE, receipt_id=1, merchant_name="Corner Shop"))
    pipeline.delete(ReceiptWord(image_id=IMAGE, receipt_id=1, line_id=2, word_id=1, text="CASH"))
    pipeline.put(ReceiptWord(image_id=IMAGE, receipt_id=1, line_id=2, word_id=2, text="VISA"))
    pipeline.produce_delta(ReceiptKey(IMAGE, 1), "add-visa")
    pipeline.drain()
    pointer = SnapshotStore(pipeline.clients.s3, pipeline.resources.bucket, "words").read_pointer()
    assert pointer is not None
    assert pointer.version_id != first
    return first, pointer.version_id


def test_diff_records_names_each_record_and_key_that_changed(
    two_versions: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    first, last = two_versions
    assert main(["--json", "snapshot", "diff", "words", first, last, "--records"]) == 0
    records = json.loads(capsys.readouterr().out)["records"]
    assert list(records["added"]) == [word(2, 2)]
    assert records["added"][word(2, 2)]["text"] == "VISA"
    assert list(records["removed"]) == [word(2, 1)]
    assert records["removed"][word(2, 1)]["text"] == "CASH"
    changed = records["changed"]
    assert sorted(changed) == [word(1, 1), word(1, 2)]  # the merchant reached both; the label one
    for record in changed.values():
        assert record["merchant_name"] == {"old": None, "new": "Corner Shop"}
    assert changed[word(1, 2)]["valid_labels"]["new"] == ["GRAND_TOTAL"]
    assert "valid_labels" not in changed[word(1, 1)]

    assert main(["snapshot", "diff", "words", first, last, "--records"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith(f"{first} -> {last}: count 3 -> 3")
    assert "records: 1 added, 1 removed, 2 changed" in text
    assert f"  added   {word(2, 2)} " in "\n".join(text)
    assert f"  removed {word(2, 1)} " in "\n".join(text)
    at = text.index(f"  changed {word(1, 2)}")
    assert "      merchant_name: (absent) -> 'Corner Shop'" in text[at + 1 : at + 8]


def test_diff_without_records_downloads_nothing_and_lists_files_only(
    two_versions: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    first, last = two_versions
    assert main(["--json", "snapshot", "diff", "words", first, last]) == 0
    result = json.loads(capsys.readouterr().out)
    assert "records" not in result
    assert "chroma.sqlite3" in result["changed"]
