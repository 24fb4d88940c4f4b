"""The operator CLI against snapshots on the moto server, and its scenario linter."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from receipt_compaction.cli import main
from receipt_compaction.cli.snapshots import resolve_region
from receipt_compaction.entities import ReceiptWordLabel
from receipt_compaction.harness.backends import Backend
from receipt_compaction.snapshot import SnapshotStore
from receipt_compaction.snapshot.layout import body_key
from tests.support.paths import SCENARIOS
from tests.support.world import World

IMAGE = "d1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a"


@pytest.fixture
def published(world: World, compaction_backend: Backend, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """Two versions of ``words``: the seeded receipt, then one more label."""
    for name, value in {**compaction_backend.environ(), "CHROMADB_BUCKET": world.bucket}.items():
        monkeypatch.setenv(name, value)
    world.seed(IMAGE, 1, [["TOTAL", "9.99"]])
    store = SnapshotStore(world.clients.s3, world.bucket, "words")
    first = store.publish(world.chroma_dir, expected=None, fencing_token=1, count=2)
    label = ReceiptWordLabel(
        image_id=IMAGE, receipt_id=1, line_id=1, word_id=2, label="X", validation_status="VALID"
    )
    world.compact(world.change("INSERT", new=label), "words")
    second = store.publish(world.chroma_dir, expected=first.pointer, fencing_token=2, count=2)
    return first.manifest.version_id, second.manifest.version_id


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_snapshot_list(published: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    first, second = published
    code, out, _ = run(capsys, "snapshot", "list", "words")
    assert code == 0
    assert f"(pointer: {second})" in out
    code, out, _ = run(capsys, "--json", "snapshot", "list", "words")
    rows = json.loads(out)
    assert [(r["version"], r["current"], r["fencing_token"], r["count"]) for r in rows] == [
        (first, False, 1, 2),
        (second, True, 2, 2),
    ]
    assert rows[1]["parent"] == first


def test_snapshot_verify_pull_and_diff(
    published: tuple[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first, second = published
    code, out, _ = run(capsys, "snapshot", "verify", "words")
    assert code == 0
    assert f"words {second}: " in out
    assert "sha256 ok, opens with 2 records" in out
    code, out, _ = run(
        capsys, "--json", "snapshot", "pull", "words", str(tmp_path / "pulled"), "--version", first
    )
    assert code == 0
    assert json.loads(out)["version"] == first
    assert (tmp_path / "pulled" / "chroma.sqlite3").is_file()
    code, _, err = run(capsys, "snapshot", "pull", "words", str(tmp_path / "pulled"))
    assert code == 3
    assert err.strip().endswith("already exists: pull into a new directory")
    code, out, _ = run(capsys, "--json", "snapshot", "diff", "words", first, second)
    diff = json.loads(out)
    assert code == 0
    assert "chroma.sqlite3" in diff["changed"]
    assert diff["count"] == {"old": 2, "new": 2, "delta": 0}


def test_a_damaged_body_fails_verify_with_one_line(
    published: tuple[str, str], world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    store = SnapshotStore(world.clients.s3, world.bucket, "words")
    entry = next(e for e in store.read_manifest(published[1]).files if e.path == "chroma.sqlite3")
    key = body_key("words", entry.sha256)
    raw = bytearray(gzip.decompress(world.clients.s3.get_object(Bucket=world.bucket, Key=key)["Body"].read()))
    raw[100] ^= 0xFF
    world.clients.s3.put_object(Bucket=world.bucket, Key=key, Body=gzip.compress(bytes(raw)))
    code, _, err = run(capsys, "snapshot", "verify", "words")
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert "words file 'chroma.sqlite3': sha256" in err


def test_a_snapshot_that_does_not_open_as_its_manifest_says_fails_verify_with_exit_1(
    published: tuple[str, str], world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    store = SnapshotStore(world.clients.s3, world.bucket, "words")
    pointer = store.read_pointer()
    assert pointer is not None
    # A writer that miscounted: every file matches its sha256, but the directory holds 2 records, not 3.
    lying = store.publish(world.chroma_dir, expected=pointer, fencing_token=3, count=3)
    code, out, err = run(capsys, "snapshot", "verify", "words")
    assert (code, out) == (1, "")
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("receipt-compaction: the snapshot at ")
    assert err.strip().endswith("holds 2 records, its manifest says 3")
    code, out, _ = run(capsys, "snapshot", "verify", "words", "--version", published[1])
    assert (code, f"words {published[1]}: " in out) == (0, True)
    assert lying.manifest.version_id != published[1]


def test_an_unexpected_exception_is_a_bug_with_its_traceback_not_a_failed_check(
    published: tuple[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bug cannot be produced on demand by a real part: force one where the command reads the pointer.
    def broken(self: SnapshotStore) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(SnapshotStore, "read_pointer", broken)
    with pytest.raises(KeyError, match="a bug"):
        main(["snapshot", "verify", "words"])
    assert capsys.readouterr().err == ""


def test_the_region_comes_from_the_option_the_environment_or_the_profile(
    published: tuple[str, str],
    compaction_backend: Backend,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    region = compaction_backend.region
    config = tmp_path / "config"
    config.write_text("")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))  # not the machine's own ~/.aws/config
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    code, out, err = run(capsys, "snapshot", "list", "words")
    assert (code, out, err) == (3, "", "receipt-compaction: no AWS region: set AWS_REGION or pass --region\n")
    code, out, _ = run(capsys, "snapshot", "list", "words", "--region", region)
    assert (code, f"(pointer: {published[1]})" in out) == (0, True)
    config.write_text(f"[profile operator]\nregion = {region}\n")
    monkeypatch.setenv("AWS_PROFILE", "operator")  # the keys stay in the environment, which boto3 prefers
    code, out, _ = run(capsys, "snapshot", "list", "words")
    assert (code, f"(pointer: {published[1]})" in out) == (0, True)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    assert resolve_region(None) == "eu-west-2"
    monkeypatch.setenv("AWS_REGION", "ap-south-1")  # Lambda's and most SDKs' variable; boto3 ignores it
    assert resolve_region(None) == "ap-south-1"
    assert resolve_region("us-west-2") == "us-west-2"


def test_errors_are_one_line_with_exit_code_3(
    published: tuple[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(capsys, "snapshot", "verify", "words", "--version", "20200101_000000_000000_00000000")
    assert code == 3
    assert err.startswith("receipt-compaction: cannot read s3://")
    assert len(err.strip().splitlines()) == 1
    monkeypatch.delenv("CHROMADB_BUCKET")
    code, _, err = run(capsys, "snapshot", "list", "lines")
    assert (code, err.strip()) == (3, "receipt-compaction: no bucket: pass --bucket or set CHROMADB_BUCKET")


def test_scenarios_lint(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "scenarios", "lint", str(SCENARIOS))
    shipped = len(list(SCENARIOS.glob("*.scenario.yaml")))
    assert (code, out.strip().splitlines()[-1]) == (0, f"{shipped} file(s), 0 invalid")
    bad = tmp_path / "bad.scenario.yaml"
    bad.write_text("name: bad\nstages:\n  - drain:\n  - explode: {}\n")
    code, out, _ = run(
        capsys, "scenarios", "lint", str(bad), str(SCENARIOS / "poison_message_goes_to_the_dlq.scenario.yaml")
    )
    assert code == 1
    assert out.splitlines()[0].startswith(f"{bad}:4: stage 2: unknown action 'explode'")
    assert out.splitlines()[-1] == "2 file(s), 1 invalid"


def test_run_local_is_a_tour_that_ends_with_a_labelled_snapshot(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--json", "run-local")
    summary = json.loads(out)
    assert code == 0
    assert summary["grand_total_metadata"]["valid_labels"] == ["GRAND_TOTAL"]
    assert summary["words_count"] == 6
    assert summary["label"]["batch_item_failures"] == []


def console_script() -> str:
    """The installed ``receipt-compaction`` script of this interpreter's environment."""
    script = Path(sys.executable).parent / "receipt-compaction"
    found = str(script) if script.is_file() else shutil.which("receipt-compaction")
    assert found, "the receipt-compaction console script is not installed: pip install -e '.[dev]'"
    return found


def test_the_installed_command_runs_in_a_subprocess_with_exit_codes_and_output(
    published: tuple[str, str], tmp_path: Path
) -> None:
    first, second = published
    environ = dict(os.environ)  # the fixture set the endpoint, credentials and bucket

    def command(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [console_script(), *argv], env=environ, capture_output=True, text=True, check=False, timeout=300
        )

    listed = command("snapshot", "list", "words")
    assert listed.returncode == 0, listed.stderr
    assert f"(pointer: {second})" in listed.stdout
    verified = command("--json", "snapshot", "verify", "words")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["version"] == second
    diff = command("snapshot", "diff", "words", first, second)
    assert diff.returncode == 0, diff.stderr
    assert "chroma.sqlite3" in diff.stdout
    pulled = command("snapshot", "pull", "words", str(tmp_path / "copy"))
    assert (pulled.returncode, (tmp_path / "copy" / "chroma.sqlite3").is_file()) == (0, True)
    again = command("snapshot", "pull", "words", str(tmp_path / "copy"))
    assert again.returncode == 3
    assert len(again.stderr.strip().splitlines()) == 1
    usage = command("snapshot", "frobnicate")
    assert usage.returncode == 2
