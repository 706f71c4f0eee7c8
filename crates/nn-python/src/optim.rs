//! The optimizers `fit` takes: `SGD` and `Adam`, hyperparameters checked when built.

use nn_train::{Adam as RustAdam, Optimizer, Sgd};
use pyo3::prelude::*;

use crate::convert::Real;
use crate::errors::IntoPy;

/// Stochastic gradient descent: ``v ← momentum·v + g + weight_decay·θ``, then
/// ``θ ← θ - lr·v`` (or ``θ ← θ - lr·(g + momentum·v)`` with ``nesterov=True``). With the
/// defaults, the original's plain ``θ ← θ - lr·g``.
#[pyclass(module = "nn", name = "SGD", frozen)]
#[derive(Clone, Debug)]
pub(crate) struct PySgd {
    #[pyo3(get)]
    lr: f64,
    #[pyo3(get)]
    momentum: f64,
    #[pyo3(get)]
    nesterov: bool,
    #[pyo3(get)]
    weight_decay: f64,
}

#[pymethods]
impl PySgd {
    #[new]
    #[pyo3(signature = (lr, momentum = 0.0, nesterov = false, weight_decay = 0.0))]
    fn new(lr: f64, momentum: f64, nesterov: bool, weight_decay: f64) -> PyResult<Self> {
        let sgd = PySgd {
            lr,
            momentum,
            nesterov,
            weight_decay,
        };
        sgd.build::<f64>()?;
        Ok(sgd)
    }

    fn __repr__(&self) -> String {
        format!(
            "SGD(lr={}, momentum={}, nesterov={}, weight_decay={})",
            self.lr,
            self.momentum,
            if self.nesterov { "True" } else { "False" },
            self.weight_decay
        )
    }
}

impl PySgd {
    pub(crate) fn build<F: Real>(&self) -> PyResult<Box<dyn Optimizer<F>>> {
        let mut sgd = Sgd::new(F::from_f64(self.lr)).py_err()?;
        if self.momentum != 0.0 {
            sgd = sgd.with_momentum(F::from_f64(self.momentum)).py_err()?;
        }
        sgd = sgd.with_nesterov(self.nesterov);
        if self.weight_decay != 0.0 {
            sgd = sgd
                .with_weight_decay(F::from_f64(self.weight_decay))
                .py_err()?;
        }
        Ok(Box::new(sgd))
    }
}

/// Adam (Kingma & Ba), or AdamW with ``decoupled=True`` and a ``weight_decay``:
/// moments ``m ← β1·m + (1-β1)·g``, ``v ← β2·v + (1-β2)·g²``, bias-corrected, then
/// ``θ ← θ - lr·m̂/(√v̂ + eps)``.
#[pyclass(module = "nn", name = "Adam", frozen)]
#[derive(Clone, Debug)]
pub(crate) struct PyAdam {
    #[pyo3(get)]
    lr: f64,
    #[pyo3(get)]
    betas: (f64, f64),
    #[pyo3(get)]
    eps: f64,
    #[pyo3(get)]
    weight_decay: f64,
    #[pyo3(get)]
    decoupled: bool,
}

#[pymethods]
impl PyAdam {
    #[new]
    #[pyo3(signature = (lr = 1e-3, betas = (0.9, 0.999), eps = 1e-8, weight_decay = 0.0, decoupled = false))]
    fn new(
        lr: f64,
        betas: (f64, f64),
        eps: f64,
        weight_decay: f64,
        decoupled: bool,
    ) -> PyResult<Self> {
        let adam = PyAdam {
            lr,
            betas,
            eps,
            weight_decay,
            decoupled,
        };
        adam.build::<f64>()?;
        Ok(adam)
    }

    fn __repr__(&self) -> String {
        format!(
            "Adam(lr={}, betas=({}, {}), eps={}, weight_decay={}, decoupled={})",
            self.lr,
            self.betas.0,
            self.betas.1,
            self.eps,
            self.weight_decay,
            if self.decoupled { "True" } else { "False" }
        )
    }
}

impl PyAdam {
    pub(crate) fn build<F: Real>(&self) -> PyResult<Box<dyn Optimizer<F>>> {
        let f = F::from_f64;
        let mut adam = if self.decoupled {
            RustAdam::adamw(f(self.lr), f(self.weight_decay)).py_err()?
        } else {
            let adam = RustAdam::new(f(self.lr)).py_err()?;
            if self.weight_decay != 0.0 {
                adam.with_weight_decay(f(self.weight_decay)).py_err()?
            } else {
                adam
            }
        };
        adam = adam.with_betas(f(self.betas.0), f(self.betas.1)).py_err()?;
        adam = adam.with_epsilon(f(self.eps)).py_err()?;
        Ok(Box::new(adam))
    }
}

/// The engine's optimizer for a Python `SGD` or `Adam`.
pub(crate) fn optimizer_for<F: Real>(
    optimizer: &Bound<'_, PyAny>,
) -> PyResult<Box<dyn Optimizer<F>>> {
    if let Ok(sgd) = optimizer.cast::<PySgd>() {
        return sgd.get().build();
    }
    if let Ok(adam) = optimizer.cast::<PyAdam>() {
        return adam.get().build();
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "optimizer must be nn.SGD(...) or nn.Adam(...), got {}",
        optimizer.repr()?
    )))
}
