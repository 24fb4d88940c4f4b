"""LocalStack started on the host (no Docker) from the runtime ``receipt-compaction localstack install``
prepares: its own virtual environment, with DynamoDB Local, Java and kinesis-local where LocalStack looks.

Each start gets a private ``FILESYSTEM_ROOT`` (the prepared ``var/lib/localstack/lib`` linked into it) and
``HOME``, a free port, and an environment of its own (nothing of the shell's AWS or LocalStack settings leaks
in). LocalStack starts DynamoDB Local (Java) and kinesis-local (Node) in sessions of their own, so stopping
LocalStack's process group is not enough: every process started carries a run token in its environment, and
``stop`` ends whatever still carries it.

Stream providers: ``default`` is what users of the LocalStack image get (each table's stream is backed by a
Kinesis mock; records are forwarded asynchronously, and records written while a new stream is still ENABLING
are dropped: wait for ENABLED). ``v2`` (``PROVIDER_OVERRIDE_DYNAMODBSTREAMS=v2``) serves DynamoDB Local's own
streams, synchronously.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args
from urllib.parse import urlsplit

from receipt_compaction.aws import CLIENT_CONFIG, AwsClients
from receipt_compaction.harness.backends.base import Backend, BackendUnavailable, ContextManagedExecutor
from receipt_compaction.harness.backends.processes import ServerProcess, free_port
from receipt_compaction.harness.installers.localstack import find_localstack_runtime, runtime_dir

if TYPE_CHECKING:
    from localstack_client.session import Session  # type: ignore[import-untyped]

    from receipt_compaction.harness.installers.localstack import LocalStackRuntime

__all__ = [
    "INSTALL_HINT",
    "LocalStackHostExecutor",
    "StreamProvider",
    "localstack_clients",
    "localstack_endpoint",
    "localstack_session",
    "run_processes",
]

StreamProvider = Literal["default", "v2"]

INSTALL_HINT = "run `receipt-compaction localstack install` (once; it prepares LocalStack without Docker)"

SERVICES = "dynamodb,dynamodbstreams,sqs,s3"
RUN_TOKEN = "RECEIPT_COMPACTION_LOCALSTACK_RUN"
"""Set in LocalStack's environment; its children inherit it, so ``stop`` finds them all."""

_KEPT_VARIABLES = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME")


class LocalStackHostExecutor(ContextManagedExecutor):
    """LocalStack on a free port from a prepared runtime; ``stop`` ends it and every process it started."""

    def __init__(
        self,
        *,
        region: str,
        stream_provider: StreamProvider = "default",
        start_timeout: float = 60.0,
        runtime: LocalStackRuntime | None = None,
    ) -> None:
        if stream_provider not in get_args(StreamProvider):
            raise ValueError(f"unknown LocalStack stream provider {stream_provider!r}: use 'default' or 'v2'")
        self.region = region
        self.stream_provider = stream_provider
        self.start_timeout = start_timeout
        self.runtime = runtime
        self._server: ServerProcess | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._log: Path | None = None
        self._token = ""

    def start(self) -> Backend:
        runtime = self._prepared_runtime()
        self._scratch = tempfile.TemporaryDirectory(prefix="localstack-host-")
        scratch = Path(self._scratch.name)
        port, self._token = free_port(), uuid.uuid4().hex
        endpoint = f"http://127.0.0.1:{port}"
        # outside the scratch directory: kept when the start fails, so the error can point at it
        self._log = Path(tempfile.gettempdir()) / f"receipt-compaction-localstack-{port}.log"
        self._server = ServerProcess(
            "LocalStack",
            [str(runtime.python), "-m", "localstack.runtime.main"],
            url=f"{endpoint}/_localstack/health",
            log=self._log,
            env=self._environ(runtime, scratch=scratch, port=port),
            cwd=scratch,
        )
        atexit.register(self.stop)  # never left running, even when the caller forgets
        try:
            self._server.start(timeout=self.start_timeout, hint=f"its log is {self._log}")
            backend = Backend(
                name="localstack",
                endpoint_url=endpoint,
                region=self.region,
                access_key_id="test",
                secret_access_key="test",
            )
            self._warm_up(backend)
        except BaseException:
            self._stop(keep_log=True)
            raise
        return backend

    def stop(self) -> None:
        """End LocalStack (SIGTERM: it stops its children), then anything that still carries the run token."""
        self._stop(keep_log=False)

    def _stop(self, *, keep_log: bool) -> None:
        atexit.unregister(self.stop)
        server, self._server = self._server, None
        started = self.processes()
        if server is not None:
            server.stop()
        if self._token:
            _end_processes(self._token)
            self._token = ""
        _wait_gone(started)
        if self._log is not None and not keep_log:
            self._log.unlink(missing_ok=True)
        self._log = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def processes(self) -> list[int]:
        """The running processes this start owns: LocalStack, its DynamoDB Local JVM, kinesis-local."""
        return run_processes(self._token) if self._token else []

    def _prepared_runtime(self) -> LocalStackRuntime:
        runtime = self.runtime or find_localstack_runtime()
        if runtime is None:
            raise BackendUnavailable(
                f"backend 'localstack' found no Docker engine and no LocalStack runtime in {runtime_dir()}: "
                f"{INSTALL_HINT}, or pass --receipt-compaction-endpoint=URL of a LocalStack you run"
            )
        if missing := runtime.missing():
            raise BackendUnavailable(
                f"the LocalStack runtime lacks {missing[0]}: run `receipt-compaction localstack install`"
            )
        if self.stream_provider == "default" and shutil.which("node") is None:
            raise BackendUnavailable(
                "LocalStack's default DynamoDB Streams provider runs kinesis-local on Node.js and `node` is "
                "not on PATH: install Node.js, or choose the 'v2' stream provider"
            )
        return runtime

    def _environ(self, runtime: LocalStackRuntime, *, scratch: Path, port: int) -> dict[str, str]:
        """A private root (the prepared packages linked in), a private HOME, and nothing else inherited than
        the basics: a shell's AWS_* or LocalStack settings (DEBUG, PERSISTENCE, ...) must not change it."""
        root, home = scratch / "filesystem", scratch / "home"
        lib = root / runtime.lib_dir.relative_to(runtime.filesystem_root)
        lib.parent.mkdir(parents=True)
        lib.symlink_to(runtime.lib_dir, target_is_directory=True)
        home.mkdir()
        environ = {name: os.environ[name] for name in _KEPT_VARIABLES if name in os.environ}
        environ |= {
            "HOME": str(home),
            "FILESYSTEM_ROOT": str(root),
            "OVERRIDE_IN_DOCKER": "0",  # it sees /.dockerenv on some hosts otherwise
            "DNS_ADDRESS": "0",  # no DNS server: as root it would bind port 53 on every interface
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "SERVICES": SERVICES,
            "DYNAMODB_IN_MEMORY": "1",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",
            "LOCALSTACK_TELEMETRY": "0",
            RUN_TOKEN: self._token,
        }
        if self.stream_provider == "v2":
            environ["PROVIDER_OVERRIDE_DYNAMODBSTREAMS"] = "v2"
        return environ

    def _warm_up(self, backend: Backend) -> None:
        """LocalStack starts DynamoDB Local on the first DynamoDB call (several seconds): make that call here,
        so start-up costs are paid (and start-up failures reported) at start, not in the first test."""
        clients = AwsClients.connect(**backend.client_kwargs())
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                clients.dynamodb.list_tables(Limit=1)
                clients.dynamodbstreams.list_streams(Limit=1)
                return
            except Exception as error:  # botocore raises several kinds while DynamoDB Local starts
                if time.monotonic() > deadline:
                    raise BackendUnavailable(
                        f"LocalStack at {backend.endpoint_url} answered but its DynamoDB did not within "
                        f"{self.start_timeout:.0f} s ({type(error).__name__}: {str(error)[:150]}): "
                        f"see {self._log}, or run `receipt-compaction localstack install` again"
                    ) from None
                time.sleep(0.5)


