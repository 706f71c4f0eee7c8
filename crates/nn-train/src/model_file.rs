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
//! | `loss`          | `mse` or `cross_entropy`                                       |
//! | `learning_rate` | the learning rate, in the shortest decimal that reads back exactly |
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
//!         Dense::<f32>::new(4, 8, LeakyRelu::default(), Init::HeNormal, &mut rng)?,
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

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::Array2;
use nn_core::{tensor, Error, Float, Result};
use nn_layers::{parse_activation, Dense};
use nn_loss::parse_loss;
use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::{Dtype, SafeTensorError, SafeTensors};

use crate::NeuralNetwork;

/// The value of the `format` metadata key of the layout this version reads and writes.
const FORMAT_VERSION: &str = "nn/1";

/// Size of the header-length prefix of a safetensors file.
const PREFIX: usize = 8;

impl<F: Float> NeuralNetwork<F> {
    /// Saves the network to `path` as a safetensors file that PyTorch users can load
    /// into `nn.Linear` layers:
    ///
    /// - tensors `layers.{i}.weight` of shape `[outs, ins]` (row-major) and
    ///   `layers.{i}.bias` of shape `[outs]`, for each layer `i`, in the dtype of `F`
    ///   (`F32` or `F64`, little-endian);
    /// - `__metadata__` keys `format` (`nn/1`), `dtype`, `layers` (the number of layers),
    ///   `activation.{i}` (e.g. `leaky_relu(0.1)`), `loss` (`mse` or `cross_entropy`) and
    ///   `learning_rate` (the shortest decimal that reads back exactly).
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
        write_atomically(path.as_ref(), &bytes, |file, bytes| file.write_all(bytes))
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
        // `fs::read` sizes its buffer from the file's length: the only allocation
        // proportional to the input.
        let bytes = fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_safetensors_bytes(&bytes, path)
    }

    /// The safetensors file [`NeuralNetwork::save`] writes, as bytes.
    ///
    /// # Errors
    /// Refuses to produce a file that would not load back: [`Error::Unknown`] if an
    /// activation's or the loss's name is not one that `nn_layers::parse_activation` or
    /// `nn_loss::parse_loss` knows (a user-defined type), [`Error::NonFiniteInput`] if a
    /// parameter is NaN or infinite.
    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>> {
        let layers = self.layers();
        let loss = self.loss_function().name();
        parse_loss::<F>(&loss)?;
        let mut metadata = BTreeMap::new();
        metadata.insert("format".to_string(), FORMAT_VERSION.to_string());
        metadata.insert("dtype".to_string(), F::DTYPE.to_string());
        metadata.insert("layers".to_string(), layers.len().to_string());
        metadata.insert("loss".to_string(), loss);
        // `Display` of a float is the shortest decimal that parses back to the same value.
        metadata.insert(
            "learning_rate".to_string(),
            self.learning_rate().to_string(),
        );

        let size = std::mem::size_of::<F>();
        let mut data = Vec::with_capacity(self.parameter_count() * size);
        // (name, shape, start and end of the data), in the order the data is written.
        let mut tensors = Vec::with_capacity(2 * layers.len());
        for (i, layer) in layers.iter().enumerate() {
            let activation = layer.activation().name();
            parse_activation::<F>(&activation)?;
            metadata.insert(format!("activation.{i}"), activation);
            tensor::check_finite(&format!("weights of layer {i}"), layer.weights())?;
            tensor::check_finite(&format!("bias of layer {i}"), layer.bias())?;

            let start = data.len();
            layer.weights().iter().for_each(|&v| push_le(&mut data, v));
            let shape = vec![layer.outs(), layer.ins()];
            tensors.push((format!("layers.{i}.weight"), shape, start, data.len()));
            let start = data.len();
            layer.bias().iter().for_each(|&v| push_le(&mut data, v));
            tensors.push((
                format!("layers.{i}.bias"),
                vec![layer.outs()],
                start,
                data.len(),
            ));
        }

        // The header, written by hand so that its keys come in a fixed order (the
        // safetensors crate takes the metadata as a `HashMap`, whose order is random).
        // serde_json escapes the strings; the numbers are plain integers.
        let quote = |s: &str| serde_json::to_string(s).expect("a string always serializes");
        let mut header = String::from("{\"__metadata__\":{");
        for (k, (key, value)) in metadata.iter().enumerate() {
            let comma = if k == 0 { "" } else { "," };
            header += &format!("{comma}{}:{}", quote(key), quote(value));
        }
        header.push('}');
        for (name, shape, start, end) in &tensors {
            let shape: Vec<String> = shape.iter().map(usize::to_string).collect();
            header += &format!(
                ",{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{start},{end}]}}",
                quote(name),
                F::DTYPE,
                shape.join(",")
            );
        }
        header.push('}');
        // Pad with spaces to a multiple of 8, as the safetensors crate does, so that the
        // data starts aligned for readers that map the file.
        while header.len() % PREFIX != 0 {
            header.push(' ');
        }

        let mut bytes = Vec::with_capacity(PREFIX + header.len() + data.len());
        bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&data);
        Ok(bytes)
    }

    /// Reads a network from the bytes of a safetensors file in the layout
    /// [`NeuralNetwork::save`] writes. `source` is the file name reported in errors (e.g.
    /// the path the bytes came from, or `"<memory>"`).
    ///
    /// The bytes may come from an untrusted source: every size and offset is checked
    /// before use, the allocations are bounded by `bytes.len()`, and nothing panics.
    ///
    /// # Errors
    /// - [`Error::Format`] naming `source` and a byte offset (0 for the header length, 8
    ///   for the JSON header, the position of the value for tensor data) when the bytes
    ///   are not a safetensors file (too short, a header length past the end, invalid
    ///   JSON, tensor offsets that do not tile the data), or not a network file of this
    ///   layout: a missing metadata key, an unknown `format`, a dtype other than `F`'s (no
    ///   silent conversion), a missing or extra tensor, a tensor of the wrong dtype or
    ///   shape, a non-finite parameter, an unreadable learning rate;
    /// - [`Error::Unknown`] for an activation or loss name that is not known;
    /// - [`Error::LayerMismatch`] if consecutive layers do not fit;
    /// - [`Error::InvalidHyperparameter`] for a learning rate that is not finite and
    ///   positive, or a LeakyReLU slope outside `[0, 1)`.
    pub fn from_safetensors_bytes(bytes: &[u8], source: impl AsRef<Path>) -> Result<Self> {
        let (data_start, header) = read_header(bytes, source.as_ref())?;
        FileReader {
            path: source.as_ref(),
            bytes,
            data_start,
            header,
        }
        .network()
    }
}

