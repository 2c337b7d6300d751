"""Seeds derived from one base seed and a check's identity, stable across machines and runs."""
from __future__ import annotations

import torch

import hashlib


def derive_seed(base: int, *labels: object) -> int:
    """A 63-bit seed from the base seed and labels (e.g. the check's id); Python's hash() is salted, sha256 is not."""
    text = "/".join(str(x) for x in (base, *labels))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def derive_seeds(base: int, count: int, *labels: object) -> list[int]:
    """`count` independent seeds for the seeds of one experiment."""
    return [derive_seed(base, *labels, i) for i in range(count)]


def seeded_generator(device: torch.device, *parts: object) -> torch.Generator:
    """A generator on `device` seeded with derive_seed(*parts)."""
    return torch.Generator(device=device).manual_seed(derive_seed(*parts))
