"""Document 001's CNN, alone and as M copies trained side by side in one module.

The net: conv 3 -> width (3x3, pad 1) + BatchNorm + activation, then `blocks` blocks of conv width -> width +
BatchNorm + activation at full resolution, global average pooling, linear width -> 10. Parameters start
from torch's defaults for nn.Conv2d / nn.Linear (kaiming_uniform with a = sqrt 5, so U[-1/sqrt(fan_in),
1/sqrt(fan_in)], and the same bound for biases), as the document does not change them.

GroupedCNN holds M such nets as one: every conv is grouped (groups=M), so member m owns channels
[m * width, (m + 1) * width) of every layer and never reads another member's; BatchNorm works per channel,
hence per member; the head is a grouped 1x1 conv. One forward pass runs all M nets on their own inputs.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from models.activations import ACTIVATIONS


class ActivationLayer(nn.Module):
    """A registry activation as a module, so blocks are plain nn.Sequential."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name, self.fn = name, ACTIVATIONS[name].fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.name


class Block(nn.Sequential):
    """Convolution -> BatchNorm -> activation, `groups` nets side by side."""

    def __init__(self, channels_in: int, channels_out: int, activation: str, groups: int = 1) -> None:
        super().__init__(nn.Conv2d(channels_in * groups, channels_out * groups, 3, padding=1, groups=groups),
                         nn.BatchNorm2d(channels_out * groups), ActivationLayer(activation))


class CNN(nn.Module):
    """One net, laid out as the document builds it: its parameters are drawn in the document's order."""

    def __init__(self, blocks: int, activation: str, width: int = 64, classes: int = 10) -> None:
        super().__init__()
        self.stem = Block(3, width, activation)
        self.blocks = nn.Sequential(*(Block(width, width, activation) for _ in range(blocks)))
        self.fc = nn.Linear(width, classes)

    def forward(self, x: Tensor) -> Tensor:
        """x [B, 3, H, W] -> logits [B, classes]."""
        return self.fc(self.blocks(self.stem(x)).mean((2, 3)))


def seeded_cnn(blocks: int, activation: str, seed: int, width: int = 64) -> CNN:
    """The net torch's default initialisation gives after torch.manual_seed(seed), built on the CPU without
    touching the global random state."""
    with _private_rng():
        torch.manual_seed(seed)
        return CNN(blocks, activation, width)


def _private_rng():
    """Draws inside leave the global CPU random state as it was (the CPU generator is all module init uses)."""
    return torch.random.fork_rng(devices=[])


class GroupedCNN(nn.Module):
    """M copies of CNN as one module; build it from the members with GroupedCNN.stack."""

    def __init__(self, blocks: int, activation: str, members: int, width: int = 64, classes: int = 10) -> None:
        super().__init__()
        self.members, self.width, self.classes = members, width, classes
        self.depth, self.activation = blocks, activation
        self.stem = Block(3, width, activation, members)
        self.blocks = nn.Sequential(*(Block(width, width, activation, members) for _ in range(blocks)))
        self.fc = nn.Conv2d(width * members, classes * members, 1, groups=members)

    def forward(self, x: Tensor) -> Tensor:
        """x [B, M * 3, H, W], member m's images in channels 3m to 3m + 2 -> logits [B, M, classes]."""
        h = self.blocks(self.stem(x))
        return self.fc(h.mean((2, 3), keepdim=True)).view(x.shape[0], self.members, self.classes)

    @staticmethod
    def stack(nets: Sequence[CNN]) -> GroupedCNN:
        """One grouped module holding copies of `nets` (same depth, activation and width)."""
        first = nets[0]
        with _private_rng():
            grouped = GroupedCNN(len(first.blocks), first.stem[2].name, len(nets), first.fc.in_features,
                                 first.fc.out_features).to(first.fc.weight)
        states = [net.state_dict() for net in nets]
        with torch.no_grad():
            for name, tensor in grouped.state_dict().items():
                parts = [state[name] for state in states]
                tensor.copy_(parts[0] if tensor.dim() == 0 else torch.cat([p.flatten() for p in parts]).view_as(tensor))
        return grouped

    def member(self, m: int) -> CNN:
        """A standalone copy of member m, parameters and BatchNorm running statistics included."""
        with _private_rng():
            net = CNN(self.depth, self.activation, self.width, self.classes).to(self.fc.weight)
        grouped = self.state_dict()
        with torch.no_grad():
            for name, tensor in net.state_dict().items():
                tensor.copy_(member_slice(grouped[name], m, self.members).view_as(tensor))
        return net


def member_slice(tensor: Tensor, m: int, members: int) -> Tensor:
    """Member m's part of a grouped parameter or buffer (its leading dimension splits evenly by member);
    scalars such as BatchNorm's batch counter are shared."""
    if tensor.dim() == 0:
        return tensor
    return tensor.reshape(members, -1)[m]

