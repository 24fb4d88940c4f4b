"""One compaction cycle of the Scale section, in a fresh process so its peak RSS is its own.

    python -m benchmarks.scale_child SPEC.json

SPEC names the moto endpoint, the table, the bucket, the working copy of the collection, the pointer of the
version it was copied from and the snapshot store's options (the layout). The child runs ``compact()`` with
the two-receipt change on the working copy, then publishes it as the next version, and prints one JSON line:
both times, the publish's own report, every S3 request the publish made (counted with botocore event hooks
on its client: method and HTTP body bytes), and its peak RSS (VmHWM, as benchmarks.memory_child reads it).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.moto_process import peak_rss_mib

__all__ = ["RequestCounter", "main"]


@dataclass
class RequestCounter:
    """Every HTTP request a boto3 client sends (``before-send``): how many of each method, and the bytes of
    the bodies of writes (PUT and POST), as they go on the wire."""

    methods: Counter[str] = field(default_factory=Counter)
    sent_bytes: int = 0

    def __call__(self, request: Any, **_: Any) -> None:
        self.methods[request.method] += 1
        if request.method in {"PUT", "POST"}:
            self.sent_bytes += _body_bytes(request)

    @property
    def writes(self) -> int:
        return self.methods["PUT"] + self.methods["POST"]

    def summary(self) -> dict[str, Any]:
        return {"methods": dict(self.methods), "writes": self.writes, "sent_bytes": self.sent_bytes}


def main(argv: list[str]) -> None:
    from benchmarks.scale_world import change_messages  # noqa: PLC0415
    from receipt_compaction.aws import AwsClients  # noqa: PLC0415
    from receipt_compaction.compaction import compact  # noqa: PLC0415
    from receipt_compaction.snapshot import Pointer, SnapshotStore  # noqa: PLC0415

    spec = json.loads(Path(argv[0]).read_text())
    clients = AwsClients.connect(**spec["client_kwargs"])
    started = time.perf_counter()
    result = compact(
        change_messages(spec["words"]),
        collection="words",
        chroma_dir=spec["directory"],
        clients=clients,
        table_name=spec["table"],
        bucket=spec["bucket"],
    )
    compact_s = time.perf_counter() - started
    if result.failed_message_ids or not result.updated:
        raise SystemExit(f"the compaction changed nothing or failed: {result}")
    store = SnapshotStore(clients.s3, spec["bucket"], "words", **spec["store_options"])
    counter = RequestCounter()
    clients.s3.meta.events.register("before-send.s3", counter)
    started = time.perf_counter()
    published = store.publish(
        Path(spec["directory"]),
        expected=Pointer(spec["pointer"]["version_id"], spec["pointer"]["etag"]),
        fencing_token=2,
        count=result.count,
    )
    publish_s = time.perf_counter() - started
    clients.s3.meta.events.unregister("before-send.s3", counter)
    report = {
        "compact_s": compact_s,
        "publish_s": publish_s,
        "updated": result.updated,
        "version_id": published.manifest.version_id,
        "uploaded_bytes": published.uploaded_bytes,
        "put_requests": published.put_requests,
        "requests": counter.summary(),
        "peak_mib": peak_rss_mib(os.getpid()),
    }
    print(json.dumps(report))


def _body_bytes(request: Any) -> int:
    length = request.headers.get("Content-Length")
    if length is not None:
        return int(length)
    body = request.body
    if body is None:
        return 0
    if isinstance(body, bytes | bytearray | str):
        return len(body)
    position = body.tell()
    end = body.seek(0, os.SEEK_END)
    body.seek(position)
    return int(end - position)


if __name__ == "__main__":
    main(sys.argv[1:])
