//! The foundation of `nn`: the float trait, the [`Activation`] and [`Loss`] traits, the
//! data a network trains on ([`Target`], [`Samples`] and the one batch [`Gatherer`]), the
//! error type, weight initialisation, small array helpers, and the compute engine the
//! other crates run on.
//!
//! # Design
//!
//! `nn` follows the article series it reimplements: a sample is a column vector, a batch is
//! a matrix whose columns are samples, and a dense layer's weights `W` have shape
//! `(outs, ins)`, so a forward step is `f(W·x + b)`. Everything is generic over one float
//! trait, [`Float`], implemented for `f32` and `f64` only.
//!
//! Activations and losses are small types behind small object-safe traits, in the article's
//! vocabulary: `f`/`df` and `loss`/`dloss`. Errors are one `#[non_exhaustive]` enum,
//! [`Error`], whose variants say what was wrong and where; inputs are checked once at the
//! boundary of a public function, and the arithmetic inside is free of `Result`.
//!
//! # The compute engine
//!
//! Half of this crate is the engine under every layer and step: vector kernels for one
//! sample (AVX2/FMA chosen at run time on x86-64) and matrix products for batches (the
//! `gemm` crate, split over threads), in the `compute` module. It is public so
//! that `nn-layers` and `nn-train` can call it, but hidden from these docs and not part
//! of the stable API: applications reach it through [`Activation`], `Dense` and
//! `NeuralNetwork`.
//!
//! This crate depends on no other `nn` crate; `nn-layers`, `nn-loss` and `nn-data` build
//! on it, and `nn-train` on the first two.
//!
//! # Example
//!
//! ```
//! use nn_core::{tensor, Init, Target};
//! use rand::{rngs::StdRng, SeedableRng};
//!
//! // He-initialised weights for a 3 → 2 layer, from a seeded generator.
//! let mut rng = StdRng::seed_from_u64(42);
//! let w = Init::HeNormal.weights::<f64, _>(2, 3, &mut rng)?;
//! assert_eq!(w.dim(), (2, 3));
//!
//! // A class target must fit the output: 2 outputs, so class 2 is out of range.
//! let classes = [2];
//! assert!(Target::<f64>::Classes(&classes).check(2, 1).is_err());
//! assert_eq!(tensor::argmax_columns(tensor::column(&[0.1f64, 0.7]).view()), vec![1]);
//! # Ok::<(), nn_core::Error>(())
//! ```
#![deny(missing_docs)]

mod activation;
// The engine is public for the other nn crates only (see its module docs): hidden, so
// that its internals stay free to change.
#[doc(hidden)]
pub mod compute;
mod error;
mod float;
mod init;
mod loss;
mod preprocessing;
mod samples;
pub mod tensor;

pub use activation::Activation;
pub use error::{Error, Result};
pub use float::{Dtype, Float};
pub use init::Init;
pub use loss::{finite_loss, Loss, Target};
pub use preprocessing::{Preprocessing, PreprocessingKind};
pub use samples::{Gatherer, Samples};

/// The random number generator crate `nn` is built against (the version `ndarray-rand`
/// uses), re-exported so that applications seed the same types.
#[doc(no_inline)]
pub use rand;

/// The ndarray crate `nn` is built with, re-exported so that applications using the
/// individual crates build their arrays with the same version (two versions' `Array2`
/// are different types).
#[doc(no_inline)]
pub use ndarray;