/// Appends `v` in little-endian order, as the file's dtype (that of `F`) stores it.
fn push_le<F: Float>(out: &mut Vec<u8>, v: F) {
    if F::DTYPE == nn_core::Dtype::F32 {
        // Exact: the value is an f32 widened to f64.
        out.extend_from_slice(&(v.as_f64() as f32).to_le_bytes());
    } else {
        out.extend_from_slice(&v.as_f64().to_le_bytes());
    }
}

/// Reads a little-endian value of `F`'s size, or `None` for a slice of the wrong size.
fn read_le<F: Float>(bytes: &[u8]) -> Option<F> {
    let value = if F::DTYPE == nn_core::Dtype::F32 {
        f64::from(f32::from_le_bytes(bytes.try_into().ok()?))
    } else {
        f64::from_le_bytes(bytes.try_into().ok()?)
    };
    // Exact for f32 too: the value came from an f32.
    Some(F::from_f64(value))
}

/// Parses a learning rate written by `Display` of `F`, exactly (an `f32` is parsed as
/// `f32`, not rounded twice through `f64`).
fn parse_float<F: Float>(text: &str) -> Option<F> {
    let value = if F::DTYPE == nn_core::Dtype::F32 {
        f64::from(text.parse::<f32>().ok()?)
    } else {
        text.parse::<f64>().ok()?
    };
    Some(F::from_f64(value))
}

/// The safetensors dtype of `F`.
fn dtype_of<F: Float>() -> Dtype {
    match F::DTYPE {
        nn_core::Dtype::F32 => Dtype::F32,
        nn_core::Dtype::F64 => Dtype::F64,
    }
}

fn format_error(path: &Path, offset: usize, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        offset: offset as u64,
        message: message.into(),
    }
}

