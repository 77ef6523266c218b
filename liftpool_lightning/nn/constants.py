"""Typed choices shared by the lifting layers: schemes, padding modes and sub-band names."""

from __future__ import annotations

import itertools
from typing import Literal, get_args

LiftingScheme = Literal["learned", "haar", "legall53"]
"""How P and U are made: ``learned`` convolutions (the paper), or fixed ``haar`` / ``legall53`` stencils."""

PaddingMode = Literal["zeros", "reflect", "symmetric", "replicate", "circular"]
"""Signal extension at the borders, for the P/U filters and for odd lengths.

``zeros``: 0 0 | a b c;  ``reflect`` (whole-sample): c b | a b c;  ``symmetric`` (half-sample, PyWavelets'
``symmetric``): b a | a b c;  ``replicate``: a a | a b c;  ``circular``: b c | a b c. Every mode works on any
length, even a single sample (``reflect`` of a length-1 signal repeats it).
"""

ConstraintGradients = Literal["operators", "all"]
"""Where the gradients of the constraint losses c_u and c_p go.

``operators`` (the default): to the parameters of P and U only; each lifting step's input is detached inside the
losses, so the losses train the predictor and updater but do not pull on the features fed to the layer (the
network's task loss alone shapes those). ``all``: the paper's equations differentiated as they stand, so the losses
also reach the layer's input and, through it, every layer before it. Parameter gradients agree between the two for a
single lifting step; the documentation's "The layers" page has the measurements behind the default.
"""

OperatorInit = Literal["kaiming", "haar", "max"]
"""How learned P/U start: ``kaiming`` (random, like ``nn.Conv1d``: the paper's, which names none), ``haar`` (P = x_e,
U = d / 2: the low band starts as the pair mean) or ``max`` (P = x_e, U = relu(d): the max-lifting scheme, whose low
band ``s = x_e + relu(x_o - x_e) = max(x_e, x_o)`` starts as max pooling). Exact with ``activation="identity"``;
under the paper's tanh only for small values."""

OperatorActivation = Literal["tanh", "identity"]
"""The last activation of learned P/U: ``tanh`` (the paper's ``Tanh(Conv(ReLU(Conv(x))))``, bounded to (-1, 1)) or
``identity`` (unbounded: ``Conv(ReLU(Conv(x)))``, which can be exactly the identity and ReLU a Haar or max-lifting
step needs at any feature scale)."""

PAPER_OPTIONS: dict[str, str] = {"bands": "all", "init": "kaiming", "activation": "tanh", "constraint_gradients": "all"}
"""The paper's LiftDownPool as options of this package's layer: every sub-band summed, P/U random and ending in
``tanh``, the constraint losses differentiated as written (into the features too). The defaults differ (the low
band alone, starting as max pooling, unbounded P/U, losses on P/U only); ``pool="lift_paper"`` in the surgery and the
tasks, or ``LiftDownPool2d(C, **PAPER_OPTIONS)``. Why: the documentation's "The layers" page."""

MissingDetails = Literal["error", "zeros"]
"""What LiftUpPool does when no detail bands are given or recorded."""

LIFTING_SCHEMES: tuple[str, ...] = get_args(LiftingScheme)
PADDING_MODES: tuple[str, ...] = get_args(PaddingMode)
MISSING_DETAILS: tuple[str, ...] = get_args(MissingDetails)
CONSTRAINT_GRADIENTS: tuple[str, ...] = get_args(ConstraintGradients)
OPERATOR_INITS: tuple[str, ...] = get_args(OperatorInit)
OPERATOR_ACTIVATIONS: tuple[str, ...] = get_args(OperatorActivation)

AXIS_LETTERS = ("w", "h", "d")
"""Names of the lifted axes in the order they are lifted: last spatial axis (W) first."""


def band_names(spatial_dims: int) -> tuple[str, ...]:
    """Sub-band names of an n-D decomposition, ``l``/``h`` per lifted axis, in lifting order (W, H, D).

    1D: ``l, h``; 2D: ``ll, lh, hl, hh``; 3D: ``lll ... hhh``. In 2D, ``lh`` is low along W and high along H
    (horizontal edges, PyWavelets' cH) and ``hl`` is high along W and low along H (vertical edges, cV).
    """
    return tuple("".join(letters) for letters in itertools.product("lh", repeat=spatial_dims))


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise ValueError naming the argument when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
