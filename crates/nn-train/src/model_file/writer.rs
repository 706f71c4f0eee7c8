//! Writing a network as the bytes of a safetensors file (the layout is described in the
//! parent module).

use std::collections::BTreeMap;

use nn_core::{tensor, Float, Result};
use nn_layers::parse_activation;
use nn_loss::parse_loss;

use super::{FORMAT_VERSION, PREFIX, PREPROCESSING_SCALE, PREPROCESSING_SHIFT};
use crate::NeuralNetwork;

impl<F: Float> NeuralNetwork<F> {
    /// The safetensors file [`NeuralNetwork::save`] writes, as bytes.
    ///
    /// # Errors
    /// Refuses to produce a file that would not load back:
    /// [`Error::Unknown`](nn_core::Error::Unknown) if an activation's or the loss's name is
    /// not one that `nn_layers::parse_activation` or `nn_loss::parse_loss` knows (a
    /// user-defined type), [`Error::NonFiniteInput`](nn_core::Error::NonFiniteInput) if a
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

        for (i, layer) in layers.iter().enumerate() {
            let activation = layer.activation().name();
            parse_activation::<F>(&activation)?;
            metadata.insert(format!("activation.{i}"), activation);
            if let Some(dropout) = layer.dropout() {
                metadata.insert(format!("dropout.{i}"), dropout.rate().to_string());
            }
        }
        let mut extra = Vec::new();
        if let Some(p) = self.preprocessing() {
            metadata.insert("preprocessing".to_string(), p.kind().name().to_string());
            extra.push((PREPROCESSING_SHIFT.to_string(), p.shift().to_vec()));
            extra.push((PREPROCESSING_SCALE.to_string(), p.scale_factors().to_vec()));
        }
        if let Some(names) = self.class_names() {
            let names = serde_json::to_string(names).expect("strings always serialize");
            metadata.insert("class_names".to_string(), names);
        }
        let names = |i: usize| (format!("layers.{i}.weight"), format!("layers.{i}.bias"));
        self.encode_safetensors(&metadata, &extra, names)
    }

    /// The bytes of a safetensors file holding the vectors `extra` (name, values), then
    /// every layer's `W` (shape `[outs, ins]`) and `b` (shape `[outs]`) under the names
    /// `names(i)` gives layer `i`, with `metadata`.
    ///
    /// # Errors
    /// [`Error::NonFiniteInput`](nn_core::Error::NonFiniteInput) if a parameter is NaN or
    /// infinite.
    pub(super) fn encode_safetensors(
        &self,
        metadata: &BTreeMap<String, String>,
        extra: &[(String, Vec<F>)],
        names: impl Fn(usize) -> (String, String),
    ) -> Result<Vec<u8>> {
        let layers = self.layers();
        let size = std::mem::size_of::<F>();
        let mut data = Vec::with_capacity(self.parameter_count() * size);
        // (name, shape, start and end of the data), in the order the data is written.
        let mut tensors = Vec::with_capacity(2 * layers.len() + extra.len());
        for (name, values) in extra {
            let start = data.len();
            values.iter().for_each(|&v| push_le(&mut data, v));
            tensors.push((name.clone(), vec![values.len()], start, data.len()));
        }
        for (i, layer) in layers.iter().enumerate() {
            tensor::check_finite(&format!("weights of layer {i}"), layer.weights())?;
            tensor::check_finite(&format!("bias of layer {i}"), layer.bias())?;
            let (weight_name, bias_name) = names(i);
            let start = data.len();
            layer.weights().iter().for_each(|&v| push_le(&mut data, v));
            let shape = vec![layer.outs(), layer.ins()];
            tensors.push((weight_name, shape, start, data.len()));
            let start = data.len();
            layer.bias().iter().for_each(|&v| push_le(&mut data, v));
            tensors.push((bias_name, vec![layer.outs()], start, data.len()));
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
