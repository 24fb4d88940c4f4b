"""The deployed settings, read from the SAM template (``deploy/template.yaml``): one source of truth.

The harness emulates AWS's event source mappings and queues; a test that passes with settings nobody deploys
proves little (upstream's 07-12 outage came from a lease shorter than the work, a setting no test saw). So
the harness's defaults (``StreamSourceSettings``, ``QueueSource``, ``ResourceOptions``) are read from the
template, with its parameters at their defaults, and ``check_invariants`` names every setting that would let
data be lost or delayed for ever.

The template ships inside the package as ``receipt_compaction/harness/template.yaml``: in a checkout a
symbolic link to ``deploy/template.yaml`` (one file to edit), in a wheel a copy of it, so an installed
harness needs no checkout. ``RECEIPT_COMPACTION_TEMPLATE`` points at another template, e.g. a copy with the
parameter defaults of a real stack.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "TEMPLATE_VARIABLE",
    "DeployedSettings",
    "DeploymentError",
    "check_invariants",
    "deployed_settings",
    "load_template",
    "read_deployed_settings",
    "template_path",
]

TEMPLATE_VARIABLE = "RECEIPT_COMPACTION_TEMPLATE"
TRANSIENT_RECEIVES = 2
"""Receives a message may spend on transient failures (a throttled S3 call, a crashed invocation) on top of
those lease waits spend, before it may move to the DLQ."""


class DeploymentError(ValueError):
    """The template cannot be read, lacks a setting, or its settings would lose data; the message says which
    resource or parameter, and what to change."""


@dataclass(frozen=True)
class DeployedSettings:
    """What the deployed event source mappings, queues and functions do, as the harness must emulate it."""

    stream_batch_size: int
    stream_bisect_on_error: bool
    stream_max_retries: int
    stream_max_record_age: int
    """``MaximumRecordAgeInSeconds`` (-1: no limit)."""
    stream_reports_item_failures: bool
    stream_on_failure: bool
    sqs_batch_size: int
    sqs_reports_item_failures: tuple[bool, ...]
    """One per SQS mapping of the compaction function."""
    sqs_maximum_concurrency: int
    reserved_concurrency: int
    max_receives: int
    visibility_timeout: int
    message_retention: int
    dead_letter_queues: int
    compaction_timeout: int
    lease_seconds: float
    lease_wait_margin_seconds: float
    keep_versions: int
    compaction_environment: Mapping[str, str]
    stream_environment: Mapping[str, str]
    bucket_encrypted: bool
    bucket_public_access_blocked: bool


# -- reading the template ------------------------------------------------------------------------------------


class _CloudFormationLoader(yaml.SafeLoader):
    """A YAML loader that reads CloudFormation's short tags (``!Ref X``) as their long form (``{Ref: X}``)."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _tag)


def template_path() -> Path:
    """``RECEIPT_COMPACTION_TEMPLATE`` if set, else the template shipped in the package."""
    configured = os.environ.get(TEMPLATE_VARIABLE, "").strip()
    if configured:
        return Path(configured)
    return Path(__file__).with_name("template.yaml")


def load_template(path: Path) -> dict[str, Any]:
    try:
        template = yaml.load(path.read_text(), Loader=_CloudFormationLoader)
    except (OSError, yaml.YAMLError) as error:
        raise DeploymentError(f"cannot read the deployment template {path}: {error}") from error
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise DeploymentError(f"{path} is not a CloudFormation template: it has no Resources mapping")
    return template


class _Resolver:
    """Evaluates the intrinsic functions a setting may use, with every parameter at its default."""

    def __init__(self, template: Mapping[str, Any], path: Path) -> None:
        self.template = template
        self.path = path
        self.parameters = {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}

    def value(self, node: Any) -> Any:  # noqa: PLR0911 - one return per intrinsic function
        if isinstance(node, list):
            return [self.value(item) for item in node if not _is_no_value(item)]
        if not isinstance(node, dict) or len(node) != 1:
            return node
        ((function, argument),) = node.items()
        if function == "Ref":
            return self._ref(argument)
        if function == "Fn::If":
            condition, when_true, when_false = argument
            return self.value(when_true if self.condition(condition) else when_false)
        if function == "Fn::FindInMap":
            mapping, first, second = (self.value(part) for part in argument)
            return self.template["Mappings"][mapping][str(first)][second]
        if function == "Fn::Equals":
            return str(self.value(argument[0])) == str(self.value(argument[1]))
        if function == "Fn::Sub":
            text = argument if isinstance(argument, str) else argument[0]
            for name, default in self.parameters.items():
                text = text.replace("${" + name + "}", str(default))
            return text
        return {function: argument}  # an attribute known only once deployed (Fn::GetAtt, ...)

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template.get("Conditions", {})[name]))

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return None
        if name in self.parameters:
            default = self.parameters[name]
            if default is None:
                return {"Ref": name}  # a parameter with no default (subnets): known only once deployed
            return default
        return {"Ref": name}  # a resource: its name or URL, known only once deployed


