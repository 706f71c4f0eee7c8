//! The compute engine: the arithmetic every layer and the trainer run on.
//!
//! - [`block`]: the first layer's share of a block of per-sample SGD steps, one pass
//!   over its weights for several samples (`nn_train::SampleStream::push`).
//! - [`kernels`]: the one-sample path. Dot products, matrix-vector products and rank-1
//!   updates on contiguous rows, with AVX-512 and AVX2/FMA versions chosen at run time
//!   on x86-64.
//! - [`matmul`]: the batched path. `C = alpha·A·B + beta·C` on ndarray views, through the
//!   `gemm` crate, with large products split over threads.
//! - [`rows`]: elementwise passes over a matrix's rows split over threads (a layer's bias
//!   and activation on a large batch).
//! - [`team`]: hand-offs between threads: a `join` that gives its second half to a
//!   helper thread spinning for work (a training run's own, or the process's).
//! - [`vector_unit`]: which vector instructions the engine's own loops use on this
//!   processor (the `portable` feature forces the portable code, as on other
//!   architectures).
//!
//! These are public only so that `nn-layers` and `nn-train` can call them; they are hidden
//! from the documentation and are not part of the stable API. Their signatures follow
//! the engine's needs, and a change to them is not a breaking change of `nn`.

pub mod block;
pub mod kernels;
pub mod matmul;
pub mod rows;
pub mod team;
pub mod vector_unit;
