"""CIFAR-10 read from its official python layout, without torchvision.

The official files are pickled dicts (b"data": uint8 [N, 3072] in CHW order, b"labels"), so reading them
needs pickle.load: that is the dataset's own format, and nothing else here is ever unpickled. The loader
validates layout, shapes, dtypes and labels but does not insist on the official MD5s (a faithful
re-encoding has other checksums): it computes them and reports whether they match.
torchvision is an optional extra, imported only inside download().
"""
from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from harness.experiments.data import Dataset

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
CLASSES = 10
# From https://www.cs.toronto.edu/~kriz/cifar.html's archive, as torchvision checks them.
OFFICIAL_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}


class CifarMissing(FileNotFoundError):
    """The data is not where it was looked for; the message says where to put it."""


class CifarCorrupt(ValueError):
    """A file is there but is not a valid CIFAR-10 file; the message names it."""


@dataclass(frozen=True)
class Checksums:
    """MD5 of every file read, and whether each matches the official archive's."""

    md5: dict[str, str]

    @property
    def mismatched(self) -> list[str]:
        return [name for name, digest in self.md5.items() if OFFICIAL_MD5.get(name) != digest]

    @property
    def official(self) -> bool:
        return not self.mismatched

    @property
    def digest(self) -> str:
        """One hash of all the files' contents, to key cached results by the data they came from."""
        return hashlib.sha256("".join(f"{k}={v};" for k, v in sorted(self.md5.items())).encode()).hexdigest()


@dataclass(frozen=True)
class Cifar10(Dataset):
    """Images uint8 [N, 3, 32, 32], labels int64 [N], on the host."""

    classes: tuple[str, ...]
    checksums: Checksums
    subset_seed: int | None = None  # the seed that drew this subset, if it is one

    def subset(self, train: int, test: int, seed: int = 0) -> Cifar10:
        """`train` training and `test` test images drawn at random, for quick runs; not the first ones, since a
        file may be sorted by class (the JPEG re-encoding's test_batch is)."""
        generator = torch.Generator().manual_seed(seed)
        pick_train = torch.randperm(len(self.y_train), generator=generator)[:train]
        pick_test = torch.randperm(len(self.y_test), generator=generator)[:test]
        return Cifar10(self.x_train[pick_train], self.y_train[pick_train], self.x_test[pick_test],
                       self.y_test[pick_test], self.classes, self.checksums, seed)

    @property
    def provenance(self) -> str:
        """Which CIFAR-10 files a result came from, in words, for the records that keep it."""
        files = "the official files" if self.checksums.official else "re-encoded files (not the official checksums)"
        return f"CIFAR-10, {files}, SHA-256 of their MD5s {self.checksums.digest[:16]}"

    @property
    def fingerprint(self) -> str:
        """The files' digest, and for a subset its sizes and seed, so that results are keyed by the data used."""
        if self.subset_seed is None:
            return self.checksums.digest[:32]
        return f"{self.checksums.digest[:32]}:{len(self.y_train)}:{len(self.y_test)}:{self.subset_seed}"


def folder(data_dir: Path | str) -> Path:
    return Path(data_dir) / FOLDER


def load(data_dir: Path | str, allow_download: bool = False) -> Cifar10:
    """Read CIFAR-10 from <data_dir>/cifar-10-batches-py, downloading it first if allowed and it is missing."""
    root = folder(data_dir)
    missing = [name for name in (*TRAIN_FILES, TEST_FILE, META_FILE) if not (root / name).is_file()]
    if missing and allow_download:
        download(data_dir)
    elif missing:
        what = f"missing {', '.join(missing)}" if root.is_dir() else "no such folder"
        raise CifarMissing(f"CIFAR-10 is not in {root} ({what}): put the official python version's files there, "
                           f"or pass --download to fetch it.")
    md5: dict[str, str] = {}
    train = [_read_batch(root / name, md5) for name in TRAIN_FILES]
    test = _read_batch(root / TEST_FILE, md5)
    classes = _read_classes(root / META_FILE, md5)
    return Cifar10(torch.cat([x for x, _ in train]), torch.cat([y for _, y in train]), *test,
                   classes, Checksums(md5))


def download(data_dir: Path | str) -> Path:
    """Fetch the official archive into data_dir through torchvision (the optional `cifar` extra)."""
    try:
        from torchvision.datasets import CIFAR10
    except ImportError as error:
        raise CifarMissing(f"--download needs torchvision (pip install -e '.[cifar]'), which failed to import "
                           f"({error}); or put the official python version's files in {folder(data_dir)}.") from None
    CIFAR10(root=str(data_dir), train=True, download=True)
    return folder(data_dir)


def _unpickle(path: Path, md5: dict[str, str]) -> dict:
    raw = path.read_bytes()
    md5[path.name] = hashlib.md5(raw).hexdigest()
    try:
        content = pickle.loads(raw, encoding="bytes")
    except Exception as error:  # a damaged pickle can fail in many ways; all mean the same thing here
        raise _corrupt(path, f"it does not unpickle: {type(error).__name__}") from None
    if not isinstance(content, dict):
        raise _corrupt(path, f"it holds a {type(content).__name__}, not a dict")
    return content


def _corrupt(path: Path, why: str) -> CifarCorrupt:
    return CifarCorrupt(f"{path} is not a valid CIFAR-10 file ({why}): delete it and fetch or convert the data again.")


def _read_batch(path: Path, md5: dict[str, str]) -> tuple[Tensor, Tensor]:
    content = _unpickle(path, md5)
    data, labels = content.get(b"data"), content.get(b"labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise _corrupt(path, "b'data' is not a uint8 array of shape [N, 3072]")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise _corrupt(path, "b'labels' is not a list of integers") from None
    if labels.shape != (len(data),):
        raise _corrupt(path, f"{labels.size} labels for {len(data)} images")
    if labels.size and not (0 <= labels.min() and labels.max() < CLASSES):
        raise _corrupt(path, f"labels outside 0..{CLASSES - 1}")
    return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()), torch.from_numpy(labels)


def _read_classes(path: Path, md5: dict[str, str]) -> tuple[str, ...]:
    names = _unpickle(path, md5).get(b"label_names")
    if not isinstance(names, list) or len(names) != CLASSES or not all(isinstance(n, bytes) for n in names):
        raise _corrupt(path, f"b'label_names' is not a list of {CLASSES} names")
    return tuple(n.decode() for n in names)


def cifar_vectors(data: Cifar10, device: torch.device, dtype: torch.dtype = torch.float32) -> Dataset:
    """CIFAR-10 for fully connected nets: each image flattened to 3072 inputs in the files' order (channel, row,
    column), pixels scaled to [0, 1]. The images travel to the device as uint8 and are converted there."""
    def vectors(images: Tensor) -> Tensor:
        return images.flatten(1).to(device).to(dtype).div_(255)
    return Dataset(vectors(data.x_train), data.y_train.to(device), vectors(data.x_test), data.y_test.to(device))
