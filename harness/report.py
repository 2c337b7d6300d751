"""Files a run leaves behind: written atomically, so an interrupted run keeps the last complete state."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def report_dir_problem(directory: Path) -> str | None:
    """One sentence saying why `directory` cannot take the report, or None if it can."""
    if directory.exists() and not directory.is_dir():
        return f"--claims-report {directory}: that path is a file; give a folder (it is created if missing)."
    existing = next((p for p in [directory, *directory.parents] if p.exists()), None)
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        return f"--claims-report {directory}: {existing} is not writable; choose a folder you can write to."
    return None


def write_claims_json(directory: Path, records: list[dict]) -> Path:
    path = directory / "claims.json"
    write_atomically(path, json.dumps(records, indent=2, allow_nan=False) + "\n")
    return path
