"""The plugin's options, declared once each: CLI ``--receipt-compaction-X`` > ini ``receipt_compaction_X``
> environment ``RECEIPT_COMPACTION_X`` > default.

No pytest import here: the plugin module registers these with pytest's parser.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "DRAIN_TIMING",
    "OPTIONS",
    "DrainTiming",
    "HarnessSettings",
    "Option",
    "OptionError",
    "drain_timing",
    "resolve_settings",
]


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


@dataclass(frozen=True)
class DrainTiming:
    """How long a drain waits: ``quiet_period`` seconds without any record, message or handler call (on top
    of every shard answering several consecutive empty pages), and at most ``deadline`` seconds in all."""

    quiet_period: float
    deadline: float


DRAIN_TIMING: Mapping[str, DrainTiming] = {
    # Measured on moto and DynamoDB Local: every record was returned by the first GetRecords after its write
    # returned (200 of 200 writes on each), so the consecutive empty pages alone settle a drain there.
    "moto": DrainTiming(quiet_period=0.0, deadline=120.0),
    "dynamodb-local": DrainTiming(quiet_period=0.0, deadline=120.0),
    # LocalStack's default streams provider forwards records to a Kinesis mock through a thread pool, so they
    # arrive after the write returns; its 'v2' provider serves DynamoDB Local's streams, synchronously. AWS
    # delivers records after the write too. Not measured here: a quiet period covers the gap, the option
    # changes it; the deadlines leave room for slower services.
    "localstack": DrainTiming(quiet_period=1.0, deadline=300.0),
    "localstack/v2": DrainTiming(quiet_period=0.0, deadline=300.0),
    "aws": DrainTiming(quiet_period=5.0, deadline=600.0),
}
"""The drain timing of each backend when the options do not set it."""


def drain_timing(backend: str) -> DrainTiming:
    """The default drain timing of ``backend`` (an unknown name gets the slowest, AWS's)."""
    return DRAIN_TIMING.get(backend, DRAIN_TIMING["aws"])


def _timing_help(field: str) -> str:
    values = ", ".join(f"{name} {getattr(timing, field):g}" for name, timing in DRAIN_TIMING.items())
    return f"{values} (localstack/v2: a LocalStack the plugin starts with localstack-streams v2)"


OPTIONS: tuple[Option, ...] = (
    Option(
        "backend",
        "which AWS endpoints the fixtures use: 'moto' runs moto's server in-process on 127.0.0.1; "
        "'dynamodb-local' runs AWS's DynamoDB Local (Java) for DynamoDB and Streams with moto for SQS and "
        "S3; "
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
        "trace",
        "a directory where every test that drains writes its timeline: a self-contained HTML page of "
        "swimlanes ({test}.html, no network needed) and the same data as JSON beside it ({test}.json)",
        None,
    ),
    Option(
        "start-timeout",
        "seconds to wait for the backend to start or answer before the tests that need it are skipped",
        "20",
    ),
    Option(
        "quiet-period",
        "seconds without any stream record, message or handler call before a drain ends (every shard must "
        "also answer several consecutive empty pages); records reach the stream later on LocalStack and AWS "
        f"than on the emulators. Default per backend: {_timing_help('quiet_period')}",
        None,
    ),
    Option(
        "drain-deadline",
        "seconds after which a drain stops with an error naming what is still in flight (records pending "
        f"per shard, messages per queue). Default per backend: {_timing_help('deadline')}",
        None,
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
    quiet_period: float | None = None
    """None: the backend's default (``DRAIN_TIMING``)."""
    drain_deadline: float | None = None
    """None: the backend's default (``DRAIN_TIMING``)."""
    trace_dir: str | None = None
    """Where each test writes its drains' timelines (HTML and JSON); None: nowhere."""

    def drain_timing(self) -> DrainTiming:
        """The drain timing to give ``LocalPipeline``: the options where set, else the backend's default."""
        started_v2 = (
            self.backend == "localstack" and self.endpoint is None and self.localstack_streams == "v2"
        )
        default = drain_timing("localstack/v2" if started_v2 else self.backend)
        return DrainTiming(
            quiet_period=default.quiet_period if self.quiet_period is None else self.quiet_period,
            deadline=default.deadline if self.drain_deadline is None else self.drain_deadline,
        )


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
        start_timeout=_seconds(timeout, option="start-timeout"),
        keep_artifacts=values["keep_artifacts"] in ("true", "1", "yes"),
        dynamodb_endpoint=values["dynamodb_endpoint"],
        dynamodb_local_jar=values["dynamodb_local_jar"],
        localstack_streams=values["localstack_streams"] or "default",
        quiet_period=_optional_seconds(values["quiet_period"], option="quiet-period", zero_allowed=True),
        drain_deadline=_optional_seconds(values["drain_deadline"], option="drain-deadline"),
        trace_dir=values["trace"],
    )


def _optional_seconds(value: str | None, *, option: str, zero_allowed: bool = False) -> float | None:
    return None if value is None else _seconds(value, option=option, zero_allowed=zero_allowed)


def _seconds(value: str, *, option: str, zero_allowed: bool = False) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if zero_allowed and seconds >= 0 and seconds != float("inf"):
        return seconds
    if not 0 < seconds < float("inf"):
        wanted = "a number of seconds, 0 or more" if zero_allowed else "a positive number of seconds"
        raise OptionError(f"{option} is {value!r}; it must be {wanted}")
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
