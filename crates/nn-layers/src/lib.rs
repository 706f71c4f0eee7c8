//! Layers of `nn`: the dense layer [`Dense`] and the activation functions.
//!
//! # Design
//!
//! A [`Dense`] layer holds `W` of shape `(outs, ins)`, `b` of shape `(outs, 1)` and a boxed
//! [`Activation`]; its output is `f(W·x + b)` for a column `x`, or for a
//! batch whose columns are samples. Its forward and backward passes sit side by side in
//! `dense.rs`: the forward pass writes the pre-activation `y` into a buffer the caller keeps,
//! and the backward pass reads it back instead of recomputing `W·x + b`.
//!
//! **`delta` and `db`.** The article names `df(y) ⊙ dx` `db`: on one sample it is the bias
//! gradient. On a batch the two differ, so nn names them apart, everywhere: `delta =
//! df(y) ⊙ dx` has one column per sample (the article's `db`), and `db` is the bias
//! gradient, `delta` summed over the batch's columns; `dW = delta·xᵀ`, `dx = Wᵀ·delta`.
//!
//! The activations are small structs implementing `f` and `df`: [`LeakyRelu`] (the series'
//! default, `alpha = 0.1`; [`LeakyRelu::with_alpha`] for another slope), [`Relu`],
//! [`Sigmoid`] (overflow-free), [`Tanh`] and [`Identity`]. Each is a value:
//! `Dense::new(2, 3, LeakyRelu, …)`.
//!
//! [`Dropout`] drops a layer's inputs at random in training steps
//! ([`Dense::with_dropout`]): the layer's forward and backward passes here are those of
//! inference, and the trainer applies the mask around them.
//!
//! # Example
//!
//! ```
//! use ndarray::array;
//! use nn_core::Init;
//! use nn_layers::{Dense, LeakyRelu};
//! use rand::{rngs::StdRng, SeedableRng};
//!
//! let mut rng = StdRng::seed_from_u64(1);
//! let layer = Dense::<f64>::new(2, 3, LeakyRelu, Init::HeNormal, &mut rng)?;
//! let x = array![[0.5], [-1.0]]; // one sample, as a column
//! let a = layer.forward(x.view())?;
//! assert_eq!(a.dim(), (3, 1));
//! # Ok::<(), nn_core::Error>(())
//! ```
#![deny(missing_docs)]

mod activations;
mod dense;
mod dropout;

pub use activations::{
    parse_activation, Identity, LeakyRelu, LeakyReluWithAlpha, Relu, Sigmoid, Tanh,
};
pub use dense::{Dense, SampleUpdate, FEW_SAMPLES};
pub use dropout::Dropout;
#[doc(no_inline)]
pub use nn_core::ndarray;
/// Re-exported from `nn_core`, so that this crate's users (and its documentation's
/// links, which then resolve within this crate whatever order the crates are documented
/// in) need not name that crate: the types its API takes and returns.
pub use nn_core::{Activation, Error, Float, Init, Result};
