"""EFSSnapshotManager (the seed's name): a local cache of verified versions, S3 being the truth.

Layout under ``root``: ``{collection}/versions/{version_id}/chroma/`` (the files) with ``manifest.json`` and a
``complete`` marker beside it; ``{collection}/current`` names the newest version made available. A version
is built in a temporary directory and renamed into place, so a reader never sees half of one. Chroma is not
safe on NFS or with two writers, so compaction always works on a private ``working_copy``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from receipt_compaction.snapshot.manifest import MANIFEST_NAME, Manifest

if TYPE_CHECKING:
    from receipt_compaction.snapshot.store import SnapshotStore

__all__ = ["EFSSnapshotManager"]

DATA_DIR = "chroma"
COMPLETE_MARKER = "complete"


class EFSSnapshotManager:
    def __init__(self, root: str | Path, store: SnapshotStore) -> None:
        self.store = store
        self.collection_root = Path(root) / store.collection
        self.versions_root = self.collection_root / "versions"
        self.versions_root.mkdir(parents=True, exist_ok=True)

    # -- versions -----------------------------------------------------------------------------------------

    def version_dir(self, version_id: str) -> Path:
        return self.versions_root / version_id

    def data_dir(self, version_id: str) -> Path:
        return self.version_dir(version_id) / DATA_DIR

    def is_available(self, version_id: str) -> bool:
        return (self.version_dir(version_id) / COMPLETE_MARKER).is_file()

    def cached_versions(self) -> list[str]:
        return sorted(
            path.name for path in self.versions_root.iterdir() if (path / COMPLETE_MARKER).is_file()
        )

    def ensure_snapshot_available(self, version_id: str) -> Path:
        """The verified data directory of ``version_id``, fetching only the bodies no cached version has."""
        if not self.is_available(version_id):
            with self._staging(version_id) as staging:
                manifest = self.store.restore(
                    version_id, staging / DATA_DIR, reuse=self._cached_body_index().get
                )
                self._finish(staging, manifest)
        return self.data_dir(version_id)

    def adopt(self, directory: Path, manifest: Manifest) -> Path:
        """Cache a directory this process just published, without downloading it again."""
        if not self.is_available(manifest.version_id):
            with self._staging(manifest.version_id) as staging:
                shutil.copytree(directory, staging / DATA_DIR)
                self._finish(staging, manifest)
        return self.data_dir(manifest.version_id)

    def working_copy(self, version_id: str, destination: str | Path | None = None) -> Path:
        """A private, writable copy of the version (a fresh temporary directory unless one is given)."""
        source = self.ensure_snapshot_available(version_id)
        target = Path(destination) if destination else Path(tempfile.mkdtemp(prefix="working-")) / DATA_DIR
        shutil.copytree(source, target)
        return target

    # -- current ------------------------------------------------------------------------------------------

    def current(self) -> str | None:
        marker = self.collection_root / "current"
        return marker.read_text().strip() if marker.is_file() else None

    def set_current(self, version_id: str) -> None:
        """Point ``current`` at an available version, atomically (write aside, then rename over)."""
        if not self.is_available(version_id):
            raise ValueError(f"version {version_id} is not in the cache at {self.versions_root}")
        aside = self.collection_root / f".current-{uuid.uuid4().hex}"
        aside.write_text(version_id)
        os.replace(aside, self.collection_root / "current")

    def cleanup(self, *, keep: int = 2) -> list[str]:
        """Remove all but the newest ``keep`` cached versions (never ``current``); returns what went."""
        current = self.current()
        cached = self.cached_versions()
        doomed = [version for version in cached[: max(0, len(cached) - keep)] if version != current]
        for version in doomed:
            shutil.rmtree(self.version_dir(version), ignore_errors=True)
        return doomed

    # -- internals ----------------------------------------------------------------------------------------

    def _cached_body_index(self) -> dict[str, Path]:
        index: dict[str, Path] = {}
        for version in self.cached_versions():
            manifest = Manifest.model_validate_json((self.version_dir(version) / MANIFEST_NAME).read_text())
            for entry in manifest.files:
                index.setdefault(entry.sha256, self.data_dir(version) / entry.path)
        return index

    def _staging(self, version_id: str) -> _Staging:
        return _Staging(
            self.collection_root / f".staging-{version_id}-{uuid.uuid4().hex[:8]}",
            self.version_dir(version_id),
        )

    @staticmethod
    def _finish(staging: Path, manifest: Manifest) -> None:
        (staging / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=1))
        (staging / COMPLETE_MARKER).write_text(manifest.version_id)


class _Staging:
    """A temporary directory renamed to ``final`` on success and removed on failure (or lost race)."""

    def __init__(self, path: Path, final: Path) -> None:
        self.path = path
        self.final = final

    def __enter__(self) -> Path:
        self.path.mkdir(parents=True)
        return self.path

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None and not self.final.exists():
            try:
                os.rename(self.path, self.final)
                return
            except OSError:  # another process finished the same version first: theirs is as good
                pass
        shutil.rmtree(self.path, ignore_errors=True)
