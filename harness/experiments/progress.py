"""Live progress lines for long runs: which model, which epoch, accuracy so far, time left."""
from __future__ import annotations

import time
from typing import Callable

from harness.experiments.sweep import Progress


class ProgressLines:
    """Turns a sweep's per-model reports into at most one line every `interval` seconds (and one per finished
    model), so a fast GPU sweep does not flood the terminal and a slow CPU one still shows it is alive."""

    def __init__(self, write: Callable[[str], None], label: str, interval: float = 5.0) -> None:
        self.write, self.label, self.interval = write, label, interval
        self.last = -float("inf")

    def __call__(self, report: Progress) -> None:
        now = time.monotonic()
        if now - self.last < self.interval and report.epoch < report.epochs:
            return
        self.last = now
        self.write(f"{self.label}: {report.model}, epoch {report.epoch}/{report.epochs}, best test accuracy "
                   f"{100 * report.best_test_accuracy:.1f}%, about {_duration(report.seconds_left)} left")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


class StepProgress:
    """For a training loop: at most one line every `interval` seconds (none for a loop shorter than that) with
    what trains, the step it is at, and the time left extrapolated from the steps done. It reads no tensor, so it
    adds no host sync to the loop."""

    def __init__(self, write: Callable[[str], None], label: str, interval: float = 10.0) -> None:
        self.write, self.label, self.interval = write, label, interval
        self.start = self.last = time.monotonic()

    def __call__(self, step: int, steps: int) -> None:
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        left = (now - self.start) * (steps - step) / max(step, 1)
        self.write(f"{self.label}: step {step}/{steps}, about {_duration(left)} left")