/// Checks the header length and parses the header with the safetensors crate, which
/// validates the JSON and that the tensors' offsets tile the data section exactly.
/// Returns where the data section starts, and the header.
fn read_header(bytes: &[u8], path: &Path) -> Result<(usize, Metadata)> {
    let Some(prefix) = bytes.first_chunk::<PREFIX>() else {
        return Err(format_error(
            path,
            0,
            format!(
                "not a safetensors file: it is {} bytes long, shorter than the 8-byte \
                 header length a safetensors file starts with",
                bytes.len()
            ),
        ));
    };
    let n = u64::from_le_bytes(*prefix);
    let rest = bytes.len() - PREFIX;
    if n > rest as u64 {
        return Err(format_error(
            path,
            0,
            format!(
                "not a safetensors file: its header length is {n} bytes, but only {rest} \
                 bytes follow the 8-byte length"
            ),
        ));
    }
    // n ≤ rest, so it fits in usize and 8 + n ≤ bytes.len().
    let n = n as usize;
    let header = &bytes[PREFIX..PREFIX + n];
    check_offsets(header, rest - n, path, PREFIX + n)?;
    let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(|e| {
        let offset = match &e {
            SafeTensorError::HeaderTooSmall
            | SafeTensorError::HeaderTooLarge
            | SafeTensorError::InvalidHeaderLength => 0,
            SafeTensorError::InvalidHeader(utf8) => PREFIX + utf8.valid_up_to(),
            SafeTensorError::InvalidHeaderDeserialization(json) => {
                PREFIX + json_offset(header, json.line(), json.column())
            }
            // The data section does not have the size the offsets add up to.
            SafeTensorError::MetadataIncompleteBuffer => PREFIX + n,
            _ => PREFIX,
        };
        format_error(path, offset, format!("not a valid safetensors file: {e}"))
    })?;
    Ok((PREFIX + n, metadata))
}

/// Rejects a tensor whose `data_offsets` lie past the end of the data section, of
/// `data_len` bytes, which starts at byte `data_start`.
///
/// The safetensors crate checks this too, but only after adding the offsets up without
/// checking for overflow, which panics in builds with overflow checks on a file whose
/// offsets add up to nearly 2^64. A header that is not a JSON object is left for the
/// crate to report.
fn check_offsets(header: &[u8], data_len: usize, path: &Path, data_start: usize) -> Result<()> {
    let Ok(serde_json::Value::Object(tensors)) = serde_json::from_slice(header) else {
        return Ok(());
    };
    for (name, info) in tensors.iter().filter(|(name, _)| *name != "__metadata__") {
        let Some(offsets) = info.get("data_offsets").and_then(|o| o.as_array()) else {
            continue;
        };
        if offsets
            .iter()
            .any(|o| o.as_u64().is_some_and(|o| o > data_len as u64))
        {
            return Err(format_error(
                path,
                data_start,
                format!(
                    "not a valid safetensors file: the data_offsets of tensor {name:?} lie \
                     past the end of the {data_len}-byte data section"
                ),
            ));
        }
    }
    Ok(())
}

/// Byte offset in `text` of serde_json's 1-based `line` and `column`.
fn json_offset(text: &[u8], line: usize, column: usize) -> usize {
    let line_start = match line {
        0 | 1 => 0,
        _ => text
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .nth(line - 2)
            .map_or(text.len(), |(i, _)| i + 1),
    };
    (line_start + column.saturating_sub(1)).min(text.len())
}

/// Whether `name` is `layers.{i}.weight` or `layers.{i}.bias` for some `i < layers`,
/// with `i` written canonically.
fn is_layer_tensor(name: &str, layers: usize) -> bool {
    let Some(rest) = name.strip_prefix("layers.") else {
        return false;
    };
    let Some(index) = rest
        .strip_suffix(".weight")
        .or_else(|| rest.strip_suffix(".bias"))
    else {
        return false;
    };
    is_canonical_index(index, layers)
}

/// Whether `text` is a decimal `i < layers` without leading zeros or sign.
fn is_canonical_index(text: &str, layers: usize) -> bool {
    text.parse::<usize>()
        .is_ok_and(|i| i < layers && i.to_string() == text)
}

/// A parsed header and the bytes it describes.
struct FileReader<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    data_start: usize,
    header: Metadata,
}

