//! Training for `nn`: the [`NeuralNetwork`], backpropagation, optimizers, the fit loop,
//! evaluation and model files.
//!
//! # Design
//!
//! Training follows the article's algorithm, in two separate steps:
//!
//! 1. [`NeuralNetwork::backprop`] runs the forward pass, keeping every layer's input `xs[i]`
//!    and pre-activation `y_i = W_i·xs[i] + b_i`, then the reverse loop
//!    `delta = df(y) ⊙ dx` (the article's `db`), `dx = Wᵀ·delta`, `dW = delta·xᵀ`,
//!    `db = Σ delta` over the batch, and returns the [`Gradients`]: the
//!    article's lists `dxs`, `dWs` and `dbs`, for a learner to inspect and verify.
//! 2. An [`Optimizer`] applies them: [`Sgd`] does `θ ← θ - learning_rate·∇θ` (with
//!    optional momentum, Nesterov and weight decay), [`Adam`] is Adam or AdamW.
//!
//! [`NeuralNetwork::train`] is the original's `train(x, t)`: both steps on one sample (or a
//! mini-batch, whose gradient is the mean of its samples'), with buffers reused from step
//! to step.
//!
//! Inside, a [`NeuralNetwork`] is two things composed: the model (`model.rs`: the layers
//! and the loss, what a file saves and what predicts) and the trainer (`trainer.rs`: the
//! optimizer with its state per layer, the step counts, clipping and the thread buffers),
//! whose step runs in named stages: check, forward and backward (`backprop.rs`), clip,
//! update. `ARCHITECTURE.md` at the repository's root follows one step through the files.
//!
//! # Speed
//!
//! The algorithm stays the article's; how it is computed depends on the batch:
//!
//! - **One sample** runs on matrix-vector kernels (`nn_core::compute::kernels`, AVX2/FMA
//!   when the processor has them), on the calling thread, allocating nothing. With plain
//!   SGD the update `W -= learning_rate·delta·xᵀ` is applied as a rank-1 update without
//!   forming `dW` (tested equal to the general path).
//! - **A batch** runs on matrix products (`nn_core::compute::matmul`, the `gemm` crate),
//!   on [`NeuralNetwork::set_threads`] threads. A network of 2^16 parameters or more
//!   gives each thread a block of every layer's rows for the whole step (forward,
//!   backward, update), so that each core's weights and optimizer state stay in its
//!   cache; every entry then has the bits one thread gives it. A smaller network's large
//!   batch is cut into one share of columns per thread instead, each share's forward and
//!   backward pass running on its own core, and the shares' gradients are averaged.
//!
//! With the finiteness check on (the default), a step whose loss or gradient is not
//! finite returns [`nn_core::Error::Diverged`] before any parameter changes.
//!
//! # Around the step
//!
//! [`NeuralNetwork::fit`] runs epochs of shuffled mini-batches with a [`Schedule`],
//! validation, [`EarlyStopping`] and a progress callback (with the `progress` feature, a
//! ready one: `ProgressBar`, a terminal bar); [`NeuralNetwork::evaluate`],
//! [`ConfusionMatrix`] and [`NeuralNetwork::predict_probabilities`] measure a network;
//! [`NeuralNetwork::save`] and [`NeuralNetwork::load`] keep it in a safetensors file that
//! Python's `safetensors` also reads, and [`NeuralNetwork::load_torch`] and
//! [`NeuralNetwork::save_torch`] read and write PyTorch's own `state_dict` layout.
//!
//! # Example
//!
//! ```
//! use ndarray::array;
//! use nn_core::{Init, Target};
//! use nn_layers::{Dense, Identity, LeakyRelu};
//! use nn_loss::CrossEntropy;
//! use nn_train::NeuralNetwork;
//! use rand::{rngs::StdRng, SeedableRng};
//!
//! let mut rng = StdRng::seed_from_u64(7);
//! let net = NeuralNetwork::new(
//!     vec![
//!         Dense::<f64>::new(3, 5, LeakyRelu, Init::HeNormal, &mut rng)?,
//!         Dense::new(5, 2, Identity, Init::HeNormal, &mut rng)?,
//!     ],
//!     CrossEntropy,
//!     0.1,
//! )?;
//! let x = array![[1.0], [0.0], [-1.0]];
//! let grads = net.backprop(x.view(), Target::Classes(&[1]))?;
//! assert_eq!(grads.dws[0].dim(), (5, 3)); // the shape of W_0
//! assert_eq!(grads.dxs.len(), 3); // input, hidden, output
//! # Ok::<(), nn_core::Error>(())
//! ```
//!
//! Without the facade: an application that depends on `nn-core`, `nn-layers`, `nn-loss`
//! and `nn-train` only builds its arrays with the ndarray they re-export, so that there is
//! one version of it.
//!
//! ```
//! use nn_core::{Samples, Target};
//! use nn_layers::{Identity, Relu};
//! use nn_loss::CrossEntropy;
//! use nn_train::ndarray::Array2;
//! use nn_train::{Adam, FitOptions, NeuralNetwork};
//!
//! // Three samples per class; the class is the larger of the two features.
//! let x = Array2::from_shape_vec((2, 6), vec![3.0f32, 0.0, 2.0, 1.0, 0.5, 0.0,
//!                                             0.0, 2.0, 1.0, 3.0, 0.0, 1.5])
//!     .expect("2 × 6");
//! let classes = [0, 1, 0, 1, 0, 1];
//! let data = Samples::new(x.view(), Target::Classes(&classes))?;
//! let mut net = NeuralNetwork::<f32>::builder(2)
//!     .dense(8, Relu)
//!     .dense(2, Identity)
//!     .loss(CrossEntropy)
//!     .optimizer(Adam::new(0.05)?)
//!     .seed(3)
//!     .build()?;
//! net.fit(data, None, &FitOptions { epochs: 200, batch_size: 6, ..FitOptions::default() })?;
//! assert_eq!(net.predict(x.view())?, classes);
//! # Ok::<(), nn_core::Error>(())
//! ```
#![deny(missing_docs)]

mod adam;
mod atomic_write;
mod backprop;
mod bounds;
mod builder;
mod dropout;
mod fit;
mod hyperparameter;
mod metrics;
mod model;
pub mod model_file;
mod network;
mod optimizer;
#[cfg(feature = "progress")]
mod progress_bar;
mod sample_block;
mod sample_stream;
mod schedule;
mod sgd;
mod shares;
mod summary;
mod trainer;

pub use adam::Adam;
pub use backprop::Gradients;
pub use builder::NetworkBuilder;
pub use fit::{EarlyStopping, EpochReport, FitOptions, History, Progress};
pub use hyperparameter::check_learning_rate;
pub use metrics::{accuracy, ConfusionMatrix, Evaluation};
pub use network::NeuralNetwork;
#[doc(no_inline)]
pub use nn_core::ndarray;
/// Re-exported from `nn_core`, so that this crate's users need not name that crate, and
/// so that the documentation's links to them resolve within this crate whatever order the
/// crates are documented in: the types its API takes and returns.
pub use nn_core::{Activation, Error, Float, Init, Loss, Result, Target};
/// Re-exported from `nn_core`, where the data types live, so that `fit`'s users need not
/// name that crate.
pub use nn_core::{Preprocessing, PreprocessingKind, Samples};
pub use optimizer::Optimizer;
#[cfg(feature = "progress")]
pub use progress_bar::ProgressBar;
pub use sample_stream::SampleStream;
pub use schedule::Schedule;
pub use sgd::Sgd;
