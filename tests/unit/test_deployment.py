"""deploy/template.yaml, the harness's settings and the README's deploy commands are one truth.

The harness reads its event-source and queue defaults from the template; these tests fail when the two
diverge, when a template value would lose or stall data, when cfn-lint objects, and when a command the README
tells an operator to run is one its tool does not accept.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from receipt_compaction import cli, settings
from receipt_compaction.harness.deployment import (
    TEMPLATE_VARIABLE,
    DeployedSettings,
    check_invariants,
    deployed_settings,
    lease_wait_receives,
    load_template,
    read_deployed_settings,
    template_path,
)
from receipt_compaction.harness.event_sources import StreamSourceSettings
from receipt_compaction.harness.janitor import ResourceOptions
from receipt_compaction.harness.settings import OPTIONS
from receipt_compaction.settings import CompactionSettings, StreamProcessorSettings
from tests.support.paths import REPO

TEMPLATE = REPO / "deploy" / "template.yaml"
README = (REPO / "README.md").read_text()
SECTION = README.split("## Deploy to AWS\n", 1)[1].split("\n## ", 1)[0]

Rewrite = Callable[[Callable[[str], str]], DeployedSettings]


def with_default(parameter: str, value: str) -> Callable[[str], str]:
    """An edit of the template text that changes ``parameter``'s Default to ``value``."""

    def edit(text: str) -> str:
        pattern = re.compile(rf"(^  {parameter}:\n(?:    .*\n)*?    Default: ).*$", re.MULTILINE)
        changed, count = pattern.subn(rf"\g<1>{value}", text)
        assert count == 1, f"no Default of {parameter} in the template"
        return changed

    return edit


def replacing(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


@pytest.fixture
def rewritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rewrite]:
    """Write an edited copy of the template and make the harness read it (``RECEIPT_COMPACTION_TEMPLATE``)."""

    def rewrite(*edits: Callable[[str], str]) -> DeployedSettings:
        text = TEMPLATE.read_text()
        for edit in edits:
            text = edit(text)
        path = tmp_path / "template.yaml"
        path.write_text(text)
        monkeypatch.setenv(TEMPLATE_VARIABLE, str(path))
        deployed_settings.cache_clear()
        return read_deployed_settings(path)

    yield rewrite  # type: ignore[misc]
    deployed_settings.cache_clear()  # the next test reads the shipped template again


# -- one source of truth ----------------------------------------------------------------------------------


def test_the_package_ships_the_deploy_template() -> None:
    assert template_path().read_text() == TEMPLATE.read_text()


def test_the_harness_defaults_are_the_deployed_mappings_and_queues() -> None:
    deployed = deployed_settings()
    stream = StreamSourceSettings()
    assert (stream.batch_size, stream.max_retries, stream.bisect_on_error, stream.max_record_age) == (
        deployed.stream_batch_size,
        deployed.stream_max_retries,
        deployed.stream_bisect_on_error,
        deployed.stream_max_record_age,
    )
    options = ResourceOptions()
    assert (options.max_receives, options.visibility_timeout) == (
        deployed.max_receives,
        deployed.visibility_timeout,
    )
    # The values themselves, so that a change of the template shows in review as a change here too.
    assert (deployed.stream_batch_size, deployed.stream_max_retries, deployed.stream_bisect_on_error) == (
        100,
        3,
        True,
    )
    assert (deployed.sqs_batch_size, deployed.max_receives, deployed.visibility_timeout) == (10, 5, 5400)


def test_a_value_changed_in_the_template_changes_what_the_harness_runs(rewritten: Rewrite) -> None:
    rewritten(
        with_default("StreamBatchSize", "7"),
        with_default("StreamMaximumRetryAttempts", "1"),
        with_default("StreamBisectBatchOnFunctionError", '"false"'),
        with_default("StreamMaximumRecordAgeInSeconds", "600"),
        with_default("QueueMaxReceiveCount", "9"),
        with_default("QueueVisibilityTimeout", "6000"),
        with_default("CompactionBatchSize", "25"),
    )
    assert StreamSourceSettings() == StreamSourceSettings(
        batch_size=7, max_retries=1, bisect_on_error=False, max_record_age=600
    )
    assert ResourceOptions() == ResourceOptions(max_receives=9, visibility_timeout=6000)
    assert deployed_settings().sqs_batch_size == 25  # QueueSource's default batch size


