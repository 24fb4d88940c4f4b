"""Lease contention costs time, not SQS receives; working copies of dead compactors are removed.

The acceptance test runs three compactor processes (spawned OS processes, each its own Python with its own
Chroma) against one moto server this test starts: each receives batches of the same ``words`` queue
(maxReceiveCount 3, SQS's own redrive to the DLQ) and runs the real Lambda handler with a Lambda-like context,
the way three concurrent executions of the function would.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from receipt_compaction.aws import AwsClients
from receipt_compaction.compaction.working_copies import (
    WorkingCopyOwner,
    make_working_dir,
    remove_stale_working_dirs,
)
from receipt_compaction.handlers.compaction import lease_wait_budget
from receipt_compaction.lock import LeaseBusy, acquire_lease, wait_for_lease
from receipt_compaction.settings import CompactionSettings, SettingsError
from tests.support.resources import Table

if TYPE_CHECKING:
    from multiprocessing.synchronize import Event

    from receipt_compaction.harness.janitor import CompactionEnv

ENV = {"DYNAMODB_TABLE_NAME": "t", "CHROMADB_BUCKET": "b", "AWS_REGION": "eu-west-1"}


# -- waiting for the lease ---------------------------------------------------------------------------------


def test_a_waiter_takes_the_lease_once_its_holder_releases_it(aws_clients: AwsClients, table: Table) -> None:
    holder = acquire_lease(aws_clients.dynamodb, table.name, "words", heartbeat_interval=0)
    threading.Timer(0.6, holder.release).start()
    started = time.monotonic()
    with wait_for_lease(
        aws_clients.dynamodb, table.name, "words", budget=lambda: 30.0, heartbeat_interval=0
    ) as lease:
        waited = time.monotonic() - started
        assert lease.token == holder.token + 1
        lease.check()
    assert 0.6 <= waited < 3.0  # polled every <= 0.5 s, not the whole budget


def test_a_waiter_gives_up_when_its_budget_is_spent(aws_clients: AwsClients, table: Table) -> None:
    deadline = time.monotonic() + 0.4
    with acquire_lease(aws_clients.dynamodb, table.name, "words", heartbeat_interval=0):
        started = time.monotonic()
        with pytest.raises(LeaseBusy, match=r"still busy after waiting 0\.\d s, \d+ attempts"):
            wait_for_lease(
                aws_clients.dynamodb,
                table.name,
                "words",
                budget=lambda: deadline - time.monotonic(),
                heartbeat_interval=0,
            )
        assert time.monotonic() - started < 1.5  # no pause outlasts the budget


def test_the_wait_is_the_lambdas_remaining_time_minus_the_margin_else_the_local_setting() -> None:
    settings = CompactionSettings.from_env(
        {**ENV, "COMPACTION_LEASE_WAIT_SECONDS": "5", "COMPACTION_LEASE_WAIT_MARGIN_SECONDS": "30"}
    )
    assert lease_wait_budget(FunctionContext(100.0), settings)() == pytest.approx(70, abs=1)
    assert lease_wait_budget(None, settings)() == pytest.approx(5, abs=0.5)
    assert lease_wait_budget(FunctionContext(20.0), settings)() < 0  # no time to wait: fail at once
    defaults = CompactionSettings.from_env(ENV)
    assert (defaults.lease_wait_seconds, defaults.lease_wait_margin_seconds) == (2.0, 60.0)
    with pytest.raises(SettingsError, match="COMPACTION_LEASE_WAIT_SECONDS is 'soon': it must be a number"):
        CompactionSettings.from_env({**ENV, "COMPACTION_LEASE_WAIT_SECONDS": "soon"})


# -- working copies of dead processes ----------------------------------------------------------------------


def dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    return int(child.stdout)


def aged(path: Path, seconds: float) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_stale_working_copies_of_dead_owners_are_removed_and_nothing_else(tmp_path: Path) -> None:
    me = WorkingCopyOwner.this_process()
    mine = make_working_dir(tmp_path, "words")
    assert mine.name.startswith(f"working-words-p{me.pid}-s{me.start}-h{me.host}-")
    aged(mine, 1000)  # a live owner keeps its copy however old
    dead = f"p{dead_pid()}-s{me.start}-h{me.host}"
    dead_words = aged(tmp_path / f"working-words-{dead}-abc123", 1000)
    dead_lines = aged(tmp_path / f"working-lines-{dead}-def456", 1000)
    young = aged(tmp_path / f"working-words-{dead}-ghi789", 10)  # within the lease: left alone
    reused = aged(tmp_path / f"working-words-p{me.pid}-s{me.start + 1}-h{me.host}-jkl012", 1000)  # pid reused
    elsewhere_words = aged(tmp_path / "working-words-p1-s1-hother-host-mno345", 1000)
    elsewhere_lines = aged(tmp_path / "working-lines-p1-s1-hother-host-pqr678", 1000)
    not_ours = aged(tmp_path / "something-else", 1000)

    removed = remove_stale_working_dirs(tmp_path, collection="words", older_than=120)

    assert sorted(removed) == sorted([dead_words, dead_lines, reused, elsewhere_words])
    assert {path.name for path in tmp_path.iterdir()} == {
        mine.name,
        young.name,
        elsewhere_lines.name,  # another host's copy of a collection whose lease this cycle does not hold
        not_ours.name,
    }


def test_a_cycle_removes_the_copies_dead_compactors_left(
    aws_clients: AwsClients, compaction_env: CompactionEnv, tmp_path: Path
) -> None:
    from receipt_compaction.harness.pipeline import LocalPipeline  # noqa: PLC0415 - chromadb

    work_root = tmp_path / "copies"
    host = WorkingCopyOwner.this_process().host
    left = aged(work_root / f"working-words-p{dead_pid()}-s1-h{host}-x1", 500)  # older than the 120 s lease
    environ = {**compaction_env.environ, "COMPACTION_WORK_DIR": str(work_root)}
    pipeline = LocalPipeline(aws_clients, compaction_env.resources, environ)
    pipeline.seed_receipt(image_id=str(uuid.uuid4()), receipt_id=1, lines=[["TOTAL"]])
    assert not left.exists()
    assert list(work_root.iterdir()) == []  # and the cycles' own copies are gone too


# -- three compactor processes on one queue ----------------------------------------------------------------

PROCESSES = 3
RECEIPTS = 20
UPDATES = 150
WAVES = 10
FUNCTION_TIMEOUT = 60.0
VISIBILITY_TIMEOUT = 60  # >= the function timeout and > the lease, as the handler's docstring asks
LEASE_SECONDS = 30  # heartbeats every 7.5 s: room for a machine shared with other test runs
WAIT_MARGIN = 20
LABELS = ("TOTAL", "SUBTOTAL", "TAX", "DATE", "MERCHANT_NAME")
STATUSES = ("VALID", "INVALID", "PENDING", "NONE")


class FunctionContext:
    """The part of Lambda's context object the handler reads: the time left before the function's
    timeout, counted from when the invocation started."""

    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class CompactorStats:
    name: str
    invocations: int
    messages: int
    redelivered: int
    failed: int
    lease_waits: int
    waited: float


class LeaseWaits(logging.Handler):
    """Counts the leases a process had to wait for, from the lock's own log line, and the time waited."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "lease on %r taken after %.2f s and %d attempts":
            self.seconds.append(float(record.args[1]))  # type: ignore[index]


