"""A model after surgery trains under DistributedDataParallel (2 CPU processes, gloo): gradients agree."""

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from liftpool_lightning import lifting_loss, replace_pooling


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _EncoderDecoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.mid = nn.Conv2d(4, 4, 3, padding=1)
        self.unpool = nn.MaxUnpool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv(x)
        x, index = self.pool(a)
        return self.unpool(self.mid(x), index, output_size=a.shape)


def _worker(rank: int, port: int, result_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        model = _EncoderDecoder()
        replace_pooling(model, "lift", torch.randn(1, 3, 16, 16))
        ddp = DistributedDataParallel(model)
        torch.manual_seed(rank)  # each rank sees different data
        out = ddp(torch.randn(2, 3, 16, 16))
        (out.square().mean() + lifting_loss(model)).backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters()])
        torch.save(grads, os.path.join(result_dir, f"grads{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_ddp_after_surgery_synchronises_liftpool_gradients(tmp_path) -> None:
    mp.start_processes(_worker, args=(_free_port(), str(tmp_path)), nprocs=2, start_method="spawn")
    grads0 = torch.load(tmp_path / "grads0.pt")
    grads1 = torch.load(tmp_path / "grads1.pt")
    assert grads0.abs().sum() > 0
    torch.testing.assert_close(grads0, grads1)  # all-reduced: the same on both ranks
