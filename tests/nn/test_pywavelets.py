"""The fixed lifting modes against PyWavelets, with the exact scale and sign of every band.

Per 1D step, our (s, d) relate to PyWavelets' orthonormal (cA, cD) by ``s = cA / sqrt(2)`` and
``d = -sqrt(2) * cD`` (Haar; LeGall 5/3 against ``bior2.2``). In 2D this gives, for ``pywt.dwt2(x, 'haar')``
returning ``cA, (cH, cV, cD)``: ``ll = cA / 2``, ``lh = -cH``, ``hl = -cV``, ``hh = 2 * cD``.
"""

import math

import numpy as np
import pytest
import torch

from liftpool_lightning.nn import LiftDownPool1d, LiftDownPool2d, LiftDownPool3d

pywt = pytest.importorskip("pywt")


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


@pytest.mark.parametrize("shape", [(2, 2), (8, 10), (16, 6), (32, 32)])
def test_haar_2d_matches_pywt_dwt2(shape: tuple[int, int]) -> None:
    x = torch.randn(2, 3, *shape, dtype=torch.float64)
    bands = LiftDownPool2d(lifting="haar").decompose(x)
    c_a, (c_h, c_v, c_d) = pywt.dwt2(_np(x), "haar", axes=(-2, -1))
    np.testing.assert_allclose(_np(bands.ll), c_a / 2, atol=1e-12)
    np.testing.assert_allclose(_np(bands.lh), -c_h, atol=1e-12)
    np.testing.assert_allclose(_np(bands.hl), -c_v, atol=1e-12)
    np.testing.assert_allclose(_np(bands.hh), 2 * c_d, atol=1e-12)


@pytest.mark.parametrize("length", [1, 3, 5, 8, 17, 64, 127])
def test_haar_1d_matches_pywt_symmetric_mode_on_any_length(length: int) -> None:
    """Odd lengths are extended by one sample; with padding_mode='symmetric' that is PyWavelets' default mode."""
    x = torch.randn(4, 2, length, dtype=torch.float64)
    bands = LiftDownPool1d(lifting="haar", padding_mode="symmetric").decompose(x)
    c_a, c_d = pywt.dwt(_np(x), "haar", mode="symmetric", axis=-1)
    assert bands.l.shape[-1] == c_a.shape[-1] == math.ceil(length / 2)
    np.testing.assert_allclose(_np(bands.l), c_a / math.sqrt(2), atol=1e-12)
    np.testing.assert_allclose(_np(bands.h), -math.sqrt(2) * c_d, atol=1e-12)


def test_haar_3d_matches_pywt_dwtn() -> None:
    x = torch.randn(1, 2, 4, 6, 8, dtype=torch.float64)
    bands = LiftDownPool3d(lifting="haar").decompose(x)
    coefficients = pywt.dwtn(_np(x), "haar", axes=(-3, -2, -1))
    for name, band in bands.items():
        # our names list the lifted axes W, H, D; PyWavelets' keys list axes D, H, W with 'a'/'d'
        key = "".join("a" if letter == "l" else "d" for letter in reversed(name))
        scale = math.prod(1 / math.sqrt(2) if letter == "l" else -math.sqrt(2) for letter in name)
        np.testing.assert_allclose(_np(band), scale * coefficients[key], atol=1e-12, err_msg=name)


@pytest.mark.parametrize("length", [4, 16, 50])
def test_legall53_1d_matches_pywt_bior22_periodization(length: int) -> None:
    x = torch.randn(3, 1, length, dtype=torch.float64)
    bands = LiftDownPool1d(lifting="legall53", padding_mode="circular").decompose(x)
    c_a, c_d = pywt.dwt(_np(x), "bior2.2", mode="periodization", axis=-1)
    np.testing.assert_allclose(_np(bands.l), c_a / math.sqrt(2), atol=1e-12)
    np.testing.assert_allclose(_np(bands.h), -math.sqrt(2) * c_d, atol=1e-12)


def test_legall53_2d_matches_pywt_bior22_periodization() -> None:
    x = torch.randn(1, 2, 12, 20, dtype=torch.float64)
    bands = LiftDownPool2d(lifting="legall53", padding_mode="circular").decompose(x)
    c_a, (c_h, c_v, c_d) = pywt.dwt2(_np(x), "bior2.2", mode="periodization", axes=(-2, -1))
    np.testing.assert_allclose(_np(bands.ll), c_a / 2, atol=1e-12)
    np.testing.assert_allclose(_np(bands.lh), -c_h, atol=1e-12)
    np.testing.assert_allclose(_np(bands.hl), -c_v, atol=1e-12)
    np.testing.assert_allclose(_np(bands.hh), 2 * c_d, atol=1e-12)


def test_legall53_predicts_a_linear_ramp_exactly_inside_the_signal() -> None:
    """LeGall 5/3 P is linear interpolation: a ramp leaves no detail except at the extended right border."""
    x = torch.arange(16, dtype=torch.float64).view(1, 1, 16)
    bands = LiftDownPool1d(lifting="legall53").decompose(x)
    np.testing.assert_allclose(_np(bands.h)[..., :-1], 0.0, atol=1e-12)
    assert abs(float(bands.h[..., -1])) == 1.0
