"""The fixture factories as users write them in a conftest.py: FIFO queues, queue settings, a name prefix."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from pytest_receipt_compaction import factories
from tests.support.paths import REPO

if TYPE_CHECKING:
    from receipt_compaction.aws import AwsClients
    from receipt_compaction.harness.backends import Backend

pytest_plugins = ["pytester"]

FIFO_CONFTEST = """
from pytest_receipt_compaction import factories

fifo_env = factories.compaction_env(fifo=True, max_receives=5, visibility_timeout=45, prefix="fifo-team")
fifo_pipeline = factories.pipeline("fifo_env")
"""

FIFO_TEST = """
import json
import os

from receipt_compaction.entities import ReceiptWordLabel

IMAGE = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


def attributes(sqs, url):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_a_label_reaches_the_snapshot_through_fifo_queues(fifo_env, fifo_pipeline, aws_clients):
    seeded = fifo_pipeline.seed_receipt(image_id=IMAGE, receipt_id=1, lines=[["TOTAL", "4.20"]])
    fifo_pipeline.put(ReceiptWordLabel(image_id=IMAGE, receipt_id=1, line_id=1, word_id=2,
                                       label="GRAND_TOTAL", validation_status="VALID"))
    report = fifo_pipeline.drain()
    assert report.messages_by_collection["words"] == 1
    got = fifo_pipeline.latest_snapshot("words").get(ids=[seeded.word_ids[1]])
    assert got["metadatas"][0]["valid_labels"] == ["GRAND_TOTAL"]

    resources = fifo_env.resources
    for url in [*resources.queue_urls.values(), *resources.dlq_urls.values()]:
        assert url.endswith(".fifo")
        assert attributes(aws_clients.sqs, url)["FifoQueue"] == "true"
    for collection, url in resources.queue_urls.items():
        queue = attributes(aws_clients.sqs, url)
        policy = json.loads(queue["RedrivePolicy"])
        assert int(policy["maxReceiveCount"]) == 5
        assert policy["deadLetterTargetArn"].endswith(f"-{collection}-dlq.fifo")
        assert queue["VisibilityTimeout"] == "45"
    assert os.environ["WORDS_QUEUE_URL"] == resources.queue_urls["words"]
    assert resources.prefix.startswith("fifo-team-")
    names = aws_clients.sqs.list_queues(QueueNamePrefix=resources.prefix).get("QueueUrls", [])
    print("PREFIX", resources.prefix, len(names))
