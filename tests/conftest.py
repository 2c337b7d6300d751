"""Fixtures the tests of the plugin share."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A scratch project with this repository's pytest settings; the plugin comes from its pytest11 entry point."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    settings = (ROOT / "pyproject.toml").read_text().replace('testpaths = ["tests", "claims", "profiles"]', "")
    pytester.makefile(".toml", pyproject=settings)
    return pytester
