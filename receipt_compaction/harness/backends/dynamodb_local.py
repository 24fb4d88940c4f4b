"""DynamoDB Local (AWS's own emulator, a Java jar) for DynamoDB and its streams, with moto's server for SQS
and S3: one backend with two endpoints.

DynamoDB Local starts with ``-sharedDb``: it otherwise keeps one database per access key and region, and
the fixtures' clients and the handlers' would have to agree on both. ``-inMemory``: nothing outlives it.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from receipt_compaction.harness.backends.base import Backend, BackendUnavailable, ContextManagedExecutor
from receipt_compaction.harness.backends.moto import MotoServerExecutor
from receipt_compaction.harness.backends.processes import ServerProcess, free_port
from receipt_compaction.harness.installers.dynamodb_local import default_jar

__all__ = ["DynamoDBLocalExecutor", "find_java"]

INSTALL_HINT = (
    "run `receipt-compaction dynamodb-local install`, or pass --receipt-compaction-dynamodb-local-jar=PATH"
)


def find_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise BackendUnavailable(
            "backend 'dynamodb-local' needs Java 17 or newer and `java` is not on PATH: install a JDK "
            "(e.g. Debian's openjdk-17-jre-headless), or use --receipt-compaction-backend=moto"
        )
    return java


class DynamoDBLocalExecutor(ContextManagedExecutor):
    """DynamoDB Local on a free port, moto's server beside it; both stopped by ``stop``."""

    def __init__(self, *, region: str, jar: Path | None = None, start_timeout: float = 20.0) -> None:
        self.region = region
        self.jar = jar or default_jar()
        self.start_timeout = start_timeout
        self._server: ServerProcess | None = None
        self._moto = MotoServerExecutor(region=region, start_timeout=start_timeout)
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    def start(self) -> Backend:
        java = find_java()
        if not self.jar.is_file():
            raise BackendUnavailable(
                f"backend 'dynamodb-local' found no DynamoDB Local jar at {self.jar}: {INSTALL_HINT}"
            )
        port = free_port()
        self._scratch = tempfile.TemporaryDirectory(prefix="dynamodb-local-")
        server = ServerProcess(
            "DynamoDB Local",
            [
                java,
                f"-Djava.library.path={self.jar.parent / 'DynamoDBLocal_lib'}",
                "-jar",
                str(self.jar),
                "-inMemory",
                "-sharedDb",
                "-port",
                str(port),
            ],
            url=f"http://127.0.0.1:{port}",
            log=Path(self._scratch.name) / "dynamodb-local.log",
            cwd=self.jar.parent,
        )
        server.start(timeout=max(self.start_timeout, 30.0), hint=INSTALL_HINT)
        self._server = server
        try:
            moto = self._moto.start()
        except BackendUnavailable:
            self.stop()
            raise
        endpoint = f"http://127.0.0.1:{port}"
        return replace(
            moto,
            name="dynamodb-local",
            service_endpoints={"dynamodb": endpoint, "dynamodbstreams": endpoint},
        )

    def stop(self) -> None:
        self._moto.stop()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None
