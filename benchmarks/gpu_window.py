"""The prepared run for a short GPU window: each part writes its files under --out as soon as it ends, so a run cut
short keeps what it finished.

    python -m benchmarks.gpu_window --data-dir DIR --out OUT           # on one H200: about 5 minutes
    python -m benchmarks.gpu_window --tiny --data-dir DIR --out OUT    # the same path on a CPU in seconds (CI)

The parts, in order (README's "A GPU window" gives each one's estimate from FLOP counts). The three short ones
come first, so that a cut of the long sweep cannot take them with it; the sweep, the result no run has yet
measured, comes before Glorot & Bengio's checks:

1. device.json: the device, torch and CUDA versions, bf16 support, and which CIFAR-10 files were read.
2. speed.json: the document's own loop (DataLoader, one model after another) against our runner on one epoch at 1
   and 8 blocks: seconds per model-epoch, their ratio, and our convolution FLOP rate against the H200's peak.
3. bf16.json: bf16 autocast with channels_last against fp32 on a slice of the sweep: the accuracy difference per
   model, which decides whether they may be on by default.
4. depth_claims.json, depth_report.md: document 001's full-scale sweep and its seven checks, through the slow
   tier's own code (pytest on claims/test_depth.py and claims/test_relu_family.py -m slow); their verdicts go to
   full_scale.json, whose entries
   `python -m harness.outputs.store OUT/full_scale.json` merges into results/full_scale.json.
5. glorot_claims.json, glorot_report.md: Glorot & Bengio's full-scale checks (claims/test_glorot_bengio.py -m
   slow), when the time left allows (their verdicts join full_scale.json).

--tiny runs every part on the CPU over a small CIFAR-format folder, with the full-scale protocols shrunk by
benchmarks.tiny_full_scale: its numbers mean nothing, its purpose is that the path works.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from statistics import mean

import torch

from benchmarks.bench_cifar_sweep import (BF16_DENSE_PEAK, GroupClock, documents_loaders, documents_model, sweep_flops,
                                          synchronize)
from claims.test_depth import FULL as DOCUMENT
from harness.experiments import cifar
from harness.experiments.devices import resolve_device
from harness.experiments.seeding import derive_seeds
from harness.experiments.sweep import grid, sweep, to_device

ROOT = Path(__file__).resolve().parent.parent
TF32_DENSE_PEAK = 494e12            # FLOP/s, the H100/H200 SXM datasheet's dense TF32 rate: fp32 convolutions use it
PARTS = ("speed", "bf16", "depth", "glorot")     # in the order they run; device.json is always written
# A GPU may be lent for a quarter of an hour, the machine's start and a rerun included: the window gets 6 minutes of
# wall time, 15 s of which are kept for loading the data and writing device.json.
BUDGET_S = 345
GLOROT_ESTIMATE_S = 110             # the module docstring's: about 1 ms a step, 4 x 20,000 + 2 x 5,000 steps, data
INTERRUPT_GRACE_S = 15              # for an interrupted pytest to write its report and store
SPEED_BLOCKS = (1, 8)
SLICES = {   # the slice of CIFAR-10 and of the nets the speed and bf16 parts train, at full size and in the tiny mode
    "full": {"train": 50_000, "test": 10_000, "width": 64, "batch_size": 128, "seeds": 3, "workers": 2,
             "bf16_blocks": (1, 8), "bf16_epochs": 2},
    "tiny": {"train": 64, "test": 32, "width": 4, "batch_size": 16, "seeds": 2, "workers": 0,
             "bf16_blocks": (1, 2), "bf16_epochs": 1},
}


def write(out: Path, name: str, content: dict) -> None:
    (out / name).write_text(json.dumps(content, indent=1) + "\n")
    print(f"wrote {out / name}", flush=True)


def device_part(out: Path, device: torch.device, data: cifar.Cifar10) -> None:
    cuda = device.type == "cuda"
    write(out, "device.json", {
        "device": torch.cuda.get_device_name(device) if cuda else f"cpu ({platform.machine()})",
        "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
        "bf16_supported": torch.cuda.is_bf16_supported() if cuda else True,
        "cifar10": data.provenance, "date": time.strftime("%Y-%m-%d")})


def plugin_option() -> list[str]:
    """-p harness.plugin where the project is not installed (a bare GPU machine), so pytest knows its options."""
    installed = any(ep.value == "harness.plugin" for ep in importlib.metadata.entry_points(group="pytest11"))
    return [] if installed else ["-p", "harness.plugin"]


def run_within(command: list[str], timeout_s: float) -> int:
    """Run `command` from the root; past `timeout_s` (less a grace period), interrupt it as Ctrl-C would, so that
    pytest ends its session and writes what the checks that ended decided, and kill it only if it does not."""
    process = subprocess.Popen(command, cwd=ROOT)
    try:
        return process.wait(max(timeout_s - INTERRUPT_GRACE_S, 1))
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        print("interrupted at the end of the budget", flush=True)
    try:
        return process.wait(INTERRUPT_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def pytest_part(out: Path, name: str, modules: tuple[str, ...], args: argparse.Namespace, timeout_s: float) -> None:
    """The slow tier's checks of claim modules, as pytest runs them: out/NAME_claims.json and NAME_report.md,
    and the verdicts as store entries (out/full_scale.json) to keep in the repository. Flat files only: a GPU
    machine's output folder gives back a few files, not a report's plots."""
    with tempfile.TemporaryDirectory() as report:
        # pytest's cache stays on: a rerun of the part on the same machine reads the sweep's finished groups back
        paths = [str(ROOT / "claims" / module) for module in modules]
        command = [sys.executable, "-m", "pytest", *plugin_option(), *paths, "-m", "slow", "-q",
                   "--device", args.device, "--data-dir", str(args.data_dir),
                   "--claims-report", report, "--claims-store", str(out / "full_scale.json"), "--claims-store-update",
                   *(["-p", "benchmarks.tiny_full_scale"] if args.tiny else [])]
        print(f"{name}: pytest exited {run_within(command, timeout_s)}", flush=True)
        for kept in ("claims.json", "report.md"):
            if (Path(report) / kept).exists():
                shutil.copy(Path(report) / kept, out / f"{name}_{kept}")
                print(f"wrote {out / f'{name}_{kept}'}", flush=True)


def speed_part(out: Path, device: torch.device, data: cifar.Cifar10, size: dict) -> None:
    """Seconds per model-epoch, the document's loop against ours, one epoch at SPEED_BLOCKS, ReLU."""
    shape = argparse.Namespace(width=size["width"], blocks=list(SPEED_BLOCKS), activations=["relu"],
                               seeds=size["seeds"], epochs=1, train=size["train"], test=size["test"],
                               batch_size=size["batch_size"], workers=size["workers"], reference_epochs=1)
    seeds = derive_seeds(0, shape.seeds, "gpu-window")
    settings = replace(DOCUMENT, epochs=1, batch_size=shape.batch_size, width=shape.width)
    on_device, clock = to_device(data, device), GroupClock()
    synchronize(device)
    start = time.perf_counter()
    sweep(on_device, grid(shape.activations, shape.blocks), seeds, settings, device, progress=clock)
    ours_s = time.perf_counter() - start
    loaders = documents_loaders(data, shape)
    rows = {}
    for run in grid(shape.activations, shape.blocks):
        theirs, _ = documents_model(loaders, run[1], run[0], seeds[0], shape, device)
        ours = clock.seconds[run] / shape.seeds
        rows[f"{run[0]} {run[1]} blocks"] = {"document_s_per_model_epoch": theirs, "ours_s_per_model_epoch": ours,
                                              "ratio": theirs / ours}
    flops = sweep_flops(shape)
    write(out, "speed.json", {"models": rows, "our_convolution_tflops": flops / ours_s / 1e12,
                              "fraction_of_tf32_dense_peak": flops / ours_s / TF32_DENSE_PEAK,
                              "fraction_of_bf16_dense_peak": flops / ours_s / BF16_DENSE_PEAK,
                              "seeds_grouped": shape.seeds, "train_images": shape.train})


