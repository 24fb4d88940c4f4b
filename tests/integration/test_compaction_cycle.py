"""The compaction cycle and its Lambda handler: lease, restore, compact, publish, crash points, races."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from receipt_compaction.chroma_ids import word_embedding_id
from receipt_compaction.compaction.runs import load_run
from receipt_compaction.crashpoints import CRASH_POINTS, SimulatedCrash, at_point, crash_at
from receipt_compaction.entities import ReceiptWordLabel
from receipt_compaction.harness import receipt_entities
from receipt_compaction.lock import acquire_lease
from tests.support.compactor import WordsCompactor
from tests.support.world import World

IMAGE = "8a9b0c1d-2e3f-4a5b-8c6d-7e8f9a0b1c2d"
WORD = word_embedding_id(IMAGE, 1, 1, 1)


@pytest.fixture
def compactor(world: World, tmp_path: Path) -> WordsCompactor:
    """A words compactor whose first cycle merged a delta of receipt 1 ("TOTAL 9.99") and published it."""
    compactor = WordsCompactor(world, tmp_path)
    world.put(
        *receipt_entities(image_id=IMAGE, receipt_id=1, lines=[["TOTAL", "9.99"]], merchant_name="Shop")
    )
    run = world.produce(world.state(IMAGE, 1), "run-seed")
    report = compactor.cycle(world.messages("INSERT", new=run))
    assert report.failures == {}
    assert report.version_id is not None
    current = load_run(world.clients.dynamodb, world.table, run)
    assert current is not None
    assert current.words_state == "COMPLETED"
    return compactor


def label(name: str, status: str = "VALID") -> ReceiptWordLabel:
    return ReceiptWordLabel(
        image_id=IMAGE, receipt_id=1, line_id=1, word_id=1, label=name, validation_status=status
    )


def test_the_first_cycle_publishes_the_merged_delta_as_the_first_version(compactor: WordsCompactor) -> None:
    versions = compactor.store.versions()
    assert len(versions) == 1  # compacted from an empty collection, published with no parent
    manifest = compactor.store.read_manifest(versions[0])
    assert manifest.parent_version is None
    assert manifest.count == 2
    assert sorted(compactor.published()) == [WORD, word_embedding_id(IMAGE, 1, 1, 2)]
    efs = compactor.settings.efs_root / "words"
    assert (efs / "current").read_text() == versions[0]


def test_a_cycle_with_nothing_to_change_publishes_nothing(compactor: WordsCompactor) -> None:
    before = compactor.store.read_pointer()
    report = compactor.cycle(compactor.world.messages("INSERT", new=label("NOTHING", "NONE")))
    assert report.failures == {}
    assert report.published is None
    assert compactor.store.read_pointer() == before


@pytest.mark.slow  # 3-4.5 s per crash point, ~22 s for all
@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_crash_at_any_point_leaves_a_complete_version_and_redelivery_converges(
    compactor: WordsCompactor, point: str
) -> None:
    before = compactor.published()
    messages = compactor.world.change("INSERT", new=label("GRAND_TOTAL"))
    with crash_at(point), pytest.raises(SimulatedCrash):
        compactor.cycle(messages)
    after_crash = compactor.published()  # restores and verifies whatever the pointer names
    moved = point == "after_pointer"
    assert (after_crash[WORD][1].get("valid_labels") == ["GRAND_TOTAL"]) is moved
    if not moved:
        assert after_crash == before
    compactor.expire_lease()  # the dead process never released it
    report = compactor.cycle(messages)  # SQS redelivers the same messages
    assert report.failures == {}
    assert compactor.published()[WORD][1]["valid_labels"] == ["GRAND_TOTAL"]


@pytest.mark.parametrize(
    ("point", "stopped_by"),
    [
        ("after_manifest", "LeaseLost"),  # the other one finished before this one checked its lease
        ("before_pointer", "SnapshotConflict"),  # ... after the check: the conditional pointer write stops it
    ],
)
def test_two_compactors_racing_one_publishes_and_the_other_retries(
    compactor: WordsCompactor, point: str, stopped_by: str
) -> None:
    world = compactor.world
    mine = world.change("INSERT", new=label("GRAND_TOTAL"))
    theirs = world.change("INSERT", new=label("TAX", "INVALID"))
    raced: list[Any] = []

    def the_other_compactor() -> None:
        if raced:  # only once: the other compactor passes this point too
            return
        raced.append(None)
        compactor.expire_lease()  # this one stalled; its lease ran out
        raced.append(compactor.cycle(theirs))

    pointer_before = compactor.store.read_pointer()
    with at_point(point, the_other_compactor):
        report = compactor.cycle(mine)
    assert set(report.failures) == {m.message_id for m in mine if m.collection == "words"}
    assert next(iter(report.failures.values())).startswith(stopped_by)
    assert len(compactor.store.versions()) == 2  # the seed and the winner: the loser's manifest is gone again
    assert raced[1].failures == {}
    published = compactor.store.read_pointer()
    assert published is not None
    assert pointer_before is not None
    assert published.version_id == raced[1].version_id > pointer_before.version_id
    retry = compactor.cycle(mine)  # SQS redelivers the loser's messages
    assert retry.failures == {}
    # The winner reconciled the word from the current table, which already held the loser's label too; so
    # the retry may find nothing left to publish. Either way nothing is lost and versions only move forward.
    final = compactor.store.read_pointer()
    assert final is not None
    assert final.version_id >= published.version_id
    metadata = compactor.published()[WORD][1]
    assert (metadata["valid_labels"], metadata["invalid_labels"]) == (["GRAND_TOTAL"], ["TAX"])


def test_a_writer_that_moved_the_pointer_unseen_makes_this_publish_fail_cleanly(
    compactor: WordsCompactor,
) -> None:
    world = compactor.world
    messages = world.change("INSERT", new=label("GRAND_TOTAL"))
    sneaky: list[str] = []

    def someone_publishes() -> None:
        # A writer that ignores the lease (a bug, or an operator) moves the pointer: If-Match stops us.
        if sneaky:  # its own publish passes this point too
            return
        sneaky.append("started")
        pointer = compactor.store.read_pointer()
        directory = compactor.settings.efs_root / "words" / "versions" / pointer.version_id / "chroma"  # type: ignore[union-attr]
        sneaky.append(
            compactor.store.publish(directory, expected=pointer, fencing_token=0, count=2).manifest.version_id
        )

    with at_point("before_pointer", someone_publishes):
        report = compactor.cycle(messages)
    assert "SnapshotConflict" in next(iter(report.failures.values()))
    assert compactor.store.read_pointer().version_id == sneaky[-1]  # type: ignore[union-attr]
    assert compactor.cycle(messages).failures == {}
    assert compactor.published()[WORD][1]["valid_labels"] == ["GRAND_TOTAL"]


def test_a_lease_busy_past_the_wait_budget_fails_the_collections_messages(compactor: WordsCompactor) -> None:
    messages = compactor.world.change("INSERT", new=label("GRAND_TOTAL"))
    with acquire_lease(
        compactor.world.clients.dynamodb, compactor.world.table, "words", heartbeat_interval=0
    ):
        report = compactor.cycle(messages)
    assert all("being compacted by another owner" in reason for reason in report.failures.values())
    assert len(report.failures) == 1
