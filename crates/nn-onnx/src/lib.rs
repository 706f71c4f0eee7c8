//! ONNX export for `nn`: a trained `nn_train::NeuralNetwork` as an ONNX model, for ONNX Runtime
//! and the other tools that read ONNX (converters, viewers such as Netron, other
//! runtimes; an `f64` network needs one with double kernels, as ONNX Runtime's CPU
//! provider has).
//!
//! # The graph
//!
//! ONNX holds a batch the way NumPy and PyTorch do, one sample per *row*, where nn uses
//! columns; the graph therefore computes the transpose of nn's forward pass. With
//! `X₀ = input`, for each layer `i` (`W_i` of shape `(outs, ins)` and `b_i` as nn holds
//! them):
//!
//! ```text
//! Y_i = X_i·W_iᵀ + b_i          Gemm(X_i, W_i, b_i, transB = 1), b_i added to every row
//! X_{i+1} = f_i(Y_i)            the layer's activation, element by element
//! ```
//!
//! | value | shape | element type | what it is |
//! |---|---|---|---|
//! | `input` | `[batch, ins]` | `FLOAT` for `f32`, `DOUBLE` for `f64` | the raw inputs, one sample per row |
//! | `output` | `[batch, outs]` | the same | the last layer's activations: `NeuralNetwork::forward_pass`, transposed |
//! | `probabilities` | `[batch, outs]` | the same | only for a `cross_entropy` network: `Softmax(output, axis = -1)`, `NeuralNetwork::predict_probabilities` transposed |
//!
//! `batch` is a symbolic dimension: any number of samples. The nodes, in order:
//!
//! - with a preprocessing step (`NeuralNetwork::set_preprocessing`)
//!   `x' = (x − shift) ⊙ scale`: `Sub(input, preprocessing.shift)` then
//!   `Mul(·, preprocessing.scale)`, both constants of shape `[ins]` broadcast over the rows;
//! - per layer `i`: `Gemm` with the initializers `layers.{i}.weight` `[outs, ins]` and
//!   `layers.{i}.bias` `[outs]`, then its activation: `Relu`, `Sigmoid`, `Tanh`, none for
//!   the identity, and for LeakyReLU `LeakyRelu(alpha = α)` in an `f32` network but
//!   `Max(Y, Mul(Y, layers.{i}.alpha))` in an `f64` one (ONNX Runtime has no double
//!   LeakyRelu, and the attribute `alpha` is an `f32`; for `0 ≤ α < 1`, `max(y, α·y)` is
//!   LeakyReLU exactly);
//! - for a cross-entropy network, `Softmax`.
//!
//! Every constant is stored in the network's own float type, bit for bit, so the ONNX
//! model computes what nn computes up to the rounding of the runtime's kernels. The
//! model declares opset 13 of the default domain ([`OPSET`]) and IR version 7
//! ([`IR_VERSION`]), the pair that ONNX 1.8 introduced (late 2020): the graph uses
//! nothing newer, and a newer IR version would only shut out older readers (ONNX Runtime
//! refuses a model whose IR version is newer than its own). Its producer is `nn` at this crate's version,
//! and its `doc_string` lists the layers. A network with class names
//! (`NeuralNetwork::set_class_names`) records them in the model's metadata, key
//! `class_names`, as a JSON array (in ONNX Runtime:
//! `session.get_modelmeta().custom_metadata_map["class_names"]`). The same network always
//! gives the same bytes.
//!
//! # The protobuf schema
//!
//! ONNX files are protobuf messages of the schema `onnx.proto`. The crate carries the
//! official file, from ONNX 1.23.2 (its Apache-2.0 licence beside it in `proto/`), and
//! the Rust types that [prost](https://docs.rs/prost) generates from it; a test
//! regenerates them in pure Rust and checks that they match.
//!
//! # Example
//!
//! ```
//! use nn_core::Init;
//! use nn_layers::{Dense, Identity, Tanh};
//! use nn_loss::CrossEntropy;
//! use nn_train::NeuralNetwork;
//! use rand::{rngs::StdRng, SeedableRng};
//!
//! let mut rng = StdRng::seed_from_u64(0);
//! let net = NeuralNetwork::<f32>::new(
//!     vec![
//!         Dense::new(4, 16, Tanh, Init::HeNormal, &mut rng)?,
//!         Dense::new(16, 3, Identity, Init::XavierNormal, &mut rng)?,
//!     ],
//!     CrossEntropy,
//!     0.1,
//! )?;
//! // … train it, then:
//! let path = std::env::temp_dir().join(format!("nn-onnx-doc-{}.onnx", std::process::id()));
//! nn_onnx::save_onnx(&net, &path)?;
//! let bytes = nn_onnx::to_onnx_bytes(&net)?; // the same bytes, in memory
//! assert_eq!(std::fs::read(&path).unwrap(), bytes);
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), nn_core::Error>(())
//! ```
//!
//! In Python (`pip install onnxruntime numpy`), with one sample per row:
//!
//! ```python
//! import numpy as np, onnxruntime as ort
//! session = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
//! output, probabilities = session.run(None, {"input": np.random.rand(5, 4).astype(np.float32)})
//! ```
#![deny(missing_docs)]

