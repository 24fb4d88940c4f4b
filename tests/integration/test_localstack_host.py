"""LocalStack on the host without Docker: the prepared runtime, starting it with either stream provider,
what it serves, and that stopping it leaves no process behind (its JVM and Node children included)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from receipt_compaction.aws import AwsClients
from receipt_compaction.harness.backends.base import Backend, BackendUnavailable
from receipt_compaction.harness.backends.localstack_host import (
    LocalStackHostExecutor,
    StreamProvider,
    localstack_clients,
    localstack_endpoint,
)
from receipt_compaction.harness.installers.localstack import (
    LOCALSTACK_VERSION,
    find_localstack_runtime,
    runtime_dir,
)
from receipt_compaction.harness.resources import create_bucket, create_queue, create_table
from tests.support.resources import unique_name

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def records_of(streams: DynamoDBStreamsClient, stream_arn: str, *, count: int) -> list[Any]:
    """Poll until ``count`` records came (LocalStack's default provider forwards them asynchronously).

    Records are kept once per sequence number: with the default provider, a record that carries its shard's
    starting sequence number comes back on every NextShardIterator while it is the only one read."""
    shards = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    iterators = [
        streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for s in shards
    ]
    records: dict[str, Any] = {}
    deadline = time.monotonic() + 15
    while len(records) < count and time.monotonic() < deadline:
        for index, iterator in enumerate(iterators):
            page = streams.get_records(ShardIterator=iterator, Limit=100)
            records |= {record["dynamodb"]["SequenceNumber"]: record for record in page["Records"]}
            iterators[index] = page["NextShardIterator"]
        time.sleep(0.2)
    return sorted(records.values(), key=lambda record: int(record["dynamodb"]["SequenceNumber"]))


def test_without_a_prepared_runtime_start_is_one_line_naming_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECEIPT_COMPACTION_CACHE", str(tmp_path))
    with pytest.raises(BackendUnavailable) as caught:
        LocalStackHostExecutor(region="eu-west-1").start()
    message = str(caught.value)
    assert "\n" not in message
    assert "receipt-compaction localstack install" in message
    assert str(runtime_dir(tmp_path)) in message


def test_a_half_install_or_one_with_other_pins_is_not_a_runtime(tmp_path: Path) -> None:
    home = runtime_dir(tmp_path)
    (home / "venv" / "bin").mkdir(parents=True)
    assert find_localstack_runtime(tmp_path) is None  # no marker: a half install
    (home / "installed.json").write_text(json.dumps({"localstack": LOCALSTACK_VERSION, "requirements": []}))
    assert find_localstack_runtime(tmp_path) is None  # other pins: install again


def test_an_unknown_stream_provider_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown LocalStack stream provider 'v3': use 'default' or 'v2'"):
        LocalStackHostExecutor(region="eu-west-1", stream_provider="v3")  # type: ignore[arg-type]


def test_localstack_client_resolves_the_users_localstack_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("LOCALSTACK_HOST", "127.0.0.1:4599")
    assert localstack_endpoint() == "http://127.0.0.1:4599"
    assert localstack_endpoint("localhost:4566") == "http://localhost:4566"


def test_clients_refuse_an_aws_endpoint_url_that_points_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    backend = Backend(name="localstack", endpoint_url="http://127.0.0.1:4599", region="eu-west-1")
    with pytest.raises(BackendUnavailable, match=r"resolves http://127.0.0.1:9 but LocalStack runs at"):
        localstack_clients(backend)


@pytest.fixture(scope="module")
def prepared() -> None:
    if find_localstack_runtime() is None:
        pytest.skip(f"no LocalStack runtime in {runtime_dir()}: run `receipt-compaction localstack install`")


@pytest.mark.slow
@pytest.mark.usefixtures("prepared")
@pytest.mark.parametrize("provider", ["default", "v2"])
def test_localstack_on_the_host_serves_the_pipelines_services_and_stops_everything(
    provider: StreamProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    executor = LocalStackHostExecutor(region="eu-west-1", stream_provider=provider)
    with executor as backend:
        assert backend.name == "localstack"
        clients = localstack_clients(backend)
        assert clients.region == "eu-west-1"
        table = unique_name("receipts")
        stream_arn = create_table(clients.dynamodb, table, streams=clients.dynamodbstreams)
        for sk in ("a", "b"):
            clients.dynamodb.put_item(TableName=table, Item={"PK": {"S": "p"}, "SK": {"S": sk}})
        clients.dynamodb.delete_item(TableName=table, Key={"PK": {"S": "p"}, "SK": {"S": "a"}})
        records = records_of(clients.dynamodbstreams, stream_arn, count=3)
        assert [r["eventName"] for r in records] == ["INSERT", "INSERT", "REMOVE"]
        assert {r["awsRegion"] for r in records} == {"eu-west-1"}
        queue = create_queue(clients.sqs, unique_name("words"))
        clients.sqs.send_message(QueueUrl=queue, MessageBody="hello")
        assert [m["Body"] for m in clients.sqs.receive_message(QueueUrl=queue)["Messages"]] == ["hello"]
        bucket = unique_name("snapshots")
        create_bucket(clients.s3, bucket, backend.region)
        clients.s3.put_object(Bucket=bucket, Key="latest", Body=b"1", IfNoneMatch="*")
        with pytest.raises(ClientError, match="PreconditionFailed"):
            clients.s3.put_object(Bucket=bucket, Key="latest", Body=b"2", IfNoneMatch="*")
        owned = executor.processes()
        commands = " ".join(cmdline(pid) for pid in owned)
        assert "localstack.runtime.main" in commands
        assert "DynamoDBLocal.jar" in commands
        assert ("kinesis-local" in commands) == (provider == "default")
    assert executor.processes() == []
    assert [pid for pid in owned if alive(pid)] == []


@pytest.mark.slow
@pytest.mark.usefixtures("prepared")
def test_children_of_a_killed_localstack_are_still_ended_by_stop() -> None:
    executor = LocalStackHostExecutor(region="eu-west-1", stream_provider="v2")
    backend = executor.start()
    try:
        AwsClients.connect(**backend.client_kwargs()).dynamodb.list_tables()
        owned = executor.processes()
        main = next(pid for pid in owned if "localstack.runtime.main" in cmdline(pid))
        os.kill(main, signal.SIGKILL)  # a real fault: LocalStack gone without stopping its JVM
        deadline = time.monotonic() + 10
        while alive(main) and "localstack" in cmdline(main) and time.monotonic() < deadline:
            time.sleep(0.1)
        orphans = [pid for pid in owned if pid != main and alive(pid)]
        assert any(
            "DynamoDBLocal.jar" in cmdline(pid) for pid in orphans
        )  # still running, in its own session
    finally:
        executor.stop()
    assert [pid for pid in owned if alive(pid)] == []
