//! Reading a network from the bytes of a safetensors file, which may come from anyone:
//! every size, offset and value is checked before use, and every error names its byte.

use std::path::Path;

use ndarray::{Array1, Array2};
use nn_core::{Activation, Error, Float, Preprocessing, PreprocessingKind, Result};
use nn_layers::{parse_activation, Dense};
use nn_loss::parse_loss;
use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::{Dtype, SafeTensorError, SafeTensors};

use super::{FORMAT_VERSION, PREFIX, PREPROCESSING_SCALE, PREPROCESSING_SHIFT};
use crate::NeuralNetwork;

impl<F: Float> NeuralNetwork<F> {
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
        FileReader::new(bytes, source.as_ref())?.network()
    }
}

/// The value of IEEE half-precision bits: sign, 5 exponent bits (bias 15), 10 fraction
/// bits; exponent 0 is subnormal, 31 infinite or NaN.
fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let fraction = f64::from(bits & 0x3ff);
    match exponent {
        0 => sign * fraction * 2f64.powi(-24),
        31 if fraction == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        e => sign * (1.0 + fraction / 1024.0) * 2f64.powi(e - 15),
    }
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

pub(super) fn format_error(path: &Path, offset: usize, message: impl Into<String>) -> Error {
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
pub(super) struct FileReader<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    data_start: usize,
    header: Metadata,
}

impl<'a> FileReader<'a> {
    /// Reads the header of the safetensors file `bytes` (see [`read_header`]); `path`
    /// names it in errors.
    pub(super) fn new(bytes: &'a [u8], path: &'a Path) -> Result<Self> {
        let (data_start, header) = read_header(bytes, path)?;
        Ok(FileReader {
            path,
            bytes,
            data_start,
            header,
        })
    }

    /// The parsed header.
    pub(super) fn header(&self) -> &Metadata {
        &self.header
    }

    /// An error about the JSON header, which starts at byte 8.
    pub(super) fn header_error(&self, message: impl Into<String>) -> Error {
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
        self.check_format::<F>(get("format")?, get("dtype")?)?;
        let count = self.layer_count(get("layers")?, metadata.keys())?;
        let preprocessing = metadata.get("preprocessing");
        self.check_tensor_names(count, preprocessing.is_some())?;
        let loss = parse_loss::<F>(get("loss")?)?;
        let rate = get("learning_rate")?;
        let learning_rate = parse_float::<F>(rate).ok_or_else(|| {
            self.header_error(format!("learning_rate = {rate:?} is not a number"))
        })?;
        let layers = (0..count)
            .map(|i| {
                let activation = parse_activation::<F>(get(&format!("activation.{i}"))?)?;
                let layer = self.layer(i, count, activation)?;
                match metadata.get(&format!("dropout.{i}")) {
                    Some(rate) => self.dropout(layer, i, rate),
                    None => Ok(layer),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let mut network = NeuralNetwork::with_boxed_loss(layers, loss, learning_rate)?;
        if let Some(kind) = preprocessing {
            network
                .set_preprocessing(Some(self.preprocessing(kind, network.ins())?))
                .map_err(|e| self.header_error(format!("the preprocessing step: {e}")))?;
        }
        if let Some(names) = metadata.get("class_names") {
            let names: Vec<String> = serde_json::from_str(names).map_err(|e| {
                self.header_error(format!(
                    "class_names = {names:?} is not a JSON array of strings: {e}"
                ))
            })?;
            network
                .set_class_names(Some(names))
                .map_err(|e| self.header_error(format!("class_names: {e}")))?;
        }
        Ok(network)
    }

    /// The preprocessing step of `kind` (a [`PreprocessingKind`] name) from the tensors
    /// `preprocessing.shift` and `preprocessing.scale`, each of shape `[ins]`.
    fn preprocessing<F: Float>(&self, kind: &str, ins: usize) -> Result<Preprocessing<F>> {
        let kind = PreprocessingKind::parse(kind)?;
        let vector = |name: &str| -> Result<Array1<F>> {
            let info = self.header.info(name).ok_or_else(|| {
                self.header_error(format!(
                    "the tensor {name} is missing (the metadata declares a preprocessing step)"
                ))
            })?;
            if info.shape != [ins] {
                return Err(self.header_error(format!(
                    "tensor {name} has shape {:?}, expected [{ins}]: one value per input of \
                     the first layer",
                    info.shape
                )));
            }
            Ok(Array1::from(self.values::<F>(name, info)?))
        };
        let (shift, scale) = (vector(PREPROCESSING_SHIFT)?, vector(PREPROCESSING_SCALE)?);
        Preprocessing::from_parts(kind, shift, scale)
            .map_err(|e| self.header_error(format!("the preprocessing step: {e}")))
    }

    /// Refuses another layout version, and a dtype other than `F`'s (no silent conversion).
    fn check_format<F: Float>(&self, format: &str, dtype: &str) -> Result<()> {
        if format != FORMAT_VERSION {
            return Err(self.header_error(format!(
                "unsupported format {format:?}: this version of nn reads {FORMAT_VERSION:?}"
            )));
        }
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
        Ok(())
    }

    /// `layer` with the dropout `rate` the key `dropout.{index}` gives.
    ///
    /// # Errors
    /// [`Error::Format`] for a rate that is not a number in `[0, 1)`.
    fn dropout<F: Float>(&self, layer: Dense<F>, index: usize, rate: &str) -> Result<Dense<F>> {
        let invalid =
            |reason: String| self.header_error(format!("dropout.{index} = {rate:?} {reason}"));
        let value = rate
            .parse::<f64>()
            .map_err(|_| invalid("is not a number".into()))?;
        layer
            .with_dropout(value)
            .map_err(|e| invalid(format!("is not a dropout rate: {e}")))
    }

    /// The number of layers the metadata's `layers` states, checked to be positive and to
    /// match every `activation.{i}` and `dropout.{i}` key.
    fn layer_count<'k>(
        &self,
        layers: &str,
        keys: impl Iterator<Item = &'k String>,
    ) -> Result<usize> {
        let count = layers
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                self.header_error(format!(
                    "layers = {layers:?} is not a positive number of layers"
                ))
            })?;
        let stray = keys
            .filter(|key| {
                (key.strip_prefix("activation.")
                    .or_else(|| key.strip_prefix("dropout.")))
                .is_some_and(|i| !is_canonical_index(i, count))
            })
            .min();
        if let Some(key) = stray {
            return Err(self.header_error(format!(
                "the metadata key {key:?} names no layer: the file has {count} layers"
            )));
        }
        Ok(count)
    }

