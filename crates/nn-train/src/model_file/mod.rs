//! Saving and loading a [`NeuralNetwork`] as a [safetensors] file.
//!
//! # File layout
//!
//! A safetensors file is an 8-byte little-endian header length `n`, a JSON header of `n`
//! bytes, then the raw tensor data. A network of `L` layers is stored as `2·L` tensors,
//! in the convention of PyTorch's `nn.Linear`, so that a `state_dict` can be filled from
//! the file directly:
//!
//! | tensor             | shape         | contents                                      |
//! |--------------------|---------------|-----------------------------------------------|
//! | `layers.{i}.weight` | `[outs, ins]` | `W` of layer `i`, row-major                  |
//! | `layers.{i}.bias`   | `[outs]`      | `b` of layer `i` (a `(outs, 1)` column in memory) |
//! | `preprocessing.shift` | `[ins]`     | only with a preprocessing step: its shifts `s` |
//! | `preprocessing.scale` | `[ins]`     | only with a preprocessing step: its factors `c` (`x' = (x − s) ⊙ c`) |
//!
//! Every tensor has the dtype of the network's float type: `F32` for
//! `NeuralNetwork<f32>`, `F64` for `NeuralNetwork<f64>`, little-endian. The header's
//! `__metadata__` (a string-to-string map) holds the architecture:
//!
//! | key             | value                                                          |
//! |-----------------|----------------------------------------------------------------|
//! | `format`        | `nn/1`, the version of this layout                             |
//! | `dtype`         | `F32` or `F64`                                                 |
//! | `layers`        | the number of layers `L`, in decimal                           |
//! | `activation.{i}` | the activation of layer `i`, e.g. `leaky_relu(0.1)`, `sigmoid` |
//! | `dropout.{i}`   | only for a layer with dropout: the rate on its inputs, e.g. `0.5` |
//! | `loss`          | `mse` or `cross_entropy`                                       |
//! | `learning_rate` | the learning rate, in the shortest decimal that reads back exactly |
//! | `preprocessing` | only with a preprocessing step: `standardize`, `min_max` or `scale` |
//! | `class_names`   | only with class names: a JSON array of strings, one per output |
//!
//! Other metadata keys are ignored when loading. The optimizer's state and the step
//! count are not saved. Saving the same network twice gives the same bytes: the header's
//! keys are written in a fixed order.
//!
//! From Python (`pip install safetensors torch`), a layer loads into `nn.Linear`:
//!
//! ```python
//! from safetensors.torch import load_file
//! state = load_file("model.safetensors")
//! linear = torch.nn.Linear(784, 16, dtype=state["layers.0.weight"].dtype)
//! linear.load_state_dict({"weight": state["layers.0.weight"], "bias": state["layers.0.bias"]})
//! ```
//!
//! # PyTorch's own layout
//!
//! A model trained in PyTorch is saved by `safetensors.torch.save_file(model.state_dict(),
//! path)` with no architecture: tensors `0.weight`, `0.bias`, `2.weight`, … named by the
//! `Linear` modules' positions in an `nn.Sequential`. [`NeuralNetwork::load_torch`] reads
//! such a file (any float dtype, biases optional, a prefix such as `net.` allowed) given
//! the activations and the loss in code, and [`NeuralNetwork::save_torch`] writes one
//! (`{2i}.weight`, `{2i}.bias`) that `model.load_state_dict(load_file(path))` takes with no
//! renaming (`torch.rs`).
//!
//! # Guarantees
//!
//! - **Saving is atomic.** [`NeuralNetwork::save`] writes a temporary file in the target's
//!   directory, flushes it to disk, then renames it over the target. A crash or an error
//!   leaves either the previous file or the new one, never a mix, and the temporary file is
//!   removed on error.
//! - **Loading untrusted files is safe.** Every size in the header is checked against the
//!   file before use, so loading allocates no more than about the file's size, and a
//!   malformed file gives an [`Error`], never a panic. Loading checks the layout above in
//!   full: dtype, shapes, that consecutive layers fit, names of activations and loss,
//!   finite parameters and a valid learning rate. Parameters are never converted between
//!   `f32` and `f64`.
//!
//! # Example
//!
//! ```
//! use nn_core::Init;
//! use nn_layers::{Dense, Identity, LeakyRelu};
//! use nn_loss::CrossEntropy;
//! use nn_train::NeuralNetwork;
//! use rand::{rngs::StdRng, SeedableRng};
//!
//! let mut rng = StdRng::seed_from_u64(1);
//! let net = NeuralNetwork::new(
//!     vec![
//!         Dense::<f32>::new(4, 8, LeakyRelu, Init::HeNormal, &mut rng)?,
//!         Dense::new(8, 3, Identity, Init::HeNormal, &mut rng)?,
//!     ],
//!     CrossEntropy,
//!     0.03,
//! )?;
//!
//! let path = std::env::temp_dir().join(format!("nn-doc-{}.safetensors", std::process::id()));
//! net.save(&path)?;
//! let loaded = NeuralNetwork::<f32>::load(&path)?;
//! assert_eq!(loaded.layers()[0].weights(), net.layers()[0].weights());
//! assert_eq!(loaded.loss_function().name(), "cross_entropy");
//!
//! // An f32 file is not silently converted to f64.
//! assert!(NeuralNetwork::<f64>::load(&path).is_err());
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), nn_core::Error>(())
//! ```
//!
//! [safetensors]: https://github.com/huggingface/safetensors