impl FileReader<'_> {
    /// An error about the JSON header, which starts at byte 8.
    fn header_error(&self, message: impl Into<String>) -> Error {
        format_error(self.path, PREFIX, message)
    }

    fn network<F: Float>(&self) -> Result<NeuralNetwork<F>> {
        let Some(metadata) = self.header.metadata() else {
            return Err(self.header_error(
                "the header has no __metadata__: not a network saved by nn (format nn/1)",
            ));
        };
        let get = |key: &str| {
            metadata
                .get(key)
                .map(String::as_str)
                .ok_or_else(|| self.header_error(format!("the metadata key {key:?} is missing")))
        };

        let format = get("format")?;
        if format != FORMAT_VERSION {
            return Err(self.header_error(format!(
                "unsupported format {format:?}: this version of nn reads {FORMAT_VERSION:?}"
            )));
        }
        let dtype = get("dtype")?;
        if dtype != F::DTYPE.name() {
            let message = match dtype {
                "F32" | "F64" => format!(
                    "the file holds {dtype} parameters, but a NeuralNetwork<{}> ({}) was \
                     requested; parameters are not converted: load it as NeuralNetwork<{}>",
                    std::any::type_name::<F>(),
                    F::DTYPE,
                    dtype.to_lowercase(),
                ),
                _ => format!("dtype {dtype:?} is not supported (F32 or F64)"),
            };
            return Err(self.header_error(message));
        }
        let layers = get("layers")?;
        let count = layers
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                self.header_error(format!(
                    "layers = {layers:?} is not a positive number of layers"
                ))
            })?;
        let stray = metadata
            .keys()
            .filter(|key| {
                key.strip_prefix("activation.")
                    .is_some_and(|i| !is_canonical_index(i, count))
            })
            .min();
        if let Some(key) = stray {
            return Err(self.header_error(format!(
                "the metadata key {key:?} names no layer: the file has {count} layers"
            )));
        }

        // Every expected tensor is there (so `count` is bounded by the header's size), and
        // nothing else is.
        for i in 0..count {
            self.info(&format!("layers.{i}.weight"), count)?;
            self.info(&format!("layers.{i}.bias"), count)?;
        }
        if let Some(extra) = self
            .header
            .offset_keys()
            .into_iter()
            .find(|name| !is_layer_tensor(name, count))
        {
            return Err(self.header_error(format!(
                "unexpected tensor {extra:?}: a network of {count} layers has only \
                 layers.{{0..{count}}}.weight and .bias"
            )));
        }

        let loss = parse_loss::<F>(get("loss")?)?;
        let rate = get("learning_rate")?;
        let learning_rate = parse_float::<F>(rate).ok_or_else(|| {
            self.header_error(format!("learning_rate = {rate:?} is not a number"))
        })?;

        let mut dense = Vec::with_capacity(count);
        for i in 0..count {
            let activation = parse_activation::<F>(get(&format!("activation.{i}"))?)?;

            let name = format!("layers.{i}.weight");
            let info = self.info(&name, count)?;
            let &[outs, ins] = info.shape.as_slice() else {
                return Err(self.header_error(format!(
                    "tensor {name} has shape {:?}; a weight matrix has shape [outs, ins]",
                    info.shape
                )));
            };
            if outs == 0 || ins == 0 {
                return Err(self.header_error(format!(
                    "tensor {name} has shape [{outs}, {ins}]; a layer needs at least one \
                     input and one output"
                )));
            }
            let weights = self.values::<F>(&name, info)?;

            let name = format!("layers.{i}.bias");
            let info = self.info(&name, count)?;
            if info.shape != [outs] {
                return Err(self.header_error(format!(
                    "tensor {name} has shape {:?}, expected [{outs}]: one bias per output \
                     of layer {i}",
                    info.shape
                )));
            }
            let bias = self.values::<F>(&name, info)?;

            let shape_error = |_| self.header_error(format!("layer {i}: inconsistent sizes"));
            let weights = Array2::from_shape_vec((outs, ins), weights).map_err(shape_error)?;
            let bias = Array2::from_shape_vec((outs, 1), bias).map_err(shape_error)?;
            dense.push(Dense::from_parameters(weights, bias, activation)?);
        }
        NeuralNetwork::with_boxed_loss(dense, loss, learning_rate)
    }

    fn info(&self, name: &str, layers: usize) -> Result<&TensorInfo> {
        self.header.info(name).ok_or_else(|| {
            self.header_error(format!(
                "the tensor {name} is missing (the metadata declares {layers} layers)"
            ))
        })
    }

    /// The values of a tensor, checked to have `F`'s dtype and to be finite.
    fn values<F: Float>(&self, name: &str, info: &TensorInfo) -> Result<Vec<F>> {
        if info.dtype != dtype_of::<F>() {
            return Err(self.header_error(format!(
                "tensor {name} has dtype {}, but the metadata says {}",
                info.dtype,
                F::DTYPE
            )));
        }
        let (start, end) = info.data_offsets;
        // The safetensors crate checked that the offsets lie in the data section; check
        // again rather than index, so that nothing here can panic.
        let data = self
            .data_start
            .checked_add(start)
            .zip(self.data_start.checked_add(end))
            .and_then(|(s, e)| self.bytes.get(s..e))
            .ok_or_else(|| {
                self.header_error(format!("the data of tensor {name} lies outside the file"))
            })?;
        let size = std::mem::size_of::<F>();
        let mut values = Vec::with_capacity(data.len() / size);
        for (k, chunk) in data.chunks(size).enumerate() {
            let offset = self.data_start + start + k * size;
            let value = read_le::<F>(chunk).ok_or_else(|| {
                format_error(self.path, offset, format!("tensor {name} ends mid-value"))
            })?;
            if !value.is_finite() {
                return Err(format_error(
                    self.path,
                    offset,
                    format!("tensor {name} holds the non-finite value {value} at index {k}"),
                ));
            }
            values.push(value);
        }
        Ok(values)
    }
}

