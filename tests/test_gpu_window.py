"""The prepared GPU-window command in its tiny mode, on the CPU over a CIFAR-format folder a fixture writes: every
part runs and leaves its files, flat, under --out. Its numbers mean nothing at this size; the path is the point."""
import json
import subprocess
import sys
from pathlib import Path

from test_cifar import write_tiny_cifar

ROOT = Path(__file__).resolve().parent.parent
FILES = {"device.json", "speed.json", "bf16.json", "full_scale.json", "depth_claims.json", "depth_report.md",
         "glorot_claims.json", "glorot_report.md"}


def test_the_gpu_window_runs_every_part_in_its_tiny_mode_and_leaves_flat_files(tmp_path):
    write_tiny_cifar(tmp_path / "data")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_window", "--tiny", "--data-dir",
                           str(tmp_path / "data"), "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert {p.name for p in out.iterdir()} == FILES, "a GPU machine gives back at most 8 files, none in subfolders"
    assert json.loads((out / "device.json").read_text())["cifar10"].startswith("CIFAR-10, re-encoded files")
    speed = json.loads((out / "speed.json").read_text())
    assert set(speed["models"]) == {"relu 1 blocks", "relu 8 blocks"} and speed["our_convolution_tflops"] > 0
    assert set(json.loads((out / "bf16.json").read_text())["best_test_accuracy"]) == {"fp32", "bf16_channels_last"}
    stored = json.loads((out / "full_scale.json").read_text())["checks"]
    assert {e["claim"] for e in stored} >= {"relu-improves-with-depth", "activation-ranking"}
    assert all(e["provenance"]["device"].startswith("cpu") and "CIFAR-10" in e["provenance"]["data"] for e in stored)
    assert len(json.loads((out / "depth_claims.json").read_text())) == 7
