"""Files written so that a reader, or a run interrupted mid-write, sees the old content or the new, never half."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

# The process's umask, read once at import (reading it means setting it), so written files get the usual permissions
# (mkstemp alone makes them private to the owner).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def write_bytes_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_atomically(path: Path, text: str) -> None:
    write_bytes_atomically(path, text.encode("utf-8"))
