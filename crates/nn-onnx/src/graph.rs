//! The ONNX graph of a network: its nodes and initializers, in the types generated from
//! `onnx.proto` (the layout is described in the crate's documentation).

use ndarray::{ArrayView1, Axis};
use nn_core::{tensor, Dtype, Error, Float, Result};
use nn_layers::parse_activation;
use nn_train::NeuralNetwork;

use crate::proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto::dimension,
    tensor_shape_proto::Dimension, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use crate::{IR_VERSION, OPSET};

/// The graph's input: `[batch, ins]`, one sample per row.
const INPUT: &str = "input";

/// The graph's output: the last layer's activations, `[batch, outs]`.
const OUTPUT: &str = "output";

/// The graph's second output for a cross-entropy network: the softmax of `output`.
const PROBABILITIES: &str = "probabilities";

/// The metadata key of the class names: a JSON array of strings, one per output.
const CLASS_NAMES: &str = "class_names";

/// The name of the batch dimension of the input and outputs.
const BATCH: &str = "batch";

/// The ONNX model of `net`, with a preprocessing step `(shift, scale)` applied to the input
/// first (`x' = (x − shift) ⊙ scale`) when there is one.
///
/// # Errors
/// - [`Error::Unknown`] if a layer's activation is not one of nn's (its name is not one
///   that `nn_layers::parse_activation` knows);
/// - [`Error::NonFiniteInput`] if a weight, a bias or an entry of `shift` or `scale` is
///   NaN or infinite;
/// - [`Error::ShapeMismatch`] if `shift` or `scale` does not have one entry per input.
pub(crate) fn model<F: Float>(
    net: &NeuralNetwork<F>,
    preprocessing: Option<(ArrayView1<'_, F>, ArrayView1<'_, F>)>,
) -> Result<ModelProto> {
    let mut graph = Graph::<F>::default();
    let mut x = INPUT.to_string();

    if let Some((shift, scale)) = preprocessing {
        for (what, v) in [
            ("preprocessing shift", shift),
            ("preprocessing scale", scale),
        ] {
            if v.len() != net.ins() {
                return Err(Error::ShapeMismatch {
                    what: what.into(),
                    expected: (net.ins(), 1),
                    actual: (v.len(), 1),
                });
            }
            tensor::check_finite(what, v.insert_axis(Axis(1)))?;
        }
        // `[ins]` against `[batch, ins]`: numpy-style broadcasting over the rows.
        let shift = graph.initializer("preprocessing.shift", &[net.ins()], shift.iter());
        let scale = graph.initializer("preprocessing.scale", &[net.ins()], scale.iter());
        let shifted = "preprocessing.shifted";
        x = graph.node("Sub", "preprocessing.sub", &[&x, &shift], shifted, vec![]);
        let scaled = "preprocessing.output";
        x = graph.node("Mul", "preprocessing.mul", &[&x, &scale], scaled, vec![]);
    }

    let last = net.layers().len() - 1;
    for (i, layer) in net.layers().iter().enumerate() {
        tensor::check_finite(&format!("weights of layer {i}"), layer.weights())?;
        tensor::check_finite(&format!("bias of layer {i}"), layer.bias())?;
        let activation = activation::<F>(&layer.activation().name())?;
        let out = if i == last {
            OUTPUT.to_string()
        } else {
            format!("layers.{i}.output")
        };

        // `y = x·Wᵀ + b`: Gemm with `transB = 1` takes `W` as nn holds it, `(outs, ins)`,
        // and adds the bias `[outs]` to every row.
        let w = graph.initializer(
            &format!("layers.{i}.weight"),
            &[layer.outs(), layer.ins()],
            layer.weights().iter(),
        );
        let b = graph.initializer(
            &format!("layers.{i}.bias"),
            &[layer.outs()],
            layer.bias().iter(),
        );
        let y = match activation {
            None => out.clone(),
            Some(_) => format!("layers.{i}.linear"),
        };
        let transpose_w = vec![int_attribute("transB", 1)];
        x = graph.node(
            "Gemm",
            &format!("layers.{i}.gemm"),
            &[&x, &w, &b],
            &y,
            transpose_w,
        );
        if let Some(activation) = activation {
            x = graph.activation(i, activation, &y, &out);
        }
    }

    let mut outputs = vec![value_info::<F>(OUTPUT, net.outs())];
    if net.loss_function().name() == "cross_entropy" {
        // The outputs are logits; `predict_probabilities` is their softmax, per sample.
        let axis = vec![int_attribute("axis", -1)];
        graph.node("Softmax", "softmax", &[OUTPUT], PROBABILITIES, axis);
        outputs.push(value_info::<F>(PROBABILITIES, net.outs()));
    }

    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("nn".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        doc_string: Some(describe(net, preprocessing.is_some())),
        // The class of each output, for whoever serves the model: the model's metadata
        // (`session.get_modelmeta().custom_metadata_map` in ONNX Runtime).
        metadata_props: (net.class_names().into_iter())
            .map(|names| StringStringEntryProto {
                key: Some(CLASS_NAMES.into()),
                value: Some(serde_json::to_string(names).expect("strings always serialize")),
            })
            .collect(),
        graph: Some(GraphProto {
            name: Some("nn".into()),
            node: graph.nodes,
            initializer: graph.initializers,
            input: vec![value_info::<F>(INPUT, net.ins())],
            output: outputs,
            ..GraphProto::default()
        }),
        ..ModelProto::default()
    })
}

/// An activation as ONNX computes it; `None` stands for the identity (no node).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Activation<F> {
    Relu,
    Sigmoid,
    Tanh,
    LeakyRelu(F),
}

