"""All metrics of a ResNet-18-shaped CNN over 10,000 CIFAR-sized inputs, against one forward pass.

    python -m benchmarks.metrics_scale [--samples 10000] [--chunk 500] [--repeats 1] [--device cpu]

The network is torchvision's ResNet-18 layout written out here (7×7 stride-2 stem, max pool, four
stages of two basic blocks with 64–512 channels, BatchNorm, in-place ReLU, global average pool, 1000
classes: 11.7M parameters), in eval mode, on N(0, 1) inputs of 3 × 32 × 32 with random class targets.
Printed, in one process (so the ratio is not skewed by other load between runs):

- ``forward``: one chunked no-grad forward pass over all inputs — the reference;
- ``metrics``: ``numerics.probes.measure`` — exact/paper/ReDo dead, duplicates, effective (centred and
  uncentred), stable, participation and numerical rank of all 17 activation sites from one chunked
  pass, the exact clone partition of the weights, the certificate, the manifold dimension, and the
  saturated measures from the gradient on the first 256 inputs (one fixed batch, as the paper does);

each as wall and CPU seconds (user + system of this process), and metrics / forward.
Target (issue 8): metrics ≤ 2 × forward on 2 cores. ``--device cuda`` runs the same on a GPU when
one is there (not run for the figures in the README: no GPU was available).
"""

from __future__ import annotations

import argparse
import os
import time

from theory import threads


def resnet18(classes: int = 1000):
    import torch.nn as nn

    class Basic(nn.Module):
        def __init__(self, c_in: int, c: int, stride: int):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)
            self.relu = nn.ReLU(inplace=True)
            self.down = None
            if stride != 1 or c_in != c:
                self.down = nn.Sequential(nn.Conv2d(c_in, c, 1, stride, bias=False), nn.BatchNorm2d(c))

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            identity = x if self.down is None else self.down(x)
            return self.relu(out + identity)

    class ResNet18(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            layers, c_in = [], 64
            for c, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                layers.append(nn.Sequential(Basic(c_in, c, stride), Basic(c, c, 1)))
                c_in = c
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet18()


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def timed(fn):
    wall, cpu = time.perf_counter(), cpu_seconds()
    out = fn()
    return time.perf_counter() - wall, cpu_seconds() - cpu, out


def main() -> None:
    threads.configure()
    import torch

    from numerics import probes

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--chunk", type=int, default=500)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = p.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("metrics_scale: --device cuda but no CUDA device is available")
    torch.manual_seed(0)
    model = resnet18().to(args.device).eval()
    X = torch.randn(args.samples, 3, 32, 32, device=args.device)
    y = torch.randint(0, 1000, (args.samples,), device=args.device)
    params = sum(q.numel() for q in model.parameters())
    print(f"ResNet-18 layout, {params / 1e6:.1f}M parameters, {args.samples} inputs of 3x32x32, chunk "
          f"{args.chunk}, "
          f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads")

    def forward():
        with torch.no_grad():
            for x in X.split(args.chunk):
                model(x)

    def metrics():
        return probes.measure(model, X, y, chunk=args.chunk)

    for r in range(args.repeats):
        fw, fc, _ = timed(forward)
        mw, mc, m = timed(metrics)
        print(f"run {r + 1}: forward {fw:.1f} s wall ({fc:.1f} s CPU); metrics {mw:.1f} s wall ({mc:.1f} s "
              "CPU); "
              f"ratio {mw / fw:.2f} wall, {mc / fc:.2f} CPU (target ≤ 2)")
    print(f"{len(m.layers)} sites; exact dead {sum(layer.exact_dead for layer in m.layers)}; clone blocks "
          f"{sum(len(layer.clone_blocks or []) for layer in m.layers)}; unit graph "
          f"{'built' if m.graph.supported else m.graph.reason}; trapped {m.trapped}")


if __name__ == "__main__":
    main()
