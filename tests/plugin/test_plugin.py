"""The plugin as users run it: options from each source, the help text, backend skips, the fixtures."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from receipt_compaction.aws import AwsClients
from receipt_compaction.harness.backends import MotoServerExecutor
from receipt_compaction.harness.deployment import deployed_settings
from receipt_compaction.harness.installers import default_jar

pytest_plugins = ["pytester"]

SHOW_SETTINGS = """
from pytest_receipt_compaction.plugin import harness_settings

def test_settings(pytestconfig):
    settings = harness_settings(pytestconfig)
    print("SETTINGS", settings.backend, settings.endpoint, settings.region, settings.start_timeout,
          settings.keep_artifacts)
"""


def settings_line(result: pytest.RunResult) -> str:
    found = re.search(r"SETTINGS .*", result.stdout.str())
    assert found, result.stdout.str()
    return found.group(0)


def test_help_lists_the_option_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("-p", "receipt_compaction", "--help")
    result.stdout.fnmatch_lines(
        [
            "receipt-compaction (DynamoDB stream -> SQS -> Chroma harness):",
            "*--receipt-compaction-backend=BACKEND*",
            "*--receipt-compaction-endpoint=ENDPOINT*",
            "*--receipt-compaction-region=REGION*",
            "*--receipt-compaction-keep-artifacts=KEEP-ARTIFACTS*",
            "*--receipt-compaction-start-timeout=START-TIMEOUT*",
        ]
    )
    result.stdout.fnmatch_lines(["*receipt_compaction_region*"])  # the ini names are listed too


def test_defaults(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BACKEND", "ENDPOINT", "REGION", "START_TIMEOUT", "KEEP_ARTIFACTS"):
        monkeypatch.delenv(f"RECEIPT_COMPACTION_{name}", raising=False)
    pytester.makepyfile(SHOW_SETTINGS)
    result = pytester.runpytest("-p", "receipt_compaction", "-s")
    assert settings_line(result) == "SETTINGS moto None us-east-1 20.0 False"
    result.stdout.fnmatch_lines(["receipt-compaction: backend=moto endpoint=embedded region=us-east-1"])


OPTION_VALUES = [
    ("backend", "aws", 1),
    ("endpoint", "http://127.0.0.1:4566", 2),
    ("region", "eu-west-3", 3),
    ("start-timeout", "7", 4),
    ("keep-artifacts", "yes", 5),
]
EXPECTED = {
    "backend": "aws",
    "endpoint": "http://127.0.0.1:4566",
    "region": "eu-west-3",
    "start-timeout": "7.0",
    "keep-artifacts": "True",
}


@pytest.mark.parametrize("source", ["cli", "ini", "env"])
@pytest.mark.parametrize(("option", "value", "position"), OPTION_VALUES, ids=[o for o, _, _ in OPTION_VALUES])
def test_each_option_is_read_from_each_source(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    option: str,
    value: str,
    position: int,
) -> None:
    variable = f"RECEIPT_COMPACTION_{option.upper().replace('-', '_')}"
    for name, _, _ in OPTION_VALUES:
        monkeypatch.delenv(f"RECEIPT_COMPACTION_{name.upper().replace('-', '_')}", raising=False)
    pytester.makepyfile(SHOW_SETTINGS)
    args = ["-p", "receipt_compaction", "-s"]
    if source == "cli":
        args.append(f"--receipt-compaction-{option}={value}")
    elif source == "ini":
        pytester.makeini(f"[pytest]\nreceipt_compaction_{option.replace('-', '_')} = {value}\n")
    else:
        monkeypatch.setenv(variable, value)
    assert settings_line(pytester.runpytest(*args)).split()[position] == EXPECTED[option]


def test_cli_beats_ini_beats_env(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(SHOW_SETTINGS)
    pytester.makeini("[pytest]\nreceipt_compaction_region = from-ini\nreceipt_compaction_start_timeout = 7\n")
    monkeypatch.setenv("RECEIPT_COMPACTION_REGION", "from-env")
    monkeypatch.setenv("RECEIPT_COMPACTION_START_TIMEOUT", "9")
    result = pytester.runpytest("-p", "receipt_compaction", "-s", "--receipt-compaction-region=from-cli")
    assert settings_line(result).split()[3:5] == ["from-cli", "7.0"]
    result = pytester.runpytest("-p", "receipt_compaction", "-s")
    assert settings_line(result).split()[3:5] == ["from-ini", "7.0"]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--receipt-compaction-backend=docker"],
            {},
            "*receipt-compaction: --receipt-compaction-backend is 'docker'; "
            "it must be one of: moto, *localstack, aws*",
        ),
        (
            [],
            {"RECEIPT_COMPACTION_BACKEND": "nope"},
            "*environment variable RECEIPT_COMPACTION_BACKEND is 'nope'; it must be one of: moto*",
        ),
        (
            ["--receipt-compaction-start-timeout=0"],
            {},
            "*start-timeout is '0'; it must be a positive number of seconds*",
        ),
    ],
)
def test_bad_option_values_are_usage_errors_naming_their_source(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest("-p", "receipt_compaction", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_unreachable_endpoint_skips_with_one_actionable_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_needs_aws(aws_clients):\n    raise AssertionError('must not run')\n")
    url = f"http://127.0.0.1:{_closed_port()}"
    result = pytester.runpytest(
        "-p",
        "receipt_compaction",
        "-rs",
        f"--receipt-compaction-endpoint={url}",
        "--receipt-compaction-start-timeout=1",
    )
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [
            f"SKIPPED * no AWS endpoint answered at {url} within 1 s (*): start it with "
            "`docker compose -f localstack/docker-compose.yml up -d`, or drop --receipt-compaction-endpoint "
            "to use the embedded moto server"
        ]
    )


def test_an_external_endpoint_that_answers_is_used(
    pytester: pytest.Pytester, compaction_backend: object
) -> None:
    endpoint = compaction_backend.endpoint_url  # type: ignore[attr-defined]
    pytester.makepyfile(
        f"""
        def test_uses_it(compaction_backend, aws_clients):
            assert compaction_backend.endpoint_url == {endpoint!r}
            assert aws_clients.sqs.meta.endpoint_url == {endpoint!r}
        """
    )
    result = pytester.runpytest("-p", "receipt_compaction", f"--receipt-compaction-endpoint={endpoint}")
    result.assert_outcomes(passed=1)


def test_a_downstream_test_uses_the_embedded_backend(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_round_trip(aws_clients):
            url = aws_clients.sqs.create_queue(QueueName="downstream")["QueueUrl"]
            aws_clients.sqs.send_message(QueueUrl=url, MessageBody="hello")
            got = aws_clients.sqs.receive_message(QueueUrl=url)["Messages"]
            assert [m["Body"] for m in got] == ["hello"]
            aws_clients.s3.create_bucket(Bucket="downstream")
            aws_clients.s3.put_object(Bucket="downstream", Key="k", Body=b"v")
            assert aws_clients.s3.get_object(Bucket="downstream", Key="k")["Body"].read() == b"v"

        def test_same_server_for_the_session(compaction_backend, aws_clients):
            assert aws_clients.dynamodb.meta.endpoint_url == compaction_backend.endpoint_url
            assert compaction_backend.endpoint_url.startswith("http://127.0.0.1:")
        """
    )
    result = pytester.runpytest("-p", "receipt_compaction")
    result.assert_outcomes(passed=2)


