//! `nn`: small neural networks trained by backpropagation, in Rust.
//!
//! A reimplementation of the framework of the article series "Neural networks fundamentals
//! with Python" — dense layers, activation functions, loss functions, backpropagation and
//! stochastic gradient descent — that keeps the articles' vocabulary and shapes (a sample is
//! a column, `W` is `(outs, ins)`), checks its inputs, and reports numerical trouble as
//! errors instead of silent NaNs.
//!
//! This crate is a facade over the workspace's layered crates, each usable on its own:
//!
//! | module | crate | what it holds |
//! |---|---|---|
//! | `nn::core` | `nn-core` | the [`Float`] trait, the [`Activation`] and [`Loss`] traits, [`Error`], [`Init`], array helpers |
//! | `nn::layers` | `nn-layers` | [`Dense`] and the activations |
//! | `nn::loss` | `nn-loss` | [`Mse`] and [`CrossEntropy`] |
//! | `nn::train` | `nn-train` | [`NeuralNetwork`], backpropagation, optimizers, the fit loop, evaluation, model files |
//! | `nn::data` | `nn-data` | MNIST-format readers (IDX, plain or gzip, and CSV), datasets, shuffled batches |
//! | `nn::onnx` | `nn-onnx` | export of a trained network to ONNX, for ONNX Runtime and the other ONNX readers |
//!
//! # Example
//!
//! The article's first demo: teach a 2→4→4→3 network to output zeros.
//!
//! ```
//! use nn::prelude::*;
//! use nn::rand::{rngs::StdRng, Rng, SeedableRng};
//!
//! let mut rng = StdRng::seed_from_u64(0);
//! let layers = vec![
//!     Dense::new(2, 4, LeakyRelu::default(), Init::HeNormal, &mut rng)?,
//!     Dense::new(4, 4, LeakyRelu::default(), Init::HeNormal, &mut rng)?,
//!     Dense::new(4, 3, LeakyRelu::default(), Init::HeNormal, &mut rng)?,
//! ];
//! let mut net = NeuralNetwork::<f64>::new(layers, Mse, 0.01)?;
//! let zeros = Array2::zeros((3, 1));
//! for _ in 0..1000 {
//!     let x = Array2::from_shape_simple_fn((2, 1), || rng.random_range(-1.0..1.0));
//!     net.train(x.view(), Target::Values(zeros.view()))?;
//! }
//! let output = net.forward_pass(Array2::ones((2, 1)).view())?;
//! assert!(output.iter().all(|v| v.abs() < 0.1));
//! # Ok::<(), nn::Error>(())
//! ```
#![deny(missing_docs)]

pub use nn_core as core;
pub use nn_data as data;
pub use nn_layers as layers;
pub use nn_loss as loss;
pub use nn_onnx as onnx;
pub use nn_train as train;

pub use ndarray;
pub use nn_core::rand;
pub use nn_core::{Activation, Error, Float, Init, Loss, Preprocessing, Result, Target};
pub use nn_layers::Dense;
pub use nn_loss::{CrossEntropy, Mse};
pub use nn_train::{
    Adam, Evaluation, FitOptions, Gradients, History, NetworkBuilder, NeuralNetwork, Optimizer,
    Progress, Samples, Sgd,
};

/// Everything a training program needs, in one import: `use nn::prelude::*;`.
pub mod prelude {
    #[doc(no_inline)]
    pub use ndarray::{s, Array2, ArrayView2, Axis};
    #[doc(no_inline)]
    pub use nn_core::tensor::{argmax_columns, column, one_hot};
    #[doc(no_inline)]
    pub use nn_core::{
        Activation, Error, Float, Init, Loss, Preprocessing, PreprocessingKind, Result, Target,
    };
    #[doc(no_inline)]
    pub use nn_data::{Dataset, TableOptions, TargetKind};
    #[doc(no_inline)]
    pub use nn_layers::{Dense, Identity, LeakyRelu, Relu, Sigmoid, Tanh};
    #[doc(no_inline)]
    pub use nn_loss::{CrossEntropy, Mse};
    #[doc(no_inline)]
    pub use nn_train::{
        Adam, ConfusionMatrix, EarlyStopping, Evaluation, FitOptions, Gradients, History,
        NeuralNetwork, Progress, Samples, Schedule, Sgd,
    };
}

/// The README's usage example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