    /// Checks that every expected tensor is there (so `count` is bounded by the header's
    /// size), and nothing else is: the layers', and the preprocessing step's if
    /// `preprocessing`.
    fn check_tensor_names(&self, count: usize, preprocessing: bool) -> Result<()> {
        for i in 0..count {
            self.info(&format!("layers.{i}.weight"), count)?;
            self.info(&format!("layers.{i}.bias"), count)?;
        }
        if let Some(extra) = self.header.offset_keys().into_iter().find(|name| {
            let step = [PREPROCESSING_SHIFT, PREPROCESSING_SCALE].contains(&name.as_str());
            !(is_layer_tensor(name, count) || preprocessing && step)
        }) {
            return Err(self.header_error(format!(
                "unexpected tensor {extra:?}: a network of {count} layers has only \
                 layers.{{0..{count}}}.weight and .bias{}",
                if preprocessing {
                    ", and preprocessing.shift and .scale"
                } else {
                    " (preprocessing tensors need the metadata key \"preprocessing\")"
                }
            )));
        }
        Ok(())
    }

    /// Layer `i` of `count`: its weight and bias tensors, checked for shape, dtype and
    /// finiteness, with `activation`.
    fn layer<F: Float>(
        &self,
        i: usize,
        count: usize,
        activation: Box<dyn Activation<F>>,
    ) -> Result<Dense<F>> {
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
        Dense::from_parameters(weights, bias, activation)
    }

    fn info(&self, name: &str, layers: usize) -> Result<&TensorInfo> {
        self.header.info(name).ok_or_else(|| {
            self.header_error(format!(
                "the tensor {name} is missing (the metadata declares {layers} layers)"
            ))
        })
    }

    /// The values of a tensor in `F`'s own dtype (nn's files never convert), checked
    /// finite.
    fn values<F: Float>(&self, name: &str, info: &TensorInfo) -> Result<Vec<F>> {
        if info.dtype != dtype_of::<F>() {
            return Err(self.header_error(format!(
                "tensor {name} has dtype {}, but the metadata says {}",
                info.dtype,
                F::DTYPE
            )));
        }
        self.float_values(name, info)
    }

    /// The values of a float tensor (`F16`, `BF16`, `F32` or `F64`), converted to `F`
    /// (exactly, from a dtype no wider than `F`'s) and checked finite.
    pub(super) fn float_values<F: Float>(&self, name: &str, info: &TensorInfo) -> Result<Vec<F>> {
        let (size, decode): (usize, fn(&[u8]) -> f64) = match info.dtype {
            Dtype::F16 => (2, |b| f16_to_f64(u16::from_le_bytes([b[0], b[1]]))),
            Dtype::BF16 => (2, |b| {
                f64::from(f32::from_bits(
                    u32::from(u16::from_le_bytes([b[0], b[1]])) << 16,
                ))
            }),
            Dtype::F32 => (4, |b| {
                f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }),
            Dtype::F64 => (8, |b| {
                f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            }),
            other => {
                return Err(self.header_error(format!(
                    "tensor {name} has dtype {other}; F16, BF16, F32 or F64 is needed"
                )))
            }
        };
        let (start, end) = info.data_offsets;
        // The safetensors crate checked that the offsets lie in the data section and fit
        // the shape; check again rather than index, so that nothing here can panic.
        let data = self
            .data_start
            .checked_add(start)
            .zip(self.data_start.checked_add(end))
            .and_then(|(s, e)| self.bytes.get(s..e))
            .ok_or_else(|| {
                self.header_error(format!("the data of tensor {name} lies outside the file"))
            })?;
        if data.len() % size != 0 {
            let offset = self.data_start + start + data.len() / size * size;
            return Err(format_error(
                self.path,
                offset,
                format!("tensor {name} ends mid-value"),
            ));
        }
        let mut values = Vec::with_capacity(data.len() / size);
        for (k, chunk) in data.chunks_exact(size).enumerate() {
            let value = decode(chunk);
            if !value.is_finite() {
                return Err(format_error(
                    self.path,
                    self.data_start + start + k * size,
                    format!("tensor {name} holds the non-finite value {value} at index {k}"),
                ));
            }
            values.push(F::from_f64(value));
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn half_precision_values_decode_exactly() {
        for (bits, value) in [
            (0x3c00, 1.0),
            (0xc000, -2.0),
            (0x3555, 0.333_251_953_125),
            (0x7bff, 65504.0),
            (0x0001, 2f64.powi(-24)),
            (0x03ff, 1023.0 * 2f64.powi(-24)),
            (0x0000, 0.0),
        ] {
            assert_eq!(f16_to_f64(bits), value, "{bits:#06x}");
        }
        assert_eq!(f16_to_f64(0xfc00), f64::NEG_INFINITY);
        assert!(f16_to_f64(0x7e00).is_nan());
    }
}