def bf16_part(out: Path, device: torch.device, data: cifar.Cifar10, size: dict) -> None:
    """The same slice trained in fp32 and with bf16 autocast and channels_last, seed by seed: accuracy differences."""
    runs, seeds = grid(["relu", "sigmoid"], size["bf16_blocks"]), derive_seeds(0, size["seeds"], "gpu-window-bf16")
    on_device = to_device(data, device)
    accuracy, seconds = {}, {}
    for name, fast in (("fp32", False), ("bf16_channels_last", True)):
        settings = replace(DOCUMENT, epochs=size["bf16_epochs"], batch_size=size["batch_size"], width=size["width"],
                           bf16=fast, channels_last=fast)
        synchronize(device)
        start = time.perf_counter()
        result = sweep(on_device, runs, seeds, settings, device)
        seconds[name] = time.perf_counter() - start
        accuracy[name] = {f"{m.activation} {m.blocks} blocks seed {m.seed}": 100 * m.best_test_accuracy
                          for m in result.models}
    differences = [accuracy["bf16_channels_last"][k] - v for k, v in accuracy["fp32"].items()]
    write(out, "bf16.json", {"best_test_accuracy": accuracy, "seconds": seconds, "epochs": size["bf16_epochs"],
                             "mean_difference_points": mean(differences),
                             "largest_difference_points": max(differences, key=abs)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="the folder holding cifar-10-batches-py")
    parser.add_argument("--out", type=Path, required=True, help="where every part writes its files")
    parser.add_argument("--tiny", action="store_true", help="every part on the CPU, shrunk to seconds (CI)")
    parser.add_argument("--budget-s", type=float, default=BUDGET_S, help=f"wall time for all parts ({BUDGET_S})")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="the parts to run, e.g. the ones a cut run did not finish (default: all, in order)")
    args = parser.parse_args()
    args.data_dir, args.out = args.data_dir.resolve(), args.out.resolve()   # the pytest parts run from the root
    args.device = "cpu" if args.tiny else "cuda"
    device = resolve_device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    data = cifar.load(args.data_dir)
    size = SLICES["tiny" if args.tiny else "full"]
    sliced = data.subset(size["train"], size["test"]) if args.tiny else data

    def left() -> float:
        return args.budget_s - (time.perf_counter() - start)

    device_part(args.out, device, data)
    if "speed" in args.parts:
        speed_part(args.out, device, sliced, size)
    if "bf16" in args.parts:
        bf16_part(args.out, device, sliced, size)
    if "depth" in args.parts:
        pytest_part(args.out, "depth", ("test_depth.py", "test_relu_family.py"), args, timeout_s=max(left(), 1))
    if "glorot" in args.parts and left() > (0 if args.tiny else GLOROT_ESTIMATE_S):
        pytest_part(args.out, "glorot", ("test_glorot_bengio.py",), args, timeout_s=left())
    elif "glorot" in args.parts:
        print(f"glorot: skipped, {left():.0f} s left of the budget; run it alone: --parts glorot", flush=True)
    print(f"done in {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