def run_processes(token: str) -> list[int]:
    """The processes whose environment carries ``token`` (LocalStack and everything it started)."""
    needle = f"{RUN_TOKEN}={token}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours
            continue
        if needle in environ + b"\0":
            found.append(int(entry.name))
    return found


def _end_processes(token: str) -> None:
    """SIGTERM, then SIGKILL after 5 s, to every process left with the token (orphans of a killed parent)."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        pids = run_processes(token)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and run_processes(token):
            time.sleep(0.1)


def _wait_gone(pids: list[int], *, timeout: float = 5.0) -> None:
    """Until the processes are gone from /proc: a child that outlived LocalStack stays a zombie until init
    reaps it, and would still show in ``pgrep``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
        time.sleep(0.1)


def localstack_endpoint(localstack_host: str | None = None) -> str:
    """The endpoint a LocalStack user's own settings name, as ``localstack-client`` resolves it:
    ``AWS_ENDPOINT_URL`` if set, else ``localstack_host`` or ``$LOCALSTACK_HOST`` (``host[:port]``, default
    ``localhost:4566``), with https when ``USE_SSL`` is set."""
    from localstack_client.config import (  # type: ignore[import-untyped]  # noqa: PLC0415 - optional
        get_service_endpoint,
    )

    endpoint: str | None = get_service_endpoint("dynamodb", localstack_host=localstack_host)
    if endpoint is None:  # localstack-client knows every service the pipeline uses
        raise BackendUnavailable("localstack-client has no endpoint for dynamodb: upgrade localstack-client")
    return endpoint


def localstack_session(backend: Backend) -> Session:
    """A ``localstack-client`` session bound to ``backend`` (fails, naming both, when ``AWS_ENDPOINT_URL``
    in the environment would send it elsewhere: localstack-client lets that variable win)."""
    from localstack_client.session import Session  # noqa: PLC0415 - optional dependency

    if backend.endpoint_url is None:
        raise BackendUnavailable(f"backend {backend.name!r} has no endpoint: it is not a LocalStack")
    parts = urlsplit(backend.endpoint_url)
    host = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    resolved = localstack_endpoint(host)
    if resolved.rstrip("/") != backend.endpoint_url.rstrip("/"):
        raise BackendUnavailable(
            f"localstack-client resolves {resolved} but LocalStack runs at {backend.endpoint_url}: "
            "unset AWS_ENDPOINT_URL (it wins over LOCALSTACK_HOST) or point it at the same address"
        )
    return Session(
        aws_access_key_id=backend.access_key_id or "test",
        aws_secret_access_key=backend.secret_access_key or "test",
        region_name=backend.region,
        localstack_host=host,
    )


def localstack_clients(backend: Backend) -> AwsClients:
    """The pipeline's four clients for a LocalStack ``backend``, built by ``localstack-client``."""
    session = localstack_session(backend)
    return AwsClients(
        dynamodb=session.client("dynamodb", config=CLIENT_CONFIG),
        dynamodbstreams=session.client("dynamodbstreams", config=CLIENT_CONFIG),
        sqs=session.client("sqs", config=CLIENT_CONFIG),
        s3=session.client("s3", config=CLIENT_CONFIG),
    )
