"""Snapshots: versioned, content-addressed copies of a collection in S3, and the local EFS cache."""

from __future__ import annotations

from receipt_compaction.snapshot.efs import CacheCorruption, EFSSnapshotManager
from receipt_compaction.snapshot.layout import manifest_key, new_version_id, pointer_key
from receipt_compaction.snapshot.manifest import Manifest, ManifestFile
from receipt_compaction.snapshot.store import (
    Pointer,
    PublishedVersion,
    RetentionReport,
    Rollback,
    SnapshotConflict,
    SnapshotError,
    SnapshotIntegrityError,
    SnapshotStore,
    empty_snapshot_dir,
)
from receipt_compaction.snapshot.verify import VerifyReport, verify_snapshot

__all__ = [
    "CacheCorruption",
    "EFSSnapshotManager",
    "Manifest",
    "ManifestFile",
    "Pointer",
    "PublishedVersion",
    "RetentionReport",
    "Rollback",
    "SnapshotConflict",
    "SnapshotError",
    "SnapshotIntegrityError",
    "SnapshotStore",
    "VerifyReport",
    "empty_snapshot_dir",
    "manifest_key",
    "new_version_id",
    "pointer_key",
    "verify_snapshot",
]
