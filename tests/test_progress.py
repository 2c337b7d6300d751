"""Live progress lines of long trainings: rare enough not to flood, present as soon as a run is slow."""
from __future__ import annotations

import pytest
import torch

from harness.experiments import progress
from harness.experiments.data import Dataset
from harness.experiments.progress import StepProgress
from harness.experiments.train import TrainConfig, train


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    return clock


def test_a_loop_shorter_than_the_interval_prints_nothing(clock):
    lines: list[str] = []
    report = StepProgress(lines.append, "moons", interval=10.0)
    for step in range(100):
        report(step, 100)
        clock.now += 0.05
    assert lines == []


def test_a_slow_loop_says_what_trains_how_far_and_the_time_left_at_most_once_per_interval(clock):
    lines: list[str] = []
    report = StepProgress(lines.append, "two moons, full scale: sigmoid", interval=10.0)
    for step in range(100):
        report(step, 100)
        clock.now += 1.0  # the step's work
    assert len(lines) == 9
    assert lines[0] == "two moons, full scale: sigmoid: step 10/100, about 90 s left"


def test_training_tells_the_progress_every_step():
    x = torch.randn(1, 8, 2, generator=torch.Generator().manual_seed(0))
    data = Dataset(x, (x[..., 0] > 0).float(), x, (x[..., 0] > 0).float())
    config = TrainConfig(widths=(2, 4, 1), activation="relu", init="he", loss="bce", optimizer="sgd", lr=0.1,
                         steps=5)
    told: list[tuple[int, int]] = []
    train(config, data, [0], progress=lambda step, steps: told.append((step, steps)))
    assert told == [(step, 5) for step in range(5)]