def test_the_handlers_read_every_variable_the_template_sets_with_the_same_lease() -> None:
    deployed = deployed_settings()
    source = Path(settings.__file__).read_text()
    for name in [*deployed.stream_environment, *deployed.compaction_environment]:
        assert f'"{name}"' in source, f"the template sets {name}, which no handler reads"
    region = {"AWS_REGION": "us-east-1"}  # Lambda sets it
    stream = StreamProcessorSettings.from_env({**deployed.stream_environment, **region})
    assert stream.failure_queue_url is not None  # records given up on by the handler reach the queue
    deployed_compaction = CompactionSettings.from_env({**deployed.compaction_environment, **region})
    handler_defaults = CompactionSettings.from_env(
        {"DYNAMODB_TABLE_NAME": "t", "CHROMADB_BUCKET": "b", **region}
    )
    # The harness runs the handler with its defaults: they must be what is deployed.
    assert (
        deployed_compaction.lease_seconds,
        deployed_compaction.lease_wait_margin_seconds,
        deployed_compaction.keep_versions,
    ) == (
        handler_defaults.lease_seconds,
        handler_defaults.lease_wait_margin_seconds,
        handler_defaults.keep_versions,
    )
    assert str(deployed_compaction.efs_root) == "/mnt/efs"  # the access point's mount path


# -- what keeps data safe ---------------------------------------------------------------------------------


def test_the_shipped_template_keeps_data_safe() -> None:
    deployed = deployed_settings()
    assert check_invariants(deployed) == []
    assert deployed.lease_seconds < deployed.compaction_timeout < deployed.visibility_timeout
    assert deployed.visibility_timeout >= 6 * deployed.compaction_timeout
    assert deployed.max_receives > lease_wait_receives(deployed) + 1
    assert deployed.max_receives * deployed.visibility_timeout <= deployed.message_retention
    assert deployed.reserved_concurrency == 2 * deployed.sqs_maximum_concurrency
    assert deployed.stream_reports_item_failures
    assert deployed.sqs_reports_item_failures == (True, True)
    assert deployed.stream_on_failure
    assert deployed.dead_letter_queues == 2
    assert deployed.bucket_encrypted
    assert deployed.bucket_public_access_blocked


@pytest.mark.parametrize(
    ("edits", "problem"),
    [
        pytest.param(
            [with_default("QueueVisibilityTimeout", "900")],
            "VisibilityTimeout (900) must be at least 6 x the compaction function's Timeout (900) = 5400",
            id="visibility-below-6x-timeout",
        ),
        pytest.param(
            [with_default("CompactionLeaseSeconds", "1200")],
            "COMPACTION_LEASE_SECONDS (1200) must be shorter than the compaction function's Timeout (900)",
            id="lease-longer-than-the-work-07-12",
        ),
        pytest.param(
            [with_default("QueueMaxReceiveCount", "3")],
            "maxReceiveCount (3) must be at least 5",
            id="too-few-receives-for-lease-waits",
        ),
        pytest.param(
            [with_default("CompactionMaximumConcurrency", '"5"'), with_default("QueueMaxReceiveCount", "5")],
            "maxReceiveCount (5) must be at least 8",
            id="more-contenders-need-more-receives",
        ),
        pytest.param(
            [with_default("QueueMessageRetentionSeconds", "3600")],
            "a poison message would expire silently",
            id="retention-shorter-than-the-receives",
        ),
        pytest.param(
            [with_default("CompactionLeaseWaitMarginSeconds", "900")],
            "COMPACTION_LEASE_WAIT_MARGIN_SECONDS (900) must be shorter than the function Timeout (900)",
            id="no-time-to-wait-for-a-lease",
        ),
        pytest.param(
            [replacing("            FunctionResponseTypes: [ReportBatchItemFailures]\n", "")],
            "every event source mapping must set FunctionResponseTypes: [ReportBatchItemFailures]",
            id="stream-mapping-without-item-failures",
        ),
        pytest.param(
            [
                replacing(
                    "            DestinationConfig:\n              OnFailure:\n"
                    "                Destination: !GetAtt StreamFailureQueue.Arn\n",
                    "",
                )
            ],
            "the stream mapping needs an on-failure destination",
            id="stream-without-on-failure",
        ),
        pytest.param(
            [replacing("        deadLetterTargetArn: !GetAtt WordsDeadLetterQueue.Arn\n", "")],
            "every collection queue needs a RedrivePolicy with a deadLetterTargetArn",
            id="queue-without-dlq",
        ),
        pytest.param(
            [replacing("RestrictPublicBuckets: true", "RestrictPublicBuckets: false")],
            "the snapshot bucket must be encrypted and block every kind of public access",
            id="bucket-not-private",
        ),
    ],
)
def test_a_hand_edit_that_would_lose_data_is_named(
    rewritten: Rewrite, edits: list[Callable[[str], str]], problem: str
) -> None:
    problems = check_invariants(rewritten(*edits))
    assert any(problem in line for line in problems), problems