"""


def test_a_fifo_env_drives_a_label_to_the_snapshot_and_is_torn_down(
    pytester: pytest.Pytester, compaction_backend: Backend, aws_clients: AwsClients
) -> None:
    pytester.makeconftest(FIFO_CONFTEST)
    pytester.makepyfile(test_fifo=FIFO_TEST)
    result = pytester.runpytest(
        "-p",
        "receipt_compaction",
        "-s",
        f"--receipt-compaction-endpoint={compaction_backend.endpoint_url}",
        f"--receipt-compaction-region={compaction_backend.region}",
    )
    result.assert_outcomes(passed=1)
    found = re.search(r"PREFIX (\S+) (\d+)", result.stdout.str())
    assert found, result.stdout.str()
    prefix, queues_during_the_test = found.group(1), int(found.group(2))
    assert queues_during_the_test == 5  # lines, words, their DLQs, the stream's on-failure queue
    assert aws_clients.sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []) == []
    assert [t for t in aws_clients.dynamodb.list_tables()["TableNames"] if t.startswith(prefix)] == []
    assert [b["Name"] for b in aws_clients.s3.list_buckets()["Buckets"] if b["Name"].startswith(prefix)] == []


def test_the_built_in_and_a_custom_env_are_separate_sets_of_resources(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from pytest_receipt_compaction import factories

        slow_env = factories.compaction_env(max_receives=7, prefix="slow")
        """
    )
    pytester.makepyfile(
        """
        import json

        def max_receives(sqs, url):
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
            return int(json.loads(attributes["Attributes"]["RedrivePolicy"])["maxReceiveCount"])

        def test_both(compaction_env, slow_env, aws_clients, tmp_path):
            assert compaction_env.resources.prefix.startswith("rc-")
            assert slow_env.resources.prefix.startswith("slow-")
            assert not compaction_env.resources.queue_urls["words"].endswith(".fifo")
            # the built-in env redrives after the deployed queues' maxReceiveCount (deploy/template.yaml)
            from receipt_compaction.harness.deployment import deployed_settings
            deployed = deployed_settings().max_receives
            assert max_receives(aws_clients.sqs, compaction_env.resources.queue_urls["words"]) == deployed
            assert max_receives(aws_clients.sqs, slow_env.resources.queue_urls["words"]) == 7
            assert (compaction_env.root, slow_env.root) == (tmp_path / "compaction_env", tmp_path / "slow_env")
            assert compaction_env.resources.efs_root.is_dir() and slow_env.resources.efs_root.is_dir()
        """
    )
    result = pytester.runpytest("-p", "receipt_compaction")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"prefix": "Team_A"},
            "resource prefix 'Team_A' cannot name a table, queues and a bucket: use 1 to 40",
        ),
        ({"prefix": "x" * 41}, "cannot name a table, queues and a bucket"),
        ({"max_receives": 0}, "max_receives is 0; SQS accepts 1 to 1000 receives"),
        ({"visibility_timeout": 43201}, "visibility_timeout is 43201; SQS accepts 0 to 43200 seconds"),
    ],
)
def test_a_bad_option_fails_when_the_fixture_is_made(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        factories.compaction_env(**options)  # type: ignore[arg-type]


def test_a_bad_option_in_a_conftest_is_reported_with_its_line(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "from pytest_receipt_compaction import factories\n\nteam_env = factories.compaction_env(prefix='Team_A')\n"
    )
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest("-p", "receipt_compaction")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*team_env = factories.compaction_env(prefix='Team_A')*", "*resource prefix 'Team_A' cannot name*"]
    )


def test_pipeline_takes_a_fixture_name_not_a_fixture() -> None:
    with pytest.raises(TypeError, match=r"factories\.pipeline takes the name of an env fixture"):
        factories.pipeline(factories.compaction_env())  # type: ignore[arg-type]


def test_a_pipeline_over_a_fixture_that_is_not_an_env_errors_naming_it(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "from pytest_receipt_compaction import factories\n\nodd_pipeline = factories.pipeline('tmp_path')\n"
    )
    pytester.makepyfile("def test_it(odd_pipeline):\n    raise AssertionError('must not run')\n")
    result = pytester.runpytest("-p", "receipt_compaction")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*fixture 'tmp_path' gave a PosixPath, not a CompactionEnv: name a fixture made by factories*"]
    )


def test_made_fixtures_are_listed_with_their_settings(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(FIFO_CONFTEST)
    result = pytester.runpytest("-p", "receipt_compaction", "--fixtures")
    result.stdout.fnmatch_lines(
        [
            "fifo_env -- *factories.py:*",
            "*Function: isolated pipeline resources, torn down after the test; "
            "ResourceOptions(prefix='fifo-team', fifo=True, max_receives=5, visibility_timeout=45).",
            "fifo_pipeline -- *factories.py:*",
            "*Function: the local driver over 'fifo_env'*",
        ]
    )


def test_the_factories_example_in_the_readme_passes(pytester: pytest.Pytester) -> None:
    section = (REPO / "README.md").read_text().split("### Fixture factories\n", 1)[1].split("\n## ", 1)[0]
    conftest, test = (block.split("```", 1)[0] for block in section.split("```python\n")[1:3])
    pytester.makeconftest(conftest)
    pytester.makepyfile(test_example=test)
    result = pytester.runpytest("-p", "receipt_compaction")
    result.assert_outcomes(passed=1)
