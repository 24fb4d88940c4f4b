"""A words-collection compactor over one table, bucket and EFS root: compaction cycles, and a look at what
the pointer's version holds and what the EFS cache keeps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from receipt_compaction.compaction.cycle import compact_collection
from receipt_compaction.lock import expire_lease
from receipt_compaction.settings import CompactionSettings
from receipt_compaction.snapshot import SnapshotStore, verify_snapshot
from tests.support.world import World

if TYPE_CHECKING:
    from pathlib import Path

    from receipt_compaction.compaction import CompactionMessage

__all__ = ["WordsCompactor"]


class WordsCompactor:
    """Compaction cycles of the words collection against one table, bucket and EFS root."""

    def __init__(self, world: World, tmp_path: Path) -> None:
        self.world = world
        self.tmp_path = tmp_path
        self.settings = CompactionSettings(
            table_name=world.table,
            bucket=world.bucket,
            efs_root=tmp_path / "efs",
            region=world.clients.region,
        )
        self.store = SnapshotStore(world.clients.s3, world.bucket, "words")
        self.restores = 0

    def cycle(self, messages: list[CompactionMessage]) -> Any:
        mine = [m for m in messages if m.collection == "words"]
        return compact_collection(
            mine, collection="words", settings=self.settings, clients=self.world.clients
        )

    def published(self, *, verify: bool = True) -> dict[str, Any]:
        """The words the pointer's version holds, restored (and, by default, verified) in a fresh directory."""
        pointer = self.store.read_pointer()
        assert pointer is not None
        self.restores += 1
        target = self.tmp_path / f"restore-{self.restores}"
        manifest = self.store.restore(pointer.version_id, target)
        if verify:
            verify_snapshot(target, "words", expected_count=manifest.count)
        return World(self.world.clients, "", "", target).records("words")

    def cached(self, name: str) -> Path:
        """The file ``name`` of the pointer's version in the EFS cache."""
        pointer = self.store.read_pointer()
        assert pointer is not None
        path = self.settings.efs_root / "words" / "versions" / pointer.version_id / "chroma" / name
        if not path.exists():
            found = sorted(path.parent.rglob(name))
            assert found, f"no {name} in the cache"
            path = found[0]
        return path

    def expire_lease(self) -> None:
        """What time does to the lease of a process that died holding it."""
        expire_lease(self.world.clients.dynamodb, self.world.table, "words")