use std::path::Path;

use nn_core::Float;
use nn_train::NeuralNetwork;
use prost::Message;

mod graph;

/// Re-exported so that this crate's users (and its documentation's links, which then
/// resolve within this crate whatever order the crates are documented in) need not name
/// the crate they come from.
pub use nn_core::{Error, Result};

// Generated code: documented in onnx.proto, not here; most of its messages go unused.
#[allow(dead_code, missing_docs, clippy::all, rustdoc::all)]
mod proto;

/// The version of the default ONNX operator set the models declare (`opset_import`).
pub const OPSET: i64 = 13;

/// The ONNX IR version the models declare: 7, `IR_VERSION_2020_5_8` in `onnx.proto`, the
/// one ONNX's own version table pairs with opset 13.
pub const IR_VERSION: i64 = proto::Version::IrVersion202058 as i64;

/// The ONNX model of `net`, as the bytes of a `.onnx` file (the layout is described in
/// the [crate documentation](crate)).
///
/// # Errors
/// - [`Error::Unknown`] if a layer's activation is not one of nn's (`relu`, `sigmoid`,
///   `tanh`, `identity`, `leaky_relu(α)`): a user-defined one has no ONNX operator here;
/// - [`Error::NonFiniteInput`] if a parameter, or an entry of the preprocessing step, is
///   NaN or infinite;
/// - [`Error::TooLarge`] if the model would pass protobuf's limit of 2 GiB, past which
///   ONNX readers refuse a file.
pub fn to_onnx_bytes<F: Float>(net: &NeuralNetwork<F>) -> Result<Vec<u8>> {
    let preprocessing = net.preprocessing().map(|p| (p.shift(), p.scale_factors()));
    let model = graph::model(net, preprocessing)?;
    check_size(model.encoded_len())?;
    Ok(model.encode_to_vec())
}

/// Saves the ONNX model of `net` (the bytes of [`to_onnx_bytes`]) to `path`, usually
/// named `*.onnx`. The write is atomic, as that of `NeuralNetwork::save`: a crash or an
/// error leaves the previous file or the new one, never a mix.
///
/// # Errors
/// Those of [`to_onnx_bytes`]; [`Error::Io`] naming `path` if the file cannot be written,
/// in which case a previous file at `path` is left untouched.
pub fn save_onnx<F: Float>(net: &NeuralNetwork<F>, path: impl AsRef<Path>) -> Result<()> {
    nn_train::model_file::write_atomically(path, &to_onnx_bytes(net)?)
}

/// Protobuf's limit on a message, `2³¹ − 1` bytes: ONNX readers (protobuf's C++ parser,
/// hence ONNX Runtime and `onnx.load`) refuse a larger file. Models past it keep their
/// weights in external files, which nn does not write.
const MAX_BYTES: usize = i32::MAX as usize;

/// Refuses a model of `len` bytes over [`MAX_BYTES`].
///
/// # Errors
/// [`Error::TooLarge`], with `len` as its rows.
fn check_size(len: usize) -> Result<()> {
    if len > MAX_BYTES {
        return Err(Error::TooLarge {
            what: "an ONNX file (protobuf's limit is 2 GiB), in bytes,".into(),
            rows: len,
            columns: 1,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
