"""Delta merges: tarball and directory layouts, missing and unsafe deltas, stale deltas, run completion."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from receipt_compaction.chroma_ids import word_embedding_id
from receipt_compaction.compaction import complete_runs
from receipt_compaction.compaction.deltas import DeltaError, safe_extract
from receipt_compaction.compaction.runs import load_run
from receipt_compaction.entities import CompactionRun
from receipt_compaction.harness import receipt_entities
from tests.support.world import World

IMAGE = "7d5e1c2a-4b3f-4e6d-9a8b-0c1d2e3f4a5b"


def new_receipt(world: World, receipt_id: int, lines: list[list[str]], merchant: str = "Shop") -> None:
    world.put(*receipt_entities(image_id=IMAGE, receipt_id=receipt_id, lines=lines, merchant_name=merchant))


def run_state(world: World, run: CompactionRun) -> tuple[str, str]:
    current = load_run(world.clients.dynamodb, world.table, run)
    assert current is not None
    return current.lines_state, current.words_state


@pytest.mark.parametrize("layout", ["tarball", "directory"])
def test_a_delta_is_merged_from_either_layout_and_completed_per_collection(world: World, layout: str) -> None:
    world.seed(IMAGE, 1, [["OLD"]])
    new_receipt(world, 2, [["NEW", "ITEM"], ["TOTAL"]])
    run = world.produce(world.state(IMAGE, 2), f"run-{layout}", layout)  # type: ignore[arg-type]
    keys = [o["Key"] for o in world.clients.s3.list_objects_v2(Bucket=world.bucket)["Contents"]]
    if layout == "tarball":
        assert sorted(keys) == [
            f"lines/delta/{run.run_id}/delta.tar.gz",
            f"words/delta/{run.run_id}/delta.tar.gz",
        ]
    else:
        assert f"words/delta/{run.run_id}/chroma.sqlite3" in keys
    messages = world.messages("INSERT", new=run)
    words = world.compact(messages, "words")
    assert words.failed_message_ids == []
    assert [(m.run.run_id, m.merged_vectors) for m in words.merged_runs] == [(run.run_id, 3)]
    assert sorted(world.records("words")) == sorted(
        [word_embedding_id(IMAGE, 1, 1, 1)]
        + [word_embedding_id(IMAGE, 2, line, word) for line, word in ((1, 1), (1, 2), (2, 1))]
    )
    assert world.metadata("words", word_embedding_id(IMAGE, 2, 1, 2))["merchant_name"] == "Shop"
    assert run_state(world, run) == ("PENDING", "PENDING")  # not before the caller has published
    complete_runs(words, clients=world.clients, table_name=world.table)
    assert run_state(world, run) == ("PENDING", "COMPLETED")  # the other collection's fields are untouched
    lines = world.compact(messages, "lines")
    complete_runs(lines, clients=world.clients, table_name=world.table)
    assert run_state(world, run) == ("COMPLETED", "COMPLETED")
    current = load_run(world.clients.dynamodb, world.table, run)
    assert current is not None
    assert (current.lines_merged_vectors, current.words_merged_vectors) == (2, 3)
    # a replayed message merges nothing again, and still succeeds
    replay = world.compact(messages, "words")
    assert replay.merged_runs == ()
    assert replay.failed_message_ids == []


def test_a_missing_delta_fails_the_message_and_leaves_the_run_pending(world: World) -> None:
    world.seed(IMAGE, 1, [["A"]])
    run = CompactionRun(image_id=IMAGE, receipt_id=1, run_id="run-missing")
    world.put(run)
    label_messages = world.messages("INSERT", new=run)
    result = world.compact(label_messages, "words")
    assert len(result.outcomes) == 1
    assert result.outcomes[0].status == "failed"
    assert f"no delta at s3://{world.bucket}/words/delta/run-missing/" in result.outcomes[0].reason
    assert result.merged_runs == ()
    complete_runs(result, clients=world.clients, table_name=world.table)
    assert run_state(world, run) == ("PENDING", "PENDING")


def test_a_run_item_that_is_gone_fails_its_message(world: World) -> None:
    run = CompactionRun(image_id=IMAGE, receipt_id=1, run_id="run-gone")
    result = world.compact(world.messages("INSERT", new=run), "lines")
    assert result.outcomes[0].status == "failed"
    assert "is not in table" in result.outcomes[0].reason


def _tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize("member", ["../x", "/tmp/x", "a/../../x"])
def test_a_tar_member_escaping_the_directory_is_rejected_and_nothing_lands_outside(
    world: World, tmp_path: Path, member: str
) -> None:
    world.seed(IMAGE, 1, [["A"]])
    run = CompactionRun(image_id=IMAGE, receipt_id=1, run_id="run-evil")
    world.clients.s3.put_object(
        Bucket=world.bucket,
        Key="words/delta/run-evil/delta.tar.gz",
        Body=_tarball({member: b"pwned", "ok": b"1"}),
    )
    world.put(run)
    before = world.records("words")
    result = world.compact(world.messages("INSERT", new=run), "words")
    assert result.outcomes[0].status == "failed"
    assert f"member {member!r} would land outside the delta directory" in result.outcomes[0].reason
    assert world.records("words") == before
    # and the extraction itself, run directly, writes nothing anywhere
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(_tarball({member: b"pwned"}))
    with pytest.raises(DeltaError):
        safe_extract(archive, tmp_path / "out" / "delta")
    assert not (tmp_path / "x").exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*x"))


def test_a_key_escaping_the_directory_is_rejected(world: World) -> None:
    run = CompactionRun(image_id=IMAGE, receipt_id=1, run_id="run-keys")
    world.clients.s3.put_object(Bucket=world.bucket, Key="words/delta/run-keys/../../x", Body=b"pwned")
    world.put(run)
    result = world.compact(world.messages("INSERT", new=run), "words")
    assert "would land outside the delta directory" in result.outcomes[0].reason


def test_a_delta_that_is_not_a_chroma_directory_fails_cleanly(world: World) -> None:
    run = CompactionRun(image_id=IMAGE, receipt_id=1, run_id="run-junk")
    world.clients.s3.put_object(
        Bucket=world.bucket, Key="words/delta/run-junk/delta.tar.gz", Body=b"not a tarball"
    )
    world.put(run)
    result = world.compact(world.messages("INSERT", new=run), "words")
    assert result.outcomes[0].status == "failed"
    assert "delta.tar.gz cannot be read" in result.outcomes[0].reason


def test_a_stale_delta_merged_after_a_rename_cannot_bring_the_old_name_back(world: World) -> None:
    new_receipt(world, 3, [["COFFEE", "2.00"]], merchant="Old Name")
    stale_state = world.state(IMAGE, 3)
    run = world.produce(stale_state, "run-stale")
    assert stale_state.metadata is not None
    rename = world.change(
        "MODIFY",
        old=stale_state.metadata,
        new=stale_state.metadata.model_copy(update={"merchant_name": "New Name"}),
    )
    # the rename is processed (nothing to update yet), then the delta made before it is merged
    world.compact_all(rename)
    results = world.compact_all(world.messages("INSERT", new=run))
    assert all(result.failed_message_ids == [] for result in results.values())
    for collection in ("lines", "words"):
        names = {meta.get("merchant_name") for _, meta in world.records(collection).values()}
        assert names == {"New Name"}, collection


def test_a_stale_delta_cannot_resurrect_a_deleted_word(world: World) -> None:
    new_receipt(world, 4, [["A", "B"]])
    state = world.state(IMAGE, 4)
    run = world.produce(state, "run-old")
    world.delete(state.words[(1, 2)])
    result = world.compact(world.messages("INSERT", new=run), "words")
    assert result.merged_runs[0].merged_vectors == 2
    assert sorted(world.records("words")) == [word_embedding_id(IMAGE, 4, 1, 1)]
