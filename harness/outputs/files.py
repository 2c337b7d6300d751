"""Files written so that a reader, or a run interrupted mid-write, sees the old content or the new, never half."""
from __future__ import annotations

import errno
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


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written in `folder` (made if missing), as a clause; None when they can.

    Asks the file system itself, with a file made and removed in the nearest folder that exists: permission bits
    do not tell, for root or on a read-only or virtual file system such as /proc.
    """
    try:
        if folder.exists() and not folder.is_dir():
            return f"{folder} is a file, not a folder"
        existing = next(p for p in [folder, *folder.parents] if p.exists())
    except OSError as error:  # before Python 3.12, exists() raises where a folder on the way cannot be searched
        return f"{folder} cannot be reached ({error.strerror or error})"
    if not existing.is_dir():
        return f"{existing} is a file, not a folder, so no folder can be made there"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        return f"{existing} does not take new files" + (f" ({error.strerror})" if error.errno != errno.ENOENT else "")
    return None
