"""Reading CIFAR-10's official python layout: shapes and pixel order, checksums, and one-sentence errors."""
from __future__ import annotations

import hashlib
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.experiments import cifar

PER_TRAIN_FILE, TEST_IMAGES, CLASSES = 16, 24, 3


def tiny_images(count: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """Images of 3 classes an average colour tells apart: class k bright in channel k, dark elsewhere.
    Rows are the official layout, uint8 [count, 3072] in CHW order."""
    labels = rng.integers(0, CLASSES, count)
    images = rng.integers(0, 56, (count, 3, 32, 32), dtype=np.uint8)
    images[np.arange(count), labels] += 200
    return images.reshape(count, -1), labels.tolist()


def write_tiny_cifar(data_dir: Path, seed: int = 0) -> Path:
    """A CIFAR-10 folder in the official layout (pickled dicts of bytes keys), with a few dozen images."""
    rng = np.random.default_rng(seed)
    root = data_dir / cifar.FOLDER
    root.mkdir(parents=True)
    batches = {name: PER_TRAIN_FILE for name in cifar.TRAIN_FILES} | {cifar.TEST_FILE: TEST_IMAGES}
    for name, count in batches.items():
        data, labels = tiny_images(count, rng)
        _dump(root / name, {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                            b"filenames": [f"{i}.png".encode() for i in range(count)]})
    _dump(root / cifar.META_FILE, {b"label_names": [f"class{k}".encode() for k in range(10)],
                                   b"num_cases_per_batch": PER_TRAIN_FILE, b"num_vis": 3072})
    return root


def _dump(path: Path, content: dict) -> None:
    path.write_bytes(pickle.dumps(content, protocol=2))


def _rewrite_batch(path: Path, **changes) -> None:
    content = pickle.loads(path.read_bytes(), encoding="bytes")
    _dump(path, content | {key.encode(): value for key, value in changes.items()})


def assert_one_sentence(message: str, *names: object) -> None:
    assert message.endswith(".") and message.count(". ") == 0 and "\n" not in message, message
    for name in names:
        assert str(name) in message, (name, message)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    write_tiny_cifar(tmp_path)
    return tmp_path


def test_reads_images_as_uint8_chw_and_labels_as_int64(tiny):
    data = cifar.load(tiny)
    assert data.x_train.shape == (5 * PER_TRAIN_FILE, 3, 32, 32) and data.x_train.dtype == torch.uint8
    assert data.x_test.shape == (TEST_IMAGES, 3, 32, 32) and data.y_test.dtype == torch.int64
    first = pickle.loads((tiny / cifar.FOLDER / "data_batch_1").read_bytes(), encoding="bytes")
    row = first[b"data"][5]
    channel, y, x = 2, 7, 30  # the official row order is channel-major, then row, then column
    assert data.x_train[5, channel, y, x] == row[channel * 1024 + y * 32 + x]
    last = pickle.loads((tiny / cifar.FOLDER / "data_batch_5").read_bytes(), encoding="bytes")
    assert data.y_train[-PER_TRAIN_FILE:].tolist() == last[b"labels"]
    assert data.classes == tuple(f"class{k}" for k in range(10))


def test_reports_checksums_that_are_not_the_official_ones(tiny):
    data = cifar.load(tiny)
    files = (*cifar.TRAIN_FILES, cifar.TEST_FILE, cifar.META_FILE)
    assert data.checksums.md5 == {name: hashlib.md5((tiny / cifar.FOLDER / name).read_bytes()).hexdigest()
                                  for name in files}
    assert not data.checksums.official and sorted(data.checksums.mismatched) == sorted(files)


def test_checksums_match_when_the_files_hash_as_the_official_ones(tiny):
    official = cifar.Checksums(dict(cifar.OFFICIAL_MD5))
    assert official.official and official.mismatched == []
    assert cifar.load(tiny).checksums.digest != official.digest


def test_missing_folder_names_the_folder_and_download(tmp_path):
    with pytest.raises(cifar.CifarMissing) as error:
        cifar.load(tmp_path / "nowhere")
    assert_one_sentence(str(error.value), tmp_path / "nowhere" / cifar.FOLDER, "--download")


def test_one_missing_file_is_named(tiny):
    (tiny / cifar.FOLDER / "test_batch").unlink()
    with pytest.raises(cifar.CifarMissing) as error:
        cifar.load(tiny)
    assert_one_sentence(str(error.value), "missing test_batch", "--download")


def test_truncated_file_is_named_in_one_sentence(tiny):
    path = tiny / cifar.FOLDER / "data_batch_3"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(cifar.CifarCorrupt) as error:
        cifar.load(tiny)
    assert_one_sentence(str(error.value), path)


@pytest.mark.parametrize("changes, problem", [
    (dict(labels=[10] * PER_TRAIN_FILE), "labels outside"),
    (dict(labels=[0] * 3), "3 labels for 16 images"),
    (dict(data=np.zeros((PER_TRAIN_FILE, 3072), np.float32)), "uint8"),
    (dict(data=np.zeros((PER_TRAIN_FILE, 1024), np.uint8)), "[N, 3072]"),
], ids=["label-range", "label-count", "dtype", "shape"])
def test_malformed_batch_is_named_with_its_problem(tiny, changes, problem):
    path = tiny / cifar.FOLDER / "data_batch_2"
    _rewrite_batch(path, **changes)
    with pytest.raises(cifar.CifarCorrupt) as error:
        cifar.load(tiny)
    assert_one_sentence(str(error.value), path, problem)


def test_subset_draws_images_at_random_and_changes_the_fingerprint(tiny):
    data = cifar.load(tiny)
    small = data.subset(10, 4, seed=1)
    assert small.x_train.shape[0] == 10 and small.y_test.shape == (4,)
    rows = {tuple(image.flatten().tolist()) for image in data.x_train}
    assert all(tuple(image.flatten().tolist()) in rows for image in small.x_train)
    assert torch.equal(small.y_train, small.x_train.float().mean((2, 3)).argmax(1)), "labels left their images"
    assert not torch.equal(small.x_train, data.x_train[:10]), "the subset should not be the first images"
    assert torch.equal(small.x_train, data.subset(10, 4, seed=1).x_train)
    assert len({data.fingerprint, small.fingerprint, data.subset(10, 4, seed=2).fingerprint}) == 3


def test_download_goes_through_torchvision_only_when_asked(tmp_path, monkeypatch):
    calls = []

    def fake_cifar10(root, train, download):
        calls.append((root, train, download))
        write_tiny_cifar(Path(root))
    fake = types.ModuleType("torchvision.datasets")
    fake.CIFAR10 = fake_cifar10
    monkeypatch.setitem(sys.modules, "torchvision", types.ModuleType("torchvision"))
    monkeypatch.setitem(sys.modules, "torchvision.datasets", fake)
    with pytest.raises(cifar.CifarMissing):
        cifar.load(tmp_path)
    assert calls == []
    assert len(cifar.load(tmp_path, allow_download=True).y_test) == TEST_IMAGES
    assert calls == [(str(tmp_path), True, True)]


def test_download_without_torchvision_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # makes the import fail, installed or not
    with pytest.raises(cifar.CifarMissing) as error:
        cifar.download(tmp_path)
    assert_one_sentence(str(error.value), ".[cifar]", tmp_path / cifar.FOLDER)