use std::fs;
use std::io::Write;
use std::path::Path;

use nn_core::{Error, Float, Result};

use crate::NeuralNetwork;

mod reader;
mod torch;
mod writer;

/// The value of the `format` metadata key of the layout this version reads and writes.
const FORMAT_VERSION: &str = "nn/1";

/// Size of the header-length prefix of a safetensors file.
const PREFIX: usize = 8;

/// The tensor of a preprocessing step's shifts, `[ins]`.
const PREPROCESSING_SHIFT: &str = "preprocessing.shift";

/// The tensor of a preprocessing step's scale factors, `[ins]`.
const PREPROCESSING_SCALE: &str = "preprocessing.scale";

impl<F: Float> NeuralNetwork<F> {
    /// Saves the network to `path` as a safetensors file that PyTorch users can load
    /// into `nn.Linear` layers:
    ///
    /// - tensors `layers.{i}.weight` of shape `[outs, ins]` (row-major) and
    ///   `layers.{i}.bias` of shape `[outs]`, for each layer `i`, in the dtype of `F`
    ///   (`F32` or `F64`, little-endian);
    /// - `__metadata__` keys `format` (`nn/1`), `dtype`, `layers` (the number of layers),
    ///   `activation.{i}` (e.g. `leaky_relu(0.1)`), `loss` (`mse` or `cross_entropy`) and
    ///   `learning_rate` (the shortest decimal that reads back exactly);
    /// - with a [preprocessing step](NeuralNetwork::set_preprocessing), the key
    ///   `preprocessing` (its kind) and tensors `preprocessing.shift` and
    ///   `preprocessing.scale` of shape `[ins]`; with [class
    ///   names](NeuralNetwork::set_class_names), the key `class_names` (a JSON array).
    ///
    /// The optimizer's state and the step count are not saved. The same network always
    /// gives the same bytes.
    ///
    /// The write is atomic: the bytes go to a temporary file `.{name}.tmp-{pid}-{n}` in
    /// the same directory, which is flushed to disk and then renamed over `path`, so a
    /// crash or an error leaves the previous file or the new one, never a mix.
    ///
    /// # Errors
    /// [`Error::Io`] naming `path` if the file cannot be written; a previous file at
    /// `path` is then left untouched and the temporary file is removed. The errors of
    /// [`NeuralNetwork::to_safetensors_bytes`] if the network could not be loaded back.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let bytes = self.to_safetensors_bytes()?;
        write_atomically(path, &bytes)
    }

    /// Loads a network saved by [`NeuralNetwork::save`] from `path`.
    ///
    /// The file's dtype must be `F`'s: an `F64` file loads as `NeuralNetwork<f64>` only.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read; otherwise the errors of
    /// [`NeuralNetwork::from_safetensors_bytes`], naming `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_safetensors_bytes(&read_file(path)?, path)
    }
}

/// Writes `bytes` to `path` atomically, as [`NeuralNetwork::save`] writes a model file:
/// to a temporary file `.{name}.tmp-{pid}-{n}` in the same directory, flushed to disk and
/// then renamed over `path`, so that a crash or an error leaves the previous file or the
/// new one, never a mix. For the writers of other formats (`nn-onnx`'s ONNX export).
///
/// # Errors
/// [`Error::Io`] naming `path` if the file cannot be written; a previous file at `path`
/// is then left untouched and the temporary file is removed.
pub fn write_atomically(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    crate::atomic_write::write_atomically(path.as_ref(), bytes, |file, bytes| file.write_all(bytes))
}

/// The bytes of the file at `path`. `fs::read` sizes its buffer from the file's length:
/// the only allocation proportional to the input.
///
/// # Errors
/// [`Error::Io`] naming `path`.
fn read_file(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
