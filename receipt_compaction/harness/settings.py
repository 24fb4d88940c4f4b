"""The plugin's options, declared once each: CLI ``--receipt-compaction-X`` > ini ``receipt_compaction_X``
> environment ``RECEIPT_COMPACTION_X`` > default.

No pytest import here: the plugin module registers these with pytest's parser.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["OPTIONS", "HarnessSettings", "Option", "OptionError", "resolve_settings"]


class OptionError(ValueError):
    """An option value that is not allowed; the message names where it came from."""


@dataclass(frozen=True)
class Option:
    name: str
    help: str
    default: str | None
    choices: tuple[str, ...] = ()

    @property
    def cli(self) -> str:
        return f"--receipt-compaction-{self.name}"

    @property
    def dest(self) -> str:
        return f"receipt_compaction_{self.name.replace('-', '_')}"

    @property
    def ini(self) -> str:
        return self.dest

    @property
    def env(self) -> str:
        return self.dest.upper()

    def check(self, value: str, source: str) -> str:
        if self.choices and value not in self.choices:
            allowed = ", ".join(self.choices)
            raise OptionError(f"{source} is {value!r}; it must be one of: {allowed}")
        return value


OPTIONS: tuple[Option, ...] = (
    Option(
        "backend",
        "which AWS endpoints the fixtures use: 'moto' runs moto's server in-process on 127.0.0.1; "
        "'dynamodb-local' runs AWS's DynamoDB Local (Java) for DynamoDB and Streams with moto for SQS and S3; "
        "'localstack' uses a Docker engine when one answers, else LocalStack on the host (prepared by "
        "`receipt-compaction localstack install`); 'aws' uses your real account",
        "moto",
        ("moto", "dynamodb-local", "localstack", "aws"),
    ),
    Option(
        "endpoint",
        "URL of an AWS-compatible endpoint that is already running (LocalStack, a moto server); "
        "when set, the fixtures use it instead of starting a backend",
        None,
    ),
    Option(
        "dynamodb-endpoint",
        "URL of a DynamoDB (and DynamoDB Streams) endpoint already running, e.g. DynamoDB Local; the other "
        "services stay on the backend's endpoint",
        None,
    ),
    Option(
        "dynamodb-local-jar",
        "the DynamoDBLocal.jar the 'dynamodb-local' backend runs (DynamoDBLocal_lib/ beside it); "
        "default: the one `receipt-compaction dynamodb-local install` puts in the per-user cache",
        None,
    ),
    Option(
        "localstack-streams",
        "the DynamoDB Streams provider of a LocalStack the plugin starts: 'default' is LocalStack's own "
        "(Kinesis-backed, records arrive asynchronously), 'v2' serves DynamoDB Local's streams",
        "default",
        ("default", "v2"),
    ),
    Option("region", "AWS region of the clients and resources", "us-east-1"),
    Option(
        "keep-artifacts",
        "after a failed test, keep its Chroma directories and write its drain reports as JSON beside them",
        "false",
        ("true", "false", "1", "0", "yes", "no"),
    ),
    Option(
        "start-timeout",
        "seconds to wait for the backend to start or answer before the tests that need it are skipped",
        "20",
    ),
)


@dataclass(frozen=True)
class HarnessSettings:
    backend: str
    endpoint: str | None
    region: str
    start_timeout: float
    keep_artifacts: bool = False
    dynamodb_endpoint: str | None = None
    dynamodb_local_jar: str | None = None
    localstack_streams: str = "default"


def resolve_settings(
    cli: Callable[[str], object],
    ini: Callable[[str], object],
    environ: Mapping[str, str] | None = None,
) -> HarnessSettings:
    """Resolve every option; ``cli(dest)`` and ``ini(name)`` return None (or "" for ini) when unset."""
    env = os.environ if environ is None else environ
    values = {option.name.replace("-", "_"): _resolve(option, cli, ini, env) for option in OPTIONS}
    backend, region, timeout = values["backend"], values["region"], values["start_timeout"]
    assert backend is not None  # these have defaults
    assert region is not None
    assert timeout is not None
    return HarnessSettings(
        backend=backend,
        endpoint=values["endpoint"],
        region=region,
        start_timeout=_seconds(timeout),
        keep_artifacts=values["keep_artifacts"] in ("true", "1", "yes"),
        dynamodb_endpoint=values["dynamodb_endpoint"],
        dynamodb_local_jar=values["dynamodb_local_jar"],
        localstack_streams=values["localstack_streams"] or "default",
    )


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise OptionError(f"start-timeout is {value!r}; it must be a positive number of seconds")
    return seconds


def _resolve(
    option: Option, cli: Callable[[str], object], ini: Callable[[str], object], env: Mapping[str, str]
) -> str | None:
    # Compare with None (and "" for ini, which pytest returns for an unset string): `a or b` would lose
    # a deliberate value that happens to be falsy.
    from_cli = cli(option.dest)
    if from_cli is not None:
        return option.check(str(from_cli), option.cli)
    from_ini = ini(option.ini)
    if from_ini is not None and from_ini != "":
        return option.check(str(from_ini), f"ini option {option.ini}")
    from_env = env.get(option.env)
    if from_env is not None and from_env != "":
        return option.check(from_env, f"environment variable {option.env}")
    return option.default
