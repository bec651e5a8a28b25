"""A small residual CNN written the usual way, to try ``--model`` on:

    python -m theory.verify frozen cloned rank metrics --model examples/tiny_resnet.py:make --data X.pt

``make()`` returns the network with two stem channels pushed far below zero (dead on any data), so
the frozen checks have something to find.
"""

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.c2, self.b2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        h = F.relu(self.b1(self.c1(x)))
        return F.relu(x + self.b2(self.c2(h)))


class TinyResNet(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.blocks = nn.Sequential(Block(16), Block(16))
        self.fc1, self.fc2 = nn.Linear(16, 32), nn.Linear(32, classes)

    def forward(self, x):
        h = self.blocks(torch.relu(self.stem(x)))
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return self.fc2(F.relu(self.fc1(h)))


def make() -> nn.Module:
    torch.manual_seed(0)
    net = TinyResNet()
    with torch.no_grad():
        net.stem.bias[:2] = -50.0
    return net
