"""The two programs whose peak RSS the memory benchmark compares, each run in a fresh process.

    python -m benchmarks.memory_child compaction EVENT.json CALLS.pickle
        one invocation of the real compaction handler (environment from the parent), recording the chromadb
        calls it makes into CALLS.pickle
    python -m benchmarks.memory_child chroma DIRECTORY CALLS.pickle
        chromadb alone: open DIRECTORY and make those calls

Each prints its peak RSS in KiB as its last line: VmHWM of /proc/self/status, which starts afresh at exec
(``ru_maxrss`` does not: it keeps the forking parent's peak).
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path

from benchmarks.moto_process import peak_rss_mib


def main(argv: list[str]) -> None:
    command, first, calls_path = argv
    if command == "compaction":
        from benchmarks.raw_work import ChromaCall, record_chroma_calls  # noqa: PLC0415
        from receipt_compaction.handlers.compaction import lambda_handler  # noqa: PLC0415

        calls: list[ChromaCall] = []
        with record_chroma_calls(calls, ("get", "update", "delete", "upsert")):
            response = lambda_handler(json.loads(Path(first).read_text()), None)
        if response["batchItemFailures"]:
            raise SystemExit(f"the compaction failed messages: {response}")
        Path(calls_path).write_bytes(pickle.dumps(calls))
    elif command == "chroma":
        from benchmarks.raw_work import replay_chroma  # noqa: PLC0415

        replay_chroma(
            pickle.loads(Path(calls_path).read_bytes()), Path(first)
        )  # our own file, written just before
    else:
        raise SystemExit(f"unknown command {command!r}: use compaction or chroma")
    print(peak_rss_mib(os.getpid()) * 1024)


if __name__ == "__main__":
    main(sys.argv[1:])
