"""Profiles: numbers measured the same way for every activation, which the report sets side by side as a user's
activation's report card. A profile row is a measurement, not a verdict: the per-seed values, their mean and a
two-sided t-interval at the harness's alpha per side, and, for a per-layer quantity, the mean over seeds per layer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import stats

from harness.stats import ALPHA
from models.activations import ACTIVATIONS


@dataclass
class Profile:
    """What one profile test measured, for each activation it ran: rows of (quantity -> summary)."""

    rows: list[dict] = field(default_factory=list)

    def measure(self, activation: str, quantity: str, per_seed: Sequence[float], *, unit: str = "",
                per_layer: Sequence[Sequence[float]] | None = None, setting: str = "") -> None:
        """One quantity of one activation, one value per seed; `per_layer` [layers][seeds] for a depth profile."""
        values = np.asarray(per_seed, dtype=np.float64)
        row = {"activation": activation, "user": ACTIVATIONS[activation].user_given, "quantity": quantity,
               "unit": unit, "setting": setting, "per_seed": [as_json(v) for v in values.tolist()],
               **t_interval(values)}
        if per_layer is not None:
            row["per_layer"] = [as_json(float(np.mean(layer))) for layer in per_layer]
        self.rows.append(row)


def as_json(value: float) -> float | str:
    """Non-finite numbers as the strings "nan", "inf", "-inf", which JSON has no numbers for."""
    return value if math.isfinite(value) else str(value)


def t_interval(values: np.ndarray, alpha: float = ALPHA) -> dict:
    """Mean and the two-sided t-interval at `alpha` per side; no ends (None) where the values say nothing about spread
(fewer than two, a non-finite one, or all equal: zero spread is not certainty), and no mean without a finite value."""
    finite = values[np.isfinite(values)]
    mean = float(finite.mean()) if finite.size else None
    if finite.size < 2 or finite.size < values.size or np.ptp(finite) == 0:  # no interval from no spread
        return {"mean": mean, "interval": [None, None], "nonfinite": int(values.size - finite.size)}
    half = float(stats.t.ppf(1 - alpha, finite.size - 1) * finite.std(ddof=1) / math.sqrt(finite.size))
    return {"mean": mean, "interval": [mean - half, mean + half], "nonfinite": 0}
