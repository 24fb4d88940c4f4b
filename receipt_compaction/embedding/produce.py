"""The delta producer: embed receipts into a fresh directory, upload it, and only then announce the run."""

from __future__ import annotations

import io
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from receipt_compaction.chroma_ids import COLLECTIONS, CollectionName
from receipt_compaction.embedding.writer import embed_receipts
from receipt_compaction.entities import CompactionRun
from receipt_compaction.entities.runs import DELTA_TARBALL

if TYPE_CHECKING:
    from collections.abc import Sequence

    from receipt_compaction.aws import AwsClients
    from receipt_compaction.embedding.embedder import Embedder
    from receipt_compaction.state import ReceiptState

__all__ = ["DeltaLayout", "produce_delta", "upload_delta"]

DeltaLayout = Literal["tarball", "directory"]


def produce_delta(
    state: ReceiptState,
    *,
    run_id: str,
    clients: AwsClients,
    table_name: str,
    bucket: str,
    embedder: Embedder,
    layout: DeltaLayout = "tarball",
    collections: Sequence[CollectionName] = COLLECTIONS,
) -> CompactionRun:
    """Embed ``state`` per collection, upload each delta, then write the CompactionRun item (PENDING).

    The run item is written last: its INSERT is what asks the compactors to merge, so it must never exist
    before its deltas do.
    """
    run = CompactionRun(
        image_id=state.key.image_id,
        receipt_id=state.key.receipt_id,
        run_id=run_id,
        created_at=datetime.now(UTC).isoformat(),
    )
    for collection in collections:
        with tempfile.TemporaryDirectory(prefix=f"delta-{collection}-") as scratch:
            directory = Path(scratch) / "chroma"
            embed_receipts(directory, [state], embedder=embedder, collections=[collection])
            upload_delta(clients, bucket, directory, run.prefix_for(collection), layout=layout)
    clients.dynamodb.put_item(TableName=table_name, Item=run.to_item())
    return run


def upload_delta(
    clients: AwsClients, bucket: str, directory: Path, prefix: str, *, layout: DeltaLayout
) -> None:
    """Upload a closed Chroma directory under ``prefix`` as one tarball or as its files."""
    if layout == "tarball":
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            tar.add(directory, arcname=".")
        clients.s3.put_object(Bucket=bucket, Key=prefix + DELTA_TARBALL, Body=buffer.getvalue())
        return
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            clients.s3.upload_file(str(path), bucket, prefix + path.relative_to(directory).as_posix())