# -- linters ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cfn_lint_passes_on_the_template() -> None:
    if shutil.which("cfn-lint") is None:
        pytest.skip("cfn-lint is not installed: pip install -e '.[dev]' (or pip install cfn-lint)")
    result = subprocess.run(["cfn-lint", str(TEMPLATE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


TRANSFORM = """
import json, sys
from cfnlint.decode import decode
from samtranslator.translator.transform import transform
template, matches = decode(sys.argv[1])
assert not matches, matches
template = json.loads(json.dumps(template))
for resource in template["Resources"].values():  # what `sam build` and `sam deploy` fill in
    if resource["Type"] == "AWS::Serverless::Function":
        if resource["Properties"].get("PackageType") == "Image":
            resource["Properties"]["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/rc:1"
        else:
            resource["Properties"]["CodeUri"] = "s3://bucket/stream-processor.zip"
class NoManagedPolicies:
    def load(self):
        return {}
with open(sys.argv[2], "w") as out:
    json.dump(transform(template, {}, NoManagedPolicies()), out, indent=1)
"""
"""Run by the SAM CLI's own Python (its samtranslator pins a pydantic this project's environment does not
use): the SAM transform of the template, offline, to CloudFormation JSON."""


@pytest.mark.slow
def test_cfn_lint_passes_on_the_cloudformation_the_sam_transform_makes(tmp_path: Path) -> None:
    """cfn-lint reads SAM resources shallowly; the transformed template has the event source mappings and
    functions as CloudFormation resources, whose every property cfn-lint checks."""
    if shutil.which("cfn-lint") is None:
        pytest.skip("cfn-lint is not installed: pip install -e '.[dev]' (or pip install cfn-lint)")
    python = Path(sam_executable()).with_name("python")
    if not python.exists():
        pytest.skip(
            f"no Python beside the SAM CLI ({python}): install aws-sam-cli into a virtual environment"
        )
    path = tmp_path / "cloudformation.json"
    environ = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}  # the pseudo parameters; no AWS call
    subprocess.run([str(python), "-c", TRANSFORM, str(TEMPLATE), str(path)], check=True, env=environ)
    cloudformation = json.loads(path.read_text())
    mappings = [
        resource["Properties"]
        for resource in cloudformation["Resources"].values()
        if resource["Type"] == "AWS::Lambda::EventSourceMapping"
    ]
    assert len(mappings) == 3
    assert all(m["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for m in mappings)
    result = subprocess.run(["cfn-lint", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# -- the README's section ---------------------------------------------------------------------------------


def readme_commands(tool: str) -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", SECTION, re.DOTALL)
    lines = [line for block in blocks for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith(f"{tool} ")]


def test_the_readme_parameter_table_is_the_template() -> None:
    rows = [line for line in SECTION.splitlines() if line.startswith("| `")]
    documented = [[cell.strip().strip("`") for cell in row.strip("|").split("|")][:2] for row in rows]
    parameters = load_template(TEMPLATE)["Parameters"]
    assert documented == [[name, str(spec.get("Default", "(none)"))] for name, spec in parameters.items()]


def test_the_readme_receipt_compaction_commands_parse() -> None:
    commands = readme_commands("receipt-compaction")
    assert len(commands) >= 2
    parser = cli._parser()  # the CLI's own parser: wrong usage would exit 2
    for command in commands:
        parser.parse_args(command[1:])


def test_the_readme_pytest_command_uses_declared_options() -> None:
    (command,) = readme_commands("pytest")
    declared = {option.cli: option for option in OPTIONS}
    assert command[:4] == ["pytest", "-p", "receipt_compaction", "scenarios"]
    for argument in command[4:]:
        flag, _, value = argument.partition("=")
        assert flag in declared, f"{flag} is not an option of the plugin"
        declared[flag].check(value, flag)  # a value outside the option's choices raises
    assert "--receipt-compaction-backend=aws" in command


def sam_executable() -> str:
    sam = os.environ.get("RECEIPT_COMPACTION_SAM") or shutil.which("sam")
    if sam is None:
        pytest.skip(
            "the SAM CLI is not installed: python3 -m venv /tmp/sam && /tmp/sam/bin/pip install aws-sam-cli, "
            "then RECEIPT_COMPACTION_SAM=/tmp/sam/bin/sam"
        )
    return sam


@pytest.mark.slow
def test_the_readme_sam_commands_use_flags_sam_accepts() -> None:
    sam = sam_executable()
    commands = readme_commands("sam")
    assert {" ".join(c[:2]) for c in commands} >= {"sam build", "sam deploy", "sam validate"}
    parameters = load_template(TEMPLATE)["Parameters"]
    environ = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    for command in commands:
        words = [word for word in command[1:] if not word.startswith("-")]
        subcommand = words[:2] if command[1] == "list" else words[:1]
        shown = subprocess.run(
            [sam, *subcommand, "--help"], capture_output=True, text=True, check=True, env=environ
        ).stdout
        for flag in (word.split("=", 1)[0] for word in command if word.startswith("--")):
            assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", shown), f"sam {subcommand} {flag}"
        if "--parameter-overrides" in command:
            overrides = command[command.index("--parameter-overrides") + 1 :]
            keys = [item.split("=", 1)[0] for item in overrides if not item.startswith("--")]
            assert keys
            assert set(keys) <= set(parameters)