/// The ONNX operation of the activation named `name` (as `Activation::name` gives it).
///
/// # Errors
/// [`Error::Unknown`] for a name that `nn_layers::parse_activation` does not know.
fn activation<F: Float>(name: &str) -> Result<Option<Activation<F>>> {
    let f = parse_activation::<F>(name)?;
    Ok(match name.trim() {
        "identity" => None,
        "relu" => Some(Activation::Relu),
        "sigmoid" => Some(Activation::Sigmoid),
        "tanh" => Some(Activation::Tanh),
        // Every other name parse_activation accepts is a LeakyReLU's, `leaky_relu` or
        // `leaky_relu(α)`; its `f(-1) = α·(-1)` gives the slope exactly, in `F`.
        _ => Some(Activation::LeakyRelu(-f.f(-F::one()))),
    })
}

/// The nodes and initializers of a graph under construction.
struct Graph<F> {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    dtype: std::marker::PhantomData<F>,
}

impl<F> Default for Graph<F> {
    fn default() -> Self {
        Graph {
            nodes: Vec::new(),
            initializers: Vec::new(),
            dtype: std::marker::PhantomData,
        }
    }
}

impl<F: Float> Graph<F> {
    /// Adds the node `name` computing `op_type(inputs)`, with `attributes`, into `output`;
    /// returns `output`.
    fn node(
        &mut self,
        op_type: &str,
        name: &str,
        inputs: &[&str],
        output: &str,
        attribute: Vec<AttributeProto>,
    ) -> String {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: Some(name.to_string()),
            op_type: Some(op_type.to_string()),
            attribute,
            ..NodeProto::default()
        });
        output.to_string()
    }

    /// Adds the nodes of layer `i`'s activation from `y` into `output`; returns `output`.
    fn activation(&mut self, i: usize, activation: Activation<F>, y: &str, output: &str) -> String {
        let name = |op: &str| format!("layers.{i}.{op}");
        match activation {
            Activation::Relu => self.node("Relu", &name("relu"), &[y], output, vec![]),
            Activation::Sigmoid => self.node("Sigmoid", &name("sigmoid"), &[y], output, vec![]),
            Activation::Tanh => self.node("Tanh", &name("tanh"), &[y], output, vec![]),
            Activation::LeakyRelu(alpha) if F::DTYPE == Dtype::F32 => {
                let alpha = vec![float_attribute("alpha", alpha.as_f64() as f32)];
                self.node("LeakyRelu", &name("leaky_relu"), &[y], output, alpha)
            }
            // ONNX Runtime's CPU provider has no LeakyRelu kernel for double (1.32: "Could
            // not find an implementation for LeakyRelu(6)"), and the attribute `alpha` is
            // an f32, which would round an f64 slope. nn's own definition,
            // `max(y, α·y)` for `0 ≤ α < 1`, is exact with a double `α`: Mul, then Max.
            Activation::LeakyRelu(alpha) => {
                let alpha = self.initializer(&name("alpha"), &[], [alpha].iter());
                let scaled = name("scaled");
                self.node(
                    "Mul",
                    &name("leaky_relu.mul"),
                    &[y, &alpha],
                    &scaled,
                    vec![],
                );
                self.node(
                    "Max",
                    &name("leaky_relu.max"),
                    &[y, &scaled],
                    output,
                    vec![],
                )
            }
        }
    }

    /// Adds the constant tensor `name` of shape `dims` holding `values` in row-major
    /// order, as little-endian `raw_data` in `F`'s type; returns `name`.
    fn initializer<'a>(
        &mut self,
        name: &str,
        dims: &[usize],
        values: impl Iterator<Item = &'a F>,
    ) -> String
    where
        F: 'a,
    {
        let mut raw = Vec::new();
        for &v in values {
            match F::DTYPE {
                // Exact: the value is an f32 widened to f64.
                Dtype::F32 => raw.extend_from_slice(&(v.as_f64() as f32).to_le_bytes()),
                _ => raw.extend_from_slice(&v.as_f64().to_le_bytes()),
            }
        }
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(data_type::<F>() as i32),
            name: Some(name.to_string()),
            raw_data: Some(raw),
            ..TensorProto::default()
        });
        name.to_string()
    }
}

/// ONNX's element type for `F`: `FLOAT` or `DOUBLE`.
fn data_type<F: Float>() -> DataType {
    match F::DTYPE {
        Dtype::F32 => DataType::Float,
        _ => DataType::Double,
    }
}

/// A graph input or output `name` of shape `[batch, width]` and element type `F`'s.
fn value_info<F: Float>(name: &str, width: usize) -> ValueInfoProto {
    let dim = |value| Dimension {
        value: Some(value),
        ..Dimension::default()
    };
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(data_type::<F>() as i32),
                shape: Some(TensorShapeProto {
                    dim: vec![
                        dim(dimension::Value::DimParam(BATCH.to_string())),
                        dim(dimension::Value::DimValue(width as i64)),
                    ],
                }),
            })),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

fn int_attribute(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..AttributeProto::default()
    }
}

fn float_attribute(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(value),
        ..AttributeProto::default()
    }
}

/// The model's `doc_string`: its layers, e.g. `nn network: input 4 → preprocessing →
/// dense 16 tanh → dense 3 identity; loss cross_entropy`.
fn describe<F: Float>(net: &NeuralNetwork<F>, preprocessing: bool) -> String {
    let mut text = format!("nn network: input {}", net.ins());
    if preprocessing {
        text += " → preprocessing";
    }
    for layer in net.layers() {
        text += &format!(" → dense {} {}", layer.outs(), layer.activation().name());
    }
    text + &format!("; loss {}", net.loss_function().name())
}
