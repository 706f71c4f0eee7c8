"""Type stubs of ``nn``: the series' ``nn.py`` (columns, ``train(x, t)`` per sample),
backed by nn's Rust engine, with batch training in Python's conventions (rows)."""

from os import PathLike
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

ArrayLike = npt.ArrayLike
Target = Union[int, np.integer, npt.ArrayLike]
DType = Literal["float64", "float32"]
Init = Literal["original", "he_normal", "he_uniform", "xavier_normal", "xavier_uniform"]

class DivergedError(ArithmeticError):
    """Training or inference produced NaN or an infinity; the update was not applied."""

def seed(seed: int) -> None:
    """Seeds the generator of every later ``Layer`` built without ``seed=``."""

class ActivationFunction:
    """Base class: ``f(x)`` and its derivative ``df(x)``, elementwise on arrays. Subclass it
    in Python to write a new one (it trains on a slower path that calls it)."""
    def __init__(self, *args: Any, **kwargs: Any) -> None: ...
    def f(self, x: ArrayLike) -> np.ndarray:
        """The function, elementwise."""
    def df(self, x: ArrayLike) -> np.ndarray:
        """Its derivative, elementwise."""

class LeakyReLU(ActivationFunction):
    """``f(x) = max(x, alpha·x)``, ``df(x) = 1 if x > 0 else alpha``."""
    def __init__(self, leaky_param: float = 0.1) -> None: ...
    @property
    def alpha(self) -> float: ...

class ReLU(ActivationFunction):
    """``f(x) = max(x, 0)``."""
    def __init__(self) -> None: ...

class Sigmoid(ActivationFunction):
    """``f(x) = 1/(1 + e^-x)``."""
    def __init__(self) -> None: ...

class Tanh(ActivationFunction):
    """``f(x) = tanh(x)``."""
    def __init__(self) -> None: ...

class Identity(ActivationFunction):
    """``f(x) = x`` (a last layer of logits)."""
    def __init__(self) -> None: ...

Id = Identity

class LossFunction:
    """Base class: ``loss(values, expected)`` and ``dloss(values, expected)`` for one
    sample (a column and its target). Subclass it in Python to write a new one."""
    def __init__(self, *args: Any, **kwargs: Any) -> None: ...
    def loss(self, values: ArrayLike, expected: Target) -> float:
        """The loss."""
    def dloss(self, values: ArrayLike, expected: Target) -> np.ndarray:
        """Its gradient with respect to ``values``."""

class MSELoss(LossFunction):
    """``mean((values - expected)²)``; ``expected`` a column of the output's shape."""
    def __init__(self) -> None: ...

class CrossEntropyLoss(LossFunction):
    """``-values[c] + log(Σ e^values)`` for a class index ``c`` (computed stably)."""
    def __init__(self) -> None: ...

class SGD:
    """Stochastic gradient descent, with optional momentum, Nesterov and weight decay."""
    lr: float
    momentum: float
    nesterov: bool
    weight_decay: float
    def __init__(
        self, lr: float, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0
    ) -> None: ...

class Adam:
    """Adam, or AdamW with ``decoupled=True``."""
    lr: float
    betas: Tuple[float, float]
    eps: float
    weight_decay: float
    decoupled: bool
    def __init__(
        self,
        lr: float = 1e-3,
        betas: Tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled: bool = False,
    ) -> None: ...

class Layer:
    """A dense layer: ``_W`` ``(outs, ins)``, ``_b`` ``(outs, 1)``, an activation."""
    def __init__(
        self,
        ins: int,
        outs: int,
        act_function: ActivationFunction,
        *,
        init: Init = "original",
        seed: Optional[int] = None,
    ) -> None: ...
    @property
    def ins(self) -> int: ...
    @property
    def outs(self) -> int: ...
    @property
    def act_function(self) -> ActivationFunction: ...
    _W: np.ndarray
    _b: np.ndarray
    W: np.ndarray
    b: np.ndarray
    def forward_pass(self, x: ArrayLike) -> np.ndarray:
        """``act_function.f(_W·x + _b)`` for a column ``x``."""

class NeuralNetwork:
    """Compatible layers, a loss function and a learning rate (the original's), plus
    ``fit``/``predict``/``evaluate`` on rows, ``backprop``, ``save`` and ``load``."""
    lr: float
    def __init__(
        self,
        layers: Sequence[Layer],
        loss_function: LossFunction,
        learning_rate: float,
        *,
        dtype: DType = "float64",
    ) -> None: ...
    @property
    def _layers(self) -> List[Layer]: ...
    @property
    def layers(self) -> List[Layer]: ...
    @property
    def _loss_function(self) -> LossFunction: ...
    @property
    def loss_function(self) -> LossFunction: ...
    @property
    def dtype(self) -> DType: ...
    @property
    def steps(self) -> int: ...
    def forward_pass(self, x: ArrayLike) -> np.ndarray:
        """The output for a column ``x`` ``(ins, 1)`` (or columns), any numeric dtype."""
    def loss(self, values: ArrayLike, expected: Target) -> float:
        """The loss of ``values`` against ``expected``."""
    def train(self, x: ArrayLike, t: Target) -> None:
        """One SGD step on the column ``x`` and its target ``t`` (after 64 in a row,
        queued and trained in blocks; a read of the network trains the queue)."""
    def backprop(
        self, x: ArrayLike, t: Target
    ) -> Tuple[List[np.ndarray], List[np.ndarray], List[np.ndarray]]:
        """The article's ``dxs, dWs, dbs``, without an update."""
    def fit(
        self,
        x: ArrayLike,
        y: ArrayLike,
        *,
        epochs: int = 1,
        batch_size: int = 32,
        optimizer: Optional[Union[SGD, Adam]] = None,
        validation: Optional[Tuple[ArrayLike, ArrayLike]] = None,
        seed: Optional[int] = None,
        shuffle: bool = True,
        verbose: bool = False,
    ) -> Dict[str, List[Optional[float]]]:
        """Mini-batch training on rows ``X`` ``(n, ins)`` and labels or values ``y``."""
    def predict(self, x: ArrayLike) -> np.ndarray:
        """The predicted class of each row."""
    def predict_proba(self, x: ArrayLike) -> np.ndarray:
        """The softmax of the outputs of each row, ``(n, outs)``."""
    def evaluate(self, x: ArrayLike, y: ArrayLike, *, batch_size: int = 256) -> Dict[str, float]:
        """Loss and accuracy (or regression errors) over rows."""
    def save(self, path: Union[str, PathLike]) -> None:
        """Saves to a safetensors file (the Rust side's format)."""
    @staticmethod
    def load(path: Union[str, PathLike]) -> "NeuralNetwork":
        """Loads a file saved by ``save`` or by the Rust side."""
