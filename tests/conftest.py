import contextlib
import os
from collections.abc import Iterator

import torch

if not torch.cuda.is_available():  # the Triton kernels run on CPU tensors through Triton's interpreter (set before
    os.environ.setdefault("TRITON_INTERPRET", "1")  # the package decorates them)

import pytest

from liftpool_lightning.nn.backend_config import use_backend


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cuda-standin",
        action="store_true",
        help="run every test on the CPU stand-in for the CUDA branch of the layers (C++ kernels and oneDNN off)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--cuda-standin"):
        # before anything builds the C++ kernels; the tests of the kernels themselves skip; CLI subprocesses inherit it
        os.environ["LIFTPOOL_NATIVE"] = "0"


@contextlib.contextmanager
def _cuda_standin(force: bool = True) -> Iterator[None]:
    """The layers take the steps they take on a GPU (``fused_lifting``'s PyTorch steps with plain convolutions): the
    C++ CPU kernels off (``use_backend("pytorch")``, or with ``force=False`` ``LIFTPOOL_NATIVE=0`` alone, so the
    default choice of backend stays under test) and oneDNN off (its fused CPU convolutions accept mixed dtypes that
    CUDA's do not, and would hide a dtype bug)."""
    with use_backend("pytorch") if force else contextlib.nullcontext(), torch.backends.mkldnn.flags(enabled=False):
        yield


@pytest.fixture
def cuda_standin() -> contextlib.AbstractContextManager:
    """A context manager: the CPU stand-in for the CUDA branch (see ``_cuda_standin``)."""
    return _cuda_standin()


@pytest.fixture(autouse=True)
def _standin_everywhere(request: pytest.FixtureRequest) -> Iterator[None]:
    """With ``--cuda-standin`` every test runs on the stand-in: ``LIFTPOOL_NATIVE=0`` (``pytest_configure``, also for
    subprocesses) and oneDNN off; a test's own ``use_backend`` blocks and backend switches still apply."""
    if request.config.getoption("--cuda-standin"):
        assert os.environ.get("LIFTPOOL_NATIVE") == "0"
        with _cuda_standin(force=False):
            yield
        return
    yield


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same random state."""
    torch.manual_seed(0)
