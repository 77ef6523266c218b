"""``liftpool demo``: a few seconds on the CPU that show what the LiftPool layers do, on generated images.

It prints (1) where edges of each orientation land among the Haar sub-bands, (2) learned P/U trained on
synthetic scenes to reduce the constraint losses, and (3) the float64 round-trip error of LiftDownPool ->
LiftUpPool. Everything is generated from a seed: no download.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from liftpool_lightning.data.shapes import SyntheticShapes
from liftpool_lightning.nn import LiftDownPool2d, LiftUpPool2d, lifting_loss


def edge_image(kind: str, size: int = 32) -> Tensor:
    """A (1, 1, size, size) test image: a ``horizontal`` or ``vertical`` step edge, or a ``checkerboard``."""
    rows = torch.arange(size).view(-1, 1).expand(size, size)
    cols = torch.arange(size).view(1, -1).expand(size, size)
    masks = {
        "horizontal": rows >= size // 2 + 1,
        "vertical": cols >= size // 2 + 1,
        "checkerboard": (rows + cols) % 2 == 0,
    }
    return masks[kind].to(torch.float64).view(1, 1, size, size)


def run_demo(steps: int = 60, seed: int = 0, echo: Callable[[str], None] = print) -> dict[str, float]:
    """Run the demo, print its report through ``echo`` and return its key numbers."""
    torch.manual_seed(seed)
    results: dict[str, float] = {}

    echo("1. Where structure lands: energy share of each Haar sub-band (LiftDownPool2d(lifting='haar'))")
    haar = LiftDownPool2d(lifting="haar")
    echo(f"   {'image':<13}" + "".join(f"{name.upper():>8}" for name in ("lh", "hl", "hh")))
    for kind in ("horizontal", "vertical", "checkerboard"):
        bands = haar.decompose(edge_image(kind))
        energy = {name: float(bands[name].pow(2).sum()) for name in ("lh", "hl", "hh")}
        total = sum(energy.values())
        echo(f"   {kind:<13}" + "".join(f"{energy[n] / total:>8.2f}" for n in energy))
        results[f"haar_{kind}_lh_share"] = energy["lh"] / total

    echo(f"2. Learned P/U (kernel 5, random start) trained {steps} steps on synthetic scenes to reduce c_u + c_p")
    generator = torch.Generator().manual_seed(seed)
    shapes = SyntheticShapes(32, image_size=32, seed=seed)  # the embedded dataset's textured shapes, in [0, 1]
    scenes = torch.stack([shapes[i][0] for i in range(len(shapes))])
    pool = LiftDownPool2d(channels=3, kernel_size=5, init="kaiming")  # random P/U, so the losses have work to do
    optimizer = torch.optim.Adam(pool.parameters(), lr=0.02)
    for step in range(steps + 1):
        batch = scenes[torch.randint(0, len(scenes), (8,), generator=generator)]
        pool(batch)
        loss = lifting_loss(pool, lambda_u=1.0, lambda_p=1.0)
        if step in (0, steps):
            losses = pool.last_losses
            if losses is None:
                raise RuntimeError("the pool recorded no constraint losses in its forward")
            c_u, c_p = (value.item() for value in losses)
            echo(f"   step {step:>4}: c_u={c_u:.4f}  c_p={c_p:.4f}")
            results[f"loss_step_{step}"] = loss.item()
        if step < steps:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    echo("3. Round trip LiftDownPool2d -> LiftUpPool2d in float64 (learned P/U, odd size 33x31)")
    pool = pool.to(torch.float64)
    x = torch.randn(2, 3, 33, 31, dtype=torch.float64, generator=generator)
    with torch.no_grad():
        bands = pool.decompose(x)
        restored = LiftUpPool2d(pool)(bands.ll, bands)
    error = float((restored - x).abs().max())
    echo(f"   pooled {tuple(x.shape)} -> {tuple(bands.ll.shape)}; max |x - x_rec| = {error:.2e}")
    results["round_trip_error"] = error
    return results
