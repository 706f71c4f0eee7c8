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
//! Two cargo features, off by default, add what a program that trains shows its user:
//! `progress`, a terminal progress bar for the fit loop (`nn::ProgressBar`), and `plot`,
//! PNG plots of training curves and of a network's decision regions (`nn::plot`, the
//! `nn-plot` crate).
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
//!     Dense::new(2, 4, LeakyRelu, Init::HeNormal, &mut rng)?,
//!     Dense::new(4, 4, LeakyRelu, Init::HeNormal, &mut rng)?,
//!     Dense::new(4, 3, LeakyRelu, Init::HeNormal, &mut rng)?,
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
//!
//! # Two programs of one's own
//!
//! A regression: learn `sin(x)` on `[-π, π]` from 200 samples.
//!
//! ```
//! use nn::prelude::*;
//! use std::f64::consts::PI;
//!
//! // One sample per column: x is (1, 200), the targets too.
//! let x = Array2::from_shape_fn((1, 200), |(_, j)| -PI + 2.0 * PI * j as f64 / 199.0);
//! let y = x.mapv(f64::sin);
//! let data = Samples::new(x.view(), Target::Values(y.view()))?;
//!
//! let mut net = NeuralNetwork::<f64>::builder(1)
//!     .dense(32, Tanh)
//!     .dense(1, Identity)
//!     .loss(Mse)
//!     .optimizer(Adam::new(0.01)?)
//!     .build()?;
//! let options = FitOptions { epochs: 200, batch_size: 16, ..FitOptions::default() };
//! net.fit(data, None, &options)?;
//! let evaluation = net.evaluate(data, 200)?;
//! assert!(evaluation.r_squared.unwrap() > 0.99, "{evaluation:?}");
//! let half = net.forward_pass(Array2::from_elem((1, 1), PI / 2.0).view())?[(0, 0)];
//! assert!((half - 1.0).abs() < 0.1, "sin(π/2) ≈ {half}");
//! # Ok::<(), nn::Error>(())
//! ```
//!
//! A classification of one's own data, one sample per row (two interleaved half moons):
//!
//! ```
//! use nn::prelude::*;
//! use nn::rand::{rngs::StdRng, Rng, SeedableRng};
//!
//! // The points as an application has them: rows of (x, y), and a class per point.
//! let mut rng = StdRng::seed_from_u64(1);
//! let (mut points, mut classes) = (Vec::new(), Vec::new());
//! for i in 0..400 {
//!     let (t, class) = (std::f64::consts::PI * rng.random::<f64>(), i % 2);
//!     let (x, y) = if class == 0 { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 0.5 - t.sin()) };
//!     points.extend([x + 0.1 * rng.random::<f64>(), y + 0.1 * rng.random::<f64>()]);
//!     classes.push(class);
//! }
//! let rows = Array2::from_shape_vec((400, 2), points).expect("400 rows of 2");
//! let data = Samples::from_rows(rows.view(), Target::Classes(&classes))?; // no copy
//!
//! let mut net = NeuralNetwork::<f64>::builder(2)
//!     .dense(16, Tanh)
//!     .dense(2, Identity)
//!     .loss(CrossEntropy)
//!     .optimizer(Adam::new(0.02)?)
//!     .class_names(vec!["upper".into(), "lower".into()])
//!     .build()?;
//! net.fit(data, None, &FitOptions { epochs: 100, ..FitOptions::default() })?;
//! let predicted = net.predict(rows.t())?;
//! let confusion = ConfusionMatrix::new(&predicted, &classes, 2)?;
//! let (_, _, macro_f1) = confusion.macro_averages();
//! assert!(confusion.accuracy() > 0.95 && macro_f1 > 0.95, "{confusion}");
//! assert_eq!(net.predict_names(ndarray::array![[0.0], [1.0]].view())?, ["upper"]);
//! # Ok::<(), nn::Error>(())
//! ```
#![cfg_attr(
    all(feature = "progress", feature = "plot"),
    doc = include_str!("progress_and_plots.md")
)]
#![deny(missing_docs)]

pub use nn_core as core;
pub use nn_data as data;
pub use nn_layers as layers;
pub use nn_loss as loss;
pub use nn_onnx as onnx;
#[cfg(feature = "plot")]
pub use nn_plot as plot;
pub use nn_train as train;

pub use ndarray;
pub use nn_core::rand;
pub use nn_core::{Activation, Error, Float, Init, Loss, Preprocessing, Result, Target};
pub use nn_layers::{Dense, Dropout};
pub use nn_loss::{CrossEntropy, Mse};
#[cfg(feature = "progress")]
pub use nn_train::ProgressBar;
pub use nn_train::{
    Adam, Evaluation, FitOptions, Gradients, History, NetworkBuilder, NeuralNetwork, Optimizer,
    Progress, SampleStream, Samples, Sgd,
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
    pub use nn_layers::{
        Dense, Dropout, Identity, LeakyRelu, LeakyReluWithAlpha, Relu, Sigmoid, Tanh,
    };
    #[doc(no_inline)]
    pub use nn_loss::{CrossEntropy, Mse};
    #[cfg(feature = "progress")]
    #[doc(no_inline)]
    pub use nn_train::ProgressBar;
    #[doc(no_inline)]
    pub use nn_train::{
        Adam, ConfusionMatrix, EarlyStopping, Evaluation, FitOptions, Gradients, History,
        NeuralNetwork, Progress, SampleStream, Samples, Schedule, Sgd,
    };
}

/// The README's usage example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
