"""What this repository's own test run needs beyond the installed plugin (harness/plugin.py)."""
import os

import pytest
import torch._dynamo  # noqa: F401  (imported here, once, for the reason below)
from hypothesis import settings

# The first optimizer step imports torch._dynamo, which registers torch's operator libraries. If that first import
# happened inside a pytester in-process run, pytester would drop the modules it loaded afterwards, and the next
# import would register the libraries a second time, which torch refuses.

pytest_plugins = ["pytester"]  # the plugin's tests run scratch projects; only a root conftest may load plugins

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=100, print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of this repository that is not slow is fast: `pytest -m fast` is the whole CI suite."""
    for item in items:
        if not item.get_closest_marker("slow"):
            item.add_marker("fast")
