"""Turn the --device option into a torch.device, or one sentence saying why it cannot be used."""
from __future__ import annotations

import os
import re

import torch

VALID = "auto, cpu, cuda, cuda:N or mps"


class DeviceError(ValueError):
    """A --device value that names no usable device; the message is the whole explanation."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError("--device mps: this machine has no Apple GPU; use --device cpu or auto.")
        return torch.device("mps")
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if match is None:
        raise DeviceError(f"--device {name}: unknown device; valid values are {VALID}.")
    if not torch.cuda.is_available():
        raise DeviceError(f"--device {name}: this machine has no CUDA GPU; use --device cpu or auto.")
    if match.group(1) is None:
        return torch.device("cuda")
    index = int(match.group(1))
    if index >= torch.cuda.device_count():
        raise DeviceError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here; "
                          f"use cuda:0 to cuda:{torch.cuda.device_count() - 1}.")
    return torch.device("cuda", index)


def worker_device(device: torch.device) -> torch.device:
    """Under pytest-xdist, pin each worker to one GPU (gw0 -> cuda:0, gw1 -> cuda:1, ...) unless an index was given."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if device.type != "cuda" or device.index is not None or not worker.startswith("gw"):
        return device
    return torch.device("cuda", int(worker[2:]) % torch.cuda.device_count())
