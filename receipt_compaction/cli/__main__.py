"""``python -m receipt_compaction.cli``: the same as the ``receipt-compaction`` console script."""

from __future__ import annotations

import sys

from receipt_compaction.cli import main

if __name__ == "__main__":
    sys.exit(main())
