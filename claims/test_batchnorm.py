"""BatchNorm adds two trained parameters per channel (gamma, beta) and two running statistics that are not trained.

Counting: "trained" are parameters that require grad and receive one from a backward pass; "running statistics" are
floating-point buffers (running_mean, running_var), updated by train-mode forward passes, never by gradients.
num_batches_tracked is an integer buffer, one counter per module whatever its width, so it is counted apart and
not as a per-channel statistic.
"""
import torch
from hypothesis import given, strategies as st
from torch import nn

from harness.claim import Claim
from harness.stats import all_of, exact_test
from harness.verdicts import Decision

TWO_PARAMS = Claim(
    id="batchnorm-two-params",
    source="002_f53af5c4161cb5ad.txt",
    quote="Batch Normalization adds only two extra parameters per activation",
    statement="BatchNorm adds exactly 2 trainable parameters per channel/feature "
              "(plus 2 non-trained running statistics).",
)

SIZES, MAX_CHANNELS, MAX_SIDE, BATCH = 8, 256, 8, 2


PROTOCOL = {"fast": {"task": "generated (channels, height, width) shapes and random batches",
                     "model": "torch's BatchNorm2d (and LayerNorm over a feature map), as built and after a "
                              "train-mode forward and backward pass", "optimizer": "none", "seeds": 1,
                     "evaluation": "counts of trained parameters and of floating-point running statistics"}}


def generated_shapes(rng: torch.Generator) -> list[tuple[int, int, int]]:
    """(channels, height, width) per generated size; BatchNorm1d takes the channels as features."""
    channels = torch.randint(1, MAX_CHANNELS + 1, (SIZES,), generator=rng, device=rng.device)
    sides = torch.randint(1, MAX_SIDE + 1, (SIZES, 2), generator=rng, device=rng.device)
    return [(c, h, w) for c, (h, w) in zip(channels.tolist(), sides.tolist())]


def batchnorms(shape: tuple[int, int, int], rng: torch.Generator, **options) -> list[tuple[nn.Module, torch.Tensor]]:
    """A BatchNorm1d over C features and a BatchNorm2d over C channels of H x W maps, each with a batch to run."""
    c, h, w = shape
    kw = dict(generator=rng, device=rng.device)
    return [(nn.BatchNorm1d(c, device=rng.device, **options), torch.randn(BATCH, c, **kw)),
            (nn.BatchNorm2d(c, device=rng.device, **options), torch.randn(BATCH, c, h, w, **kw))]


def counts(module: nn.Module, batch: torch.Tensor) -> dict[str, int]:
    """After one train-mode forward and backward: trained parameters, running statistics, counters, and how many
    running-statistic elements the forward changed."""
    module.train()
    before = {name: b.clone() for name, b in module.named_buffers()}
    module(batch.requires_grad_()).square().sum().backward()  # a grad path even without gamma and beta
    statistics = {name: b for name, b in module.named_buffers() if b.is_floating_point()}
    return {"trained": sum(p.numel() for p in module.parameters() if p.requires_grad and p.grad is not None),
            "running_statistics": sum(b.numel() for b in statistics.values()),
            "updated_statistics": sum(int((b != before[name]).sum()) for name, b in statistics.items()),
            "counters": sum(b.numel() for b in module.buffers() if not b.is_floating_point())}


def counted(shapes: list[tuple[int, int, int]], rng: torch.Generator, **options) -> list[tuple[int, dict[str, int]]]:
    return [(shape[0], counts(module, batch))
            for shape in shapes for module, batch in batchnorms(shape, rng, **options)]


def per_channel_rule(counted_modules: list[tuple[int, dict[str, int]]], kind: str, name: str) -> Decision:
    worst = max(abs(c[kind] - 2 * channels) for channels, c in counted_modules)
    return exact_test(worst, 1, name=f"{name}: worst |{kind} - 2 C|")


@TWO_PARAMS.check(expected="supported")
def test_batchnorm_adds_two_trained_parameters_per_channel(scale, evidence, rng):
    shapes = generated_shapes(rng)
    affine, plain = counted(shapes, rng), counted(shapes, rng, affine=False)  # no gamma and beta: nothing trained
    evidence.measure(channels=[c for c, _ in affine], trained=[n["trained"] for _, n in affine],
                     trained_without_affine=[n["trained"] for _, n in plain])
    evidence.conclude(per_channel_rule(affine, "trained", "BatchNorm"),
                      mechanism_removed=per_channel_rule(plain, "trained", "BatchNorm(affine=False)"))


def running_statistics_rule(counted_modules: list[tuple[int, dict[str, int]]], name: str) -> Decision:
    """Two statistics per channel, all of them updated by the forward pass, plus one counter per module."""
    worst_counter = max(abs(c["counters"] - 1) for _, c in counted_modules)
    return all_of([per_channel_rule(counted_modules, "running_statistics", name),
                   per_channel_rule(counted_modules, "updated_statistics", name),
                   exact_test(worst_counter, 1, name=f"{name}: worst |counters - 1|")],
                  name=f"{name} running statistics")


@TWO_PARAMS.check(expected="supported")
def test_batchnorm_keeps_two_untrained_running_statistics_per_channel(scale, evidence, rng):
    shapes = generated_shapes(rng)
    tracked, untracked = counted(shapes, rng), counted(shapes, rng, track_running_stats=False)
    evidence.measure(channels=[c for c, _ in tracked], running_statistics=[n["running_statistics"] for _, n in tracked],
                     counters=[n["counters"] for _, n in tracked])
    evidence.conclude(running_statistics_rule(tracked, "BatchNorm"),
                      mechanism_removed=running_statistics_rule(untracked, "BatchNorm(track_running_stats=False)"))


@given(channels=st.integers(1, 32), height=st.integers(1, 6), width=st.integers(1, 6))
def test_layernorm_over_a_feature_map_adds_two_per_activation_not_per_channel(channels, height, width):
    norm = nn.LayerNorm([channels, height, width])
    trained = counts(norm, torch.randn(BATCH, channels, height, width))["trained"]
    assert trained == 2 * channels * height * width
