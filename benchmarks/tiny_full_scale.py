"""A pytest plugin, loaded with `-p benchmarks.tiny_full_scale`, that shrinks the full-scale protocols of the claim
modules it finds to seconds on a CPU: document 001's sweep to one epoch of width-4 nets from two seeds, Glorot &
Bengio's nets to width 4 and a few dozen steps. The verdicts of so small a run mean nothing; what it exercises is
the path (data read, every model trained, every full-scale check recording a verdict), so that the GPU window's
command and the end-to-end tests run it on every change."""
from __future__ import annotations

from dataclasses import replace

import pytest

SEEDS = 2
DEPTH_SETTINGS = {"epochs": 1, "width": 4, "batch_size": 16, "eval_batch": 12}
GLOROT_PROTOCOL = {"width": 4, "steps": 40, "loss_window": 10, "saturation_steps": 20, "saturation_seeds": SEEDS,
                   "probe_every": 5}


def shrink(module: object) -> None:
    """The module's FULL protocol, shrunk in place: document 001's Settings, or Glorot & Bengio's ScaleSettings."""
    full = getattr(module, "FULL", None)
    if hasattr(module, "FULL_SEEDS"):
        module.FULL, module.FULL_SEEDS = replace(full, **DEPTH_SETTINGS), SEEDS
    elif hasattr(full, "ranking_seeds"):
        module.FULL = replace(full, **GLOROT_PROTOCOL, ranking_seeds={act: SEEDS for act in full.ranking_seeds})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for module in {item.module for item in items}:
        shrink(module)