/// Distinguishes the temporary files of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically: `write` fills a new temporary file in the same
/// directory, which is synced and renamed over `path`; then the directory is synced, on a
/// best-effort basis. On any error the temporary file is removed and `path` is untouched.
///
/// `write` is a parameter so that tests can make it fail midway.
fn write_atomically(
    path: &Path,
    bytes: &[u8],
    write: impl FnOnce(&mut File, &[u8]) -> io::Result<()>,
) -> Result<()> {
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let Some(name) = path.file_name() else {
        return Err(io_error(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path does not name a file",
        )));
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };

    // `create_new` never reuses an existing file: a name left over by a crashed process
    // is skipped.
    let mut attempt = 0;
    let (temp, mut file) = loop {
        let mut temp_name = OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(
            ".tmp-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let temp: PathBuf = dir.join(temp_name);
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => break (temp, file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => return Err(io_error(e)),
        }
    };

    let result = write(&mut file, bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            fs::rename(&temp, path)
        });
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(io_error(e));
    }
    // Make the rename itself durable. Not every platform can open or sync a directory,
    // and the file is complete either way, so a failure here is ignored.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_core::Init;
    use nn_layers::{Identity, LeakyRelu, Sigmoid};
    use nn_loss::Mse;
    use rand::{rngs::StdRng, SeedableRng};

    fn network(seed: u64) -> NeuralNetwork<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        NeuralNetwork::new(
            vec![
                Dense::new(3, 4, LeakyRelu::default(), Init::HeNormal, &mut rng).unwrap(),
                Dense::new(4, 4, Sigmoid, Init::HeNormal, &mut rng).unwrap(),
                Dense::new(4, 2, Identity, Init::HeNormal, &mut rng).unwrap(),
            ],
            Mse,
            0.1 + 0.2,
        )
        .unwrap()
    }

    fn entries(dir: &Path) -> Vec<PathBuf> {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        entries
    }

    #[test]
    fn an_error_midway_leaves_the_previous_file_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        network(1).save(&path).unwrap();
        let before = fs::read(&path).unwrap();

        let new = network(2).to_safetensors_bytes().unwrap();
        assert_ne!(new, before);
        let result = write_atomically(&path, &new, |file, bytes| {
            file.write_all(&bytes[..bytes.len() / 2])?;
            Err(io::Error::other("injected failure"))
        });
        match result {
            Err(Error::Io { path: p, source }) => {
                assert_eq!(p, path);
                assert_eq!(source.to_string(), "injected failure");
            }
            other => panic!("expected an I/O error, got {other:?}"),
        }
        assert_eq!(fs::read(&path).unwrap(), before);
        assert_eq!(entries(dir.path()), vec![path.clone()]);

        // The same path then saves normally, replacing the file.
        write_atomically(&path, &new, |file, bytes| file.write_all(bytes)).unwrap();
        assert_eq!(fs::read(&path).unwrap(), new);
        assert_eq!(entries(dir.path()), vec![path]);
    }

    #[test]
    fn a_failed_rename_removes_the_temporary_file() {
        // A non-empty directory at the target cannot be replaced by a file.
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("model.safetensors");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep"), b"x").unwrap();
        assert!(matches!(network(1).save(&target), Err(Error::Io { .. })));
        assert_eq!(entries(dir.path()), vec![target.clone()]);
        assert_eq!(fs::read(target.join("keep")).unwrap(), b"x");
    }

    #[test]
    fn a_leftover_temporary_name_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let next = TEMP_COUNTER.load(Ordering::Relaxed);
        // Occupy the next few names (other tests may take some of them concurrently).
        for k in next..next + 4 {
            let name = format!(".m.safetensors.tmp-{}-{k}", std::process::id());
            fs::write(dir.path().join(name), b"stale").unwrap();
        }
        network(3).save(&path).unwrap();
        assert!(NeuralNetwork::<f64>::load(&path).is_ok());
        assert_eq!(entries(dir.path()).len(), 5);
    }

    #[test]
    fn the_temporary_file_is_written_in_the_target_directory() {
        // So that the rename stays on one file system and never copies.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        write_atomically(&path, b"bytes", |file, bytes| {
            let names: Vec<_> = entries(dir.path())
                .iter()
                .map(|p| p.file_name().unwrap().to_owned())
                .collect();
            assert_eq!(names.len(), 1, "{names:?}");
            assert!(names[0]
                .to_string_lossy()
                .starts_with(".model.safetensors.tmp-"));
            file.write_all(bytes)
        })
        .unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"bytes");
    }

    #[test]
    fn temporary_names_taken_every_time_are_an_error_after_a_hundred_attempts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.safetensors");
        let next = TEMP_COUNTER.load(Ordering::Relaxed);
        // Far more names than the attempts, and than other tests can take meanwhile.
        for k in next..next + 1000 {
            let name = format!(".n.safetensors.tmp-{}-{k}", std::process::id());
            fs::write(dir.path().join(name), b"stale").unwrap();
        }
        match write_atomically(&path, b"bytes", |file, bytes| file.write_all(bytes)) {
            Err(Error::Io { source, .. }) => {
                assert_eq!(source.kind(), io::ErrorKind::AlreadyExists)
            }
            other => panic!("{other:?}"),
        }
        assert!(!path.exists());
        let used = TEMP_COUNTER.load(Ordering::Relaxed) - next;
        assert!((101..1000).contains(&used), "{used} names tried");
    }

    #[test]
    fn json_offsets_count_lines_and_columns() {
        let text = b"{\n  \"a\": x\n}";
        assert_eq!(json_offset(text, 1, 1), 0);
        assert_eq!(json_offset(text, 2, 8), 9);
        assert_eq!(text[9], b'x');
        assert_eq!(json_offset(text, 9, 9), text.len());
    }

    #[test]
    fn tensor_names_are_canonical() {
        assert!(is_layer_tensor("layers.0.weight", 1));
        assert!(is_layer_tensor("layers.10.bias", 11));
        assert!(!is_layer_tensor("layers.1.bias", 1));
        assert!(!is_layer_tensor("layers.01.bias", 2));
        assert!(!is_layer_tensor("layers.+1.bias", 2));
        assert!(!is_layer_tensor("layers.0.gamma", 2));
    }

    #[test]
    fn learning_rates_read_back_exactly() {
        for rate in [0.1f32, 1e-7, 0.012_345_679, f32::MIN_POSITIVE, 3.0e38] {
            assert_eq!(parse_float::<f32>(&rate.to_string()), Some(rate));
        }
        for rate in [0.1 + 0.2, 1e-300, 0.001, 5e-324] {
            assert_eq!(parse_float::<f64>(&rate.to_string()), Some(rate));
        }
        assert_eq!(parse_float::<f64>("fast"), None);
    }
}