def test_the_built_in_env_and_pipeline_are_made_by_the_factories(pytester: pytest.Pytester) -> None:
    deployed = deployed_settings()  # the built-in env's queues are the deployed template's
    result = pytester.runpytest("-p", "receipt_compaction", "--fixtures")
    result.stdout.fnmatch_lines(
        [
            "compaction_env -- *pytest_receipt_compaction/factories.py:*",
            f"*ResourceOptions(prefix='rc', fifo=False, max_receives={deployed.max_receives}, "
            f"visibility_timeout={deployed.visibility_timeout}).",
            "pipeline -- *pytest_receipt_compaction/factories.py:*",
            "*the local driver over 'compaction_env'*",
        ]
    )


def test_the_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_needs_it(aws_clients):\n    pass\n")
    result = pytester.runpytest("-p", "no:receipt_compaction")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'aws_clients' not found*"])


DOWNSTREAM = """
from receipt_compaction.entities import ReceiptWordLabel

IMAGE = "{image}"


def test_a_label_reaches_the_snapshot(pipeline):
    seeded = pipeline.seed_receipt(image_id=IMAGE, receipt_id=1, lines=[["TOTAL", "4.20"]])
    pipeline.put(ReceiptWordLabel(image_id=IMAGE, receipt_id=1, line_id=1, word_id=2, label="GRAND_TOTAL",
                                  validation_status="VALID"))
    pipeline.drain()
    got = pipeline.latest_snapshot("words").get(ids=[seeded.word_ids[1]])
    assert got["metadatas"][0]["valid_labels"] == ["GRAND_TOTAL"]


def test_a_metadata_rename(pipeline):
    from receipt_compaction.entities import ReceiptMetadata
    pipeline.seed_receipt(image_id=IMAGE, receipt_id=2, lines=[["A"]], merchant_name="Old")
    pipeline.put(ReceiptMetadata(image_id=IMAGE, receipt_id=2, merchant_name="New"))
    pipeline.drain()
    assert pipeline.latest_snapshot("lines").get()["metadatas"][0]["merchant_name"] == "New"
"""