def _is_no_value(node: Any) -> bool:
    return isinstance(node, dict) and node.get("Ref") == "AWS::NoValue"


# -- what the harness needs ---------------------------------------------------------------------------------


@cache
def deployed_settings() -> DeployedSettings:
    """The settings of the template the harness uses (``template_path()``), read once per process."""
    return read_deployed_settings(template_path())


def read_deployed_settings(path: Path) -> DeployedSettings:
    """Read the event source, queue, function and bucket settings of the template at ``path``."""
    template = load_template(path)
    resolve = _Resolver(template, path)
    resources: Mapping[str, Any] = template["Resources"]
    stream_function, stream_event = _function_with_event(resources, "DynamoDB", path)
    compaction_function, _ = _function_with_event(resources, "SQS", path)
    sqs_events = [
        event["Properties"]
        for event in compaction_function["Properties"].get("Events", {}).values()
        if event.get("Type") == "SQS"
    ]
    stream = stream_event["Properties"]
    collection_queues = [resources[_queue_name(event["Queue"], path)]["Properties"] for event in sqs_events]
    redrives = [queue.get("RedrivePolicy") for queue in collection_queues]
    bucket = _one_resource(resources, "AWS::S3::Bucket", path)["Properties"]
    compaction_env = _environment(compaction_function, resolve)
    return DeployedSettings(
        stream_batch_size=_int(resolve.value(stream.get("BatchSize", 100)), "stream BatchSize", path),
        stream_bisect_on_error=_bool(resolve.value(stream.get("BisectBatchOnFunctionError", False))),
        stream_max_retries=_int(resolve.value(stream.get("MaximumRetryAttempts", -1)), "retries", path),
        stream_max_record_age=_int(resolve.value(stream.get("MaximumRecordAgeInSeconds", -1)), "age", path),
        stream_reports_item_failures="ReportBatchItemFailures" in stream.get("FunctionResponseTypes", []),
        stream_on_failure=bool(stream.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")),
        sqs_batch_size=_same(
            [_int(resolve.value(e.get("BatchSize", 10)), "SQS BatchSize", path) for e in sqs_events],
            "BatchSize of the SQS mappings",
            path,
        ),
        sqs_reports_item_failures=tuple(
            "ReportBatchItemFailures" in e.get("FunctionResponseTypes", []) for e in sqs_events
        ),
        sqs_maximum_concurrency=_same(
            [
                _int(resolve.value(e.get("ScalingConfig", {}).get("MaximumConcurrency", 1000)), "conc.", path)
                for e in sqs_events
            ],
            "ScalingConfig.MaximumConcurrency of the SQS mappings",
            path,
        ),
        reserved_concurrency=_int(
            resolve.value(compaction_function["Properties"].get("ReservedConcurrentExecutions", -1)),
            "ReservedConcurrentExecutions",
            path,
        ),
        max_receives=_same(
            [
                _int(resolve.value((r or {}).get("maxReceiveCount", 0)), "maxReceiveCount", path)
                for r in redrives
            ],
            "maxReceiveCount of the collection queues",
            path,
        ),
        visibility_timeout=_same(
            [
                _int(resolve.value(q.get("VisibilityTimeout", 30)), "VisibilityTimeout", path)
                for q in collection_queues
            ],
            "VisibilityTimeout of the collection queues",
            path,
        ),
        message_retention=_same(
            [
                _int(resolve.value(q.get("MessageRetentionPeriod", 345600)), "retention", path)
                for q in collection_queues
            ],
            "MessageRetentionPeriod of the collection queues",
            path,
        ),
        dead_letter_queues=sum(bool((r or {}).get("deadLetterTargetArn")) for r in redrives),
        compaction_timeout=_int(
            resolve.value(compaction_function["Properties"].get("Timeout", 3)), "Timeout", path
        ),
        lease_seconds=float(compaction_env.get("COMPACTION_LEASE_SECONDS", "120")),
        lease_wait_margin_seconds=float(compaction_env.get("COMPACTION_LEASE_WAIT_MARGIN_SECONDS", "60")),
        keep_versions=int(compaction_env.get("COMPACTION_KEEP_VERSIONS", "4")),
        compaction_environment=compaction_env,
        stream_environment=_environment(stream_function, resolve),
        bucket_encrypted=bool(bucket.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration")),
        bucket_public_access_blocked=all(
            bucket.get("PublicAccessBlockConfiguration", {}).get(flag) is True
            for flag in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        ),
    )


def _function_with_event(
    resources: Mapping[str, Any], event_type: str, path: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    for resource in resources.values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") == event_type:
                return resource, event
    raise DeploymentError(f"{path}: no AWS::Serverless::Function has a {event_type} event (its event source)")


def _one_resource(resources: Mapping[str, Any], resource_type: str, path: Path) -> dict[str, Any]:
    found: list[dict[str, Any]] = [r for r in resources.values() if r.get("Type") == resource_type]
    if len(found) != 1:
        raise DeploymentError(f"{path}: expected one {resource_type}, found {len(found)}")
    return found[0]


def _queue_name(reference: Any, path: Path) -> str:
    if isinstance(reference, dict) and "Fn::GetAtt" in reference:
        return str(reference["Fn::GetAtt"][0])
    raise DeploymentError(
        f"{path}: an SQS event's Queue must be !GetAtt QUEUE.Arn of a queue in the template"
    )


def _environment(function: Mapping[str, Any], resolve: _Resolver) -> dict[str, str]:
    variables = function.get("Properties", {}).get("Environment", {}).get("Variables", {})
    resolved = {name: resolve.value(value) for name, value in variables.items()}
    return {name: value if isinstance(value, str) else _render(value) for name, value in resolved.items()}


def _render(value: Any) -> str:
    """A resolved value as the environment would hold it (a number as text; a deploy-time value by name)."""
    if isinstance(value, dict):
        ((function, argument),) = value.items()
        return f"<{function} {argument}>"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _int(value: Any, what: str, path: Path) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DeploymentError(
            f"{path}: {what} is {value!r}, not a number (give its parameter a Default)"
        ) from None


def _bool(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _same(values: list[int], what: str, path: Path) -> int:
    if not values or len(set(values)) != 1:
        raise DeploymentError(f"{path}: the {what} differ ({values}); the harness runs one value for both")
    return values[0]


# -- what keeps data safe -----------------------------------------------------------------------------------


def lease_wait_receives(settings: DeployedSettings) -> int:
    """Receives that lease waits can spend before a message gets its turn. An invocation waits for a busy
    lease until the function's remaining time is down to the margin, and spends a receive only when the lease
    stayed busy that whole window: behind up to ``MaximumConcurrency - 1`` contenders of the same queue, and a
    dead holder's lease that runs ``lease_seconds`` before it expires."""
    window = settings.compaction_timeout - settings.lease_wait_margin_seconds
    if window <= 0:
        return settings.max_receives + 1  # every receive could be spent waiting: nothing is enough
    return (settings.sqs_maximum_concurrency - 1) + math.ceil(settings.lease_seconds / window)


def check_invariants(settings: DeployedSettings) -> list[str]:
    """Every way the settings could lose, stall or silently drop work; empty when there is none."""
    problems: list[str] = []
    timeout, visibility = settings.compaction_timeout, settings.visibility_timeout
    if not settings.lease_seconds < timeout:
        problems.append(
            f"COMPACTION_LEASE_SECONDS ({settings.lease_seconds:g}) must be shorter than the compaction "
            f"function's Timeout ({timeout}): a dead holder's lease must run out within one invocation"
        )
    if not settings.lease_wait_margin_seconds < timeout:
        problems.append(
            f"COMPACTION_LEASE_WAIT_MARGIN_SECONDS ({settings.lease_wait_margin_seconds:g}) must be shorter "
            f"than the function Timeout ({timeout}), or no invocation ever waits for a busy lease"
        )
    if visibility < 6 * timeout:
        problems.append(
            f"the collection queues' VisibilityTimeout ({visibility}) must be at least 6 x the "
            f"compaction function's Timeout ({timeout}) = {6 * timeout}, as AWS advises for SQS event "
            "sources: a message must not come back while an invocation still works on it"
        )
    needed = lease_wait_receives(settings) + 1 + TRANSIENT_RECEIVES
    if settings.max_receives < needed:
        problems.append(
            f"maxReceiveCount ({settings.max_receives}) must be at least {needed}: lease waits can spend "
            f"{lease_wait_receives(settings)} receives, one receive must succeed, and {TRANSIENT_RECEIVES} "
            "allow transient failures; fewer sends good messages to the DLQ"
        )
    if settings.max_receives * visibility > settings.message_retention:
        problems.append(
            f"maxReceiveCount x VisibilityTimeout ({settings.max_receives} x {visibility}) exceeds the "
            f"queues' MessageRetentionPeriod ({settings.message_retention}): a poison message would "
            "expire silently instead of reaching its DLQ"
        )
    if settings.reserved_concurrency < 2 * settings.sqs_maximum_concurrency:
        problems.append(
            f"ReservedConcurrentExecutions ({settings.reserved_concurrency}) must cover both queues' "
            f"MaximumConcurrency (2 x {settings.sqs_maximum_concurrency}): a throttled poll spends a receive"
        )
    if not settings.stream_reports_item_failures or not all(settings.sqs_reports_item_failures):
        problems.append(
            "every event source mapping must set FunctionResponseTypes: [ReportBatchItemFailures]"
        )
    if not settings.stream_on_failure:
        problems.append("the stream mapping needs an on-failure destination: records must never vanish")
    if settings.dead_letter_queues != len(settings.sqs_reports_item_failures):
        problems.append("every collection queue needs a RedrivePolicy with a deadLetterTargetArn")
    if not settings.bucket_encrypted or not settings.bucket_public_access_blocked:
        problems.append("the snapshot bucket must be encrypted and block every kind of public access")
    return problems