def run_compactor(
    name: str,
    client_kwargs: dict[str, Any],
    environ: dict[str, str],
    queue_url: str,
    stop: Event,
    results: Any,
) -> None:
    """One compactor process: receive a batch, run the handler, delete what succeeded. Failed messages stay
    invisible until their visibility timeout ends, as with Lambda's event source mapping."""
    os.environ.update(environ)
    logging.basicConfig(level=logging.WARNING, format=f"{name} %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.WARNING)
    waits = LeaseWaits()
    logging.getLogger("receipt_compaction.lock.lease").addHandler(waits)
    logging.getLogger("receipt_compaction.lock.lease").setLevel(logging.INFO)
    from receipt_compaction.handlers import compaction  # noqa: PLC0415 - chromadb, in the child only
    from receipt_compaction.harness import lambda_sqs_event  # noqa: PLC0415

    sqs = AwsClients.connect(**client_kwargs).sqs
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    invocations = received = redelivered = failed = 0
    while not stop.is_set():
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            continue
        invocations += 1
        received += len(messages)
        redelivered += sum(m["Attributes"]["ApproximateReceiveCount"] != "1" for m in messages)
        event = lambda_sqs_event(messages, queue_arn=arn, region=client_kwargs["region_name"])
        try:
            response = compaction.lambda_handler(event, FunctionContext(FUNCTION_TIMEOUT))
            failures = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        except Exception:  # a function error: the whole batch comes back
            logging.getLogger(name).exception("the handler failed")
            failures = {m["MessageId"] for m in messages}
        failed += len(failures)
        done = [m for m in messages if m["MessageId"] not in failures]
        if done:
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
    results.put(
        CompactorStats(
            name, invocations, received, redelivered, failed, len(waits.seconds), sum(waits.seconds)
        )
    )


def queue_depth(clients: AwsClients, url: str) -> int:
    attributes = clients.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def push_stream(env: CompactionEnv, clients: AwsClients, seen: set[str]) -> None:
    """Hand the stream records not yet handled to the stream processor, as its event source would."""
    from receipt_compaction.handlers import stream_processor  # noqa: PLC0415
    from receipt_compaction.harness import handler_environment, lambda_stream_event, read_stream_records  # noqa: PLC0415

    arn = env.resources.stream_arn
    records = [r for r in read_stream_records(clients.dynamodbstreams, arn) if r["eventID"] not in seen]
    seen.update(record["eventID"] for record in records)
    for start in range(0, len(records), 100):
        with handler_environment(env.environ):
            response = stream_processor.lambda_handler(
                lambda_stream_event(records[start : start + 100], stream_arn=arn, region=clients.region), None
            )
        assert response == {"batchItemFailures": []}


@pytest.mark.slow  # 1-2.5 min on a shared 2-core machine: 150 updates through three compactors that take turns on the lease
def test_three_compactors_on_one_queue_lose_no_message_and_publish_a_linear_history(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    from pytest_receipt_compaction.factories import harness_settings  # noqa: PLC0415
    from receipt_compaction.embedding import desired_embeddings  # noqa: PLC0415
    from receipt_compaction.entities import ReceiptWordLabel  # noqa: PLC0415
    from receipt_compaction.harness.backends import MotoServerExecutor  # noqa: PLC0415
    from receipt_compaction.harness.event_sources import read_stream_records  # noqa: PLC0415
    from receipt_compaction.harness.janitor import ResourceOptions, open_compaction_env  # noqa: PLC0415
    from receipt_compaction.harness.pipeline import LocalPipeline, ReceiptSpec  # noqa: PLC0415
    from receipt_compaction.snapshot import SnapshotStore  # noqa: PLC0415
    from receipt_compaction.state import ReceiptKey, load_receipt_state  # noqa: PLC0415

    region = harness_settings(pytestconfig).region
    options = ResourceOptions(prefix="contention", max_receives=3, visibility_timeout=VISIBILITY_TIMEOUT)
    rng = random.Random(13)
    with (
        MotoServerExecutor(region=region) as backend,
        open_compaction_env(
            backend, AwsClients.connect(**backend.client_kwargs()), root=tmp_path, options=options
        ) as env,
    ):
        clients = AwsClients.connect(**backend.client_kwargs())
        environ = {
            **env.environ,
            "COMPACTION_LEASE_SECONDS": str(LEASE_SECONDS),
            "COMPACTION_LEASE_WAIT_MARGIN_SECONDS": str(WAIT_MARGIN),
            "COMPACTION_KEEP_VERSIONS": "100000",  # keep every manifest: the history is checked below
            "COMPACTION_WORK_DIR": str(tmp_path / "working-copies"),
        }
        pipeline = LocalPipeline(
            clients, env.resources, environ, drain_deadline=600
        )  # a busy machine seeds slowly
        seeded = pipeline.seed_receipts(
            [
                ReceiptSpec(
                    str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    n,
                    [["ITEM", "1.00"], ["TOTAL", "9.99"]],
                )
                for n in range(1, RECEIPTS + 1)
            ]
        )
        seen = {r["eventID"] for r in read_stream_records(clients.dynamodbstreams, env.resources.stream_arn)}
        words = env.resources.queue_urls["words"]
        assert queue_depth(clients, words) == 0

        spawn = multiprocessing.get_context("spawn")
        stop, results = spawn.Event(), spawn.Queue()
        workers = [
            spawn.Process(
                target=run_compactor,
                args=(f"compactor-{n}", backend.client_kwargs(), environ, words, stop, results),
                name=f"compactor-{n}",
            )
            for n in range(PROCESSES)
        ]
        for worker in workers:
            worker.start()
        try:
            labels: dict[tuple[int, int, int, str], str] = {}
            for _ in range(WAVES):
                for _ in range(UPDATES // WAVES):
                    receipt = rng.choice(seeded)
                    line_id, word_id = rng.choice([(1, 1), (1, 2), (2, 1), (2, 2)])
                    label = rng.choice(LABELS)
                    key = (receipt.receipt_id, line_id, word_id, label)
                    # Always a change: a put that changes nothing sends no message.
                    labels[key] = rng.choice([s for s in STATUSES if s != labels.get(key)])
                    pipeline.put(
                        ReceiptWordLabel(
                            image_id=receipt.image_id,
                            receipt_id=receipt.receipt_id,
                            line_id=line_id,
                            word_id=word_id,
                            label=label,
                            validation_status=labels[key],
                        )
                    )
                push_stream(env, clients, seen)
                time.sleep(0.3)
            deadline = time.monotonic() + 900
            quiet = 0
            while quiet < 3 and time.monotonic() < deadline:
                quiet = quiet + 1 if queue_depth(clients, words) == 0 else 0
                time.sleep(1)
        finally:
            stop.set()
            stats = [results.get(timeout=120) for _ in workers]
            for worker in workers:
                worker.join(timeout=30)

        dlq = clients.sqs.get_queue_attributes(
            QueueUrl=env.resources.dlq_urls["words"], AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        snapshot = pipeline.latest_snapshot("words").get()
        actual = dict(
            zip(snapshot["ids"], zip(snapshot["documents"], snapshot["metadatas"], strict=True), strict=True)
        )
        desired = {
            embedding.id: (embedding.document, embedding.metadata)
            for receipt in seeded
            for embedding in desired_embeddings(
                load_receipt_state(
                    clients.dynamodb,
                    env.resources.table_name,
                    ReceiptKey(receipt.image_id, receipt.receipt_id),
                ),
                "words",
            ).values()
        }
        stale = sorted(
            embedding_id
            for embedding_id in desired.keys() | actual.keys()
            if desired.get(embedding_id) != actual.get(embedding_id)
        )
        store = SnapshotStore(clients.s3, env.resources.bucket, "words")
        manifests = [store.read_manifest(version) for version in store.versions()]
        pointer = store.read_pointer()

    summary = (
        f"{sum(s.messages - s.redelivered for s in stats)} messages, "
        f"{sum(s.invocations for s in stats)} invocations, "
        f"{sum(s.redelivered for s in stats)} redelivered, {sum(s.failed for s in stats)} batch item failures, "
        f"{sum(s.lease_waits for s in stats)} lease waits ({sum(s.waited for s in stats):.1f} s), "
        f"DLQ {dlq}, stale {len(stale)}, versions {len(manifests)}: {stats}"
    )
    print(summary)
    assert all(worker.exitcode == 0 for worker in workers), summary
    assert int(dlq) == 0, summary
    assert sum(s.lease_waits for s in stats) > 0, summary  # the compactors did contend for the lease
    assert stale == [], summary
    assert sum(s.messages - s.redelivered for s in stats) == UPDATES, summary
    assert manifests[0].parent_version is None
    for parent, child in itertools.pairwise(manifests):
        assert child.parent_version == parent.version_id, (parent.version_id, child.version_id)
    assert pointer is not None
    assert pointer.version_id == manifests[-1].version_id