@pytest.mark.parametrize("extra", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_downstream_test_file_needs_nothing_but_the_plugin(
    pytester: pytest.Pytester, extra: list[str]
) -> None:
    pytester.makepyfile(test_downstream=DOWNSTREAM.format(image="aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"))
    result = pytester.runpytest_subprocess("-p", "receipt_compaction", *extra)
    result.assert_outcomes(passed=2)


def test_keep_artifacts_keeps_the_reports_of_a_failed_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_fails(pipeline):
            pipeline.drain()
            assert False, "on purpose"
        """
    )
    result = pytester.runpytest("-p", "receipt_compaction", "--receipt-compaction-keep-artifacts=true")
    result.assert_outcomes(failed=1)
    found = re.search(r"artifacts kept in (\S+) \(drain reports: (\S+)\)", result.stdout.str())
    assert found, result.stdout.str()
    reports = json.loads(Path(found.group(2)).read_text())
    assert reports[0]["records"] == 0
    assert Path(found.group(1), "efs").is_dir()


def test_without_keep_artifacts_nothing_is_written(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_fails(pipeline):\n    assert False\n")
    result = pytester.runpytest("-p", "receipt_compaction")
    result.assert_outcomes(failed=1)
    assert "artifacts kept in" not in result.stdout.str()


def test_localstack_without_a_docker_engine_skips_with_one_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.setenv("RECEIPT_COMPACTION_CACHE", str(pytester.path / "empty-cache"))  # no host runtime
    pytester.makepyfile("def test_needs_aws(aws_clients):\n    raise AssertionError('must not run')\n")
    result = pytester.runpytest("-p", "receipt_compaction", "-rs", "--receipt-compaction-backend=localstack")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED *run `receipt-compaction localstack install`*"])
    # The wording belongs to the localstack lane (a host runtime may be offered too): one line that names the
    # backend, the missing Docker engine, and the endpoint option as a way out.
    result.stdout.fnmatch_lines(
        ["SKIPPED * backend 'localstack'*Docker engine*--receipt-compaction-endpoint=URL*"]
    )


def test_aws_without_credentials_skips_with_one_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    pytester.makepyfile("def test_needs_aws(aws_clients):\n    raise AssertionError('must not run')\n")
    result = pytester.runpytest("-p", "receipt_compaction", "-rs", "--receipt-compaction-backend=aws")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["SKIPPED * backend 'aws' found no AWS credentials in boto3's default chain*"]
    )


ROUND_TRIP = """
import os

IMAGE = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


def test_round_trip(pipeline, aws_clients, compaction_env):
    seeded = pipeline.seed_receipt(image_id=IMAGE, receipt_id=1, lines=[["TOTAL", "4.20"]])
    assert pipeline.latest_snapshot("words").get(ids=[seeded.word_ids[1]])["ids"] == [seeded.word_ids[1]]
    print("ENDPOINTS", aws_clients.dynamodb.meta.endpoint_url, aws_clients.sqs.meta.endpoint_url,
          os.environ["AWS_ENDPOINT_URL_DYNAMODB"] or "-", os.environ["AWS_ENDPOINT_URL_SQS"] or "-")
"""


def endpoints_line(result: pytest.RunResult) -> list[str]:
    found = re.search(r"ENDPOINTS .*", result.stdout.str())
    assert found, result.stdout.str()
    return found.group(0).split()[1:]


def test_inherited_per_service_endpoints_do_not_move_the_embedded_backend(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in (
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
        "AWS_ENDPOINT_URL_SQS",
    ):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")  # a user's shell pointing elsewhere
    pytester.makepyfile(ROUND_TRIP)
    result = pytester.runpytest_subprocess("-p", "receipt_compaction", "-s")
    result.assert_outcomes(passed=1)
    dynamodb, sqs, dynamodb_variable, sqs_variable = endpoints_line(result)
    assert dynamodb == sqs != "http://127.0.0.1:9"
    assert (dynamodb_variable, sqs_variable) == ("-", "-")  # cleared for the handlers


def test_a_separate_dynamodb_endpoint_serves_the_table_and_its_stream(pytester: pytest.Pytester) -> None:
    with MotoServerExecutor(region="us-east-1") as other:  # a second server standing in for DynamoDB Local
        pytester.makepyfile(ROUND_TRIP)
        result = pytester.runpytest_subprocess(
            "-p", "receipt_compaction", "-s", f"--receipt-compaction-dynamodb-endpoint={other.endpoint_url}"
        )
        result.assert_outcomes(passed=1)
        dynamodb, sqs, dynamodb_variable, sqs_variable = endpoints_line(result)
        assert dynamodb == dynamodb_variable == other.endpoint_url
        assert sqs != other.endpoint_url
        assert sqs_variable == "-"
        tables = AwsClients.connect(**other.client_kwargs()).dynamodb.list_tables()["TableNames"]
        assert tables == []  # the test's table lived there and was removed


INSTALLED_JAR = default_jar()  # read before pytester gives each test a HOME of its own


@pytest.mark.skipif(not INSTALLED_JAR.is_file(), reason="run `receipt-compaction dynamodb-local install`")
def test_dynamodb_local_runs_the_pipeline(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ROUND_TRIP)
    result = pytester.runpytest_subprocess(
        "-p",
        "receipt_compaction",
        "-s",
        "--receipt-compaction-backend=dynamodb-local",
        f"--receipt-compaction-dynamodb-local-jar={INSTALLED_JAR}",
    )
    result.assert_outcomes(passed=1)
    dynamodb, sqs, dynamodb_variable, _ = endpoints_line(result)
    assert dynamodb == dynamodb_variable != sqs


def test_dynamodb_local_without_its_jar_skips_with_one_line(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.makepyfile("def test_needs_aws(aws_clients):\n    raise AssertionError('must not run')\n")
    result = pytester.runpytest(
        "-p",
        "receipt_compaction",
        "-rs",
        "--receipt-compaction-backend=dynamodb-local",
        f"--receipt-compaction-dynamodb-local-jar={tmp_path / 'missing.jar'}",
    )
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED * backend 'dynamodb-local' found no DynamoDB Local jar at *: run `receipt-compaction dynamodb-local install`*"
        ]
    )
