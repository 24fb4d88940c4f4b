"""What can go wrong with a snapshot, as exceptions, and the S3 error code a ClientError carries."""

from __future__ import annotations

from botocore.exceptions import ClientError

__all__ = ["SnapshotConflict", "SnapshotError", "SnapshotIntegrityError", "error_code"]


class SnapshotError(RuntimeError):
    """A snapshot could not be published or restored."""


class SnapshotConflict(SnapshotError):
    """Another writer moved the pointer first, or this writer no longer holds the lease; retry."""


class SnapshotIntegrityError(SnapshotError):
    """A stored file does not match its manifest."""


def error_code(error: ClientError) -> str:
    """The error code S3 answered (``NoSuchKey``, ``PreconditionFailed``, ``404``...)."""
    return str(error.response.get("Error", {}).get("Code", ""))
