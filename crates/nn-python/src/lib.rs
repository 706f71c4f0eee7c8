//! The Python module `nn`: the series' `nn.py` (`Layer`, `LeakyReLU`, `Sigmoid`,
//! `MSELoss`, `CrossEntropyLoss`, `NeuralNetwork(layers, loss_function, learning_rate)`
//! with `forward_pass`, `loss` and `train(x, t)`), backed by nn's Rust engine, plus batch
//! training in Python's conventions (`fit`, `predict`, `evaluate`, `save`, `load`).
//!
//! Built by maturin (`pip install ./crates/nn-python`); the tests are Python
//! (`crates/nn-python/tests`, run by pytest). Only this crate depends on PyO3 and NumPy.
//!
//! Files: `network.rs` (`Layer`, `NeuralNetwork`), `functions.rs` (activations and losses,
//! with the wrappers that call a Python subclass's `f`/`df`, `loss`/`dloss`), `optim.rs`
//! (`SGD`, `Adam`), `convert.rs` (NumPy arrays in), `errors.rs` (nn's errors as Python
//! exceptions).

#![deny(missing_docs)]

mod convert;
mod errors;
mod functions;
mod network;
mod optim;

use pyo3::prelude::*;

/// The module: classes, `seed`, and `DivergedError`.
#[pymodule]
#[pyo3(name = "nn")]
fn nn_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<functions::ActivationFunction>()?;
    m.add_class::<functions::LeakyReLU>()?;
    m.add_class::<functions::ReLU>()?;
    m.add_class::<functions::Sigmoid>()?;
    m.add_class::<functions::Tanh>()?;
    m.add_class::<functions::Identity>()?;
    m.add("Id", m.getattr("Identity")?)?;
    m.add_class::<functions::LossFunction>()?;
    m.add_class::<functions::MSELoss>()?;
    m.add_class::<functions::CrossEntropyLoss>()?;
    m.add_class::<network::Layer>()?;
    m.add_class::<network::Network>()?;
    m.add_class::<optim::PySgd>()?;
    m.add_class::<optim::PyAdam>()?;
    m.add_function(wrap_pyfunction!(network::seed, m)?)?;
    m.add("DivergedError", py.get_type::<errors::DivergedError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "__doc__",
        "nn: the neural-network framework of the series 'Neural networks fundamentals with \
         Python' (Layer, LeakyReLU, Sigmoid, MSELoss, CrossEntropyLoss, \
         NeuralNetwork(layers, loss_function, learning_rate) with forward_pass, loss and \
         train(x, t) on columns), computed by nn's Rust engine; plus fit, predict, \
         evaluate, backprop, save and load. See help(nn.NeuralNetwork).",
    )?;
    Ok(())
}
