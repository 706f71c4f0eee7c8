//! The exported bytes, decoded with the generated types: their structure, their constants
//! bit for bit, and what the graph computes (a small interpreter of its nodes, in f64,
//! against `forward_pass`). The comparison with ONNX Runtime itself is
//! `tests/python/check_onnx.py`, run by `.ci/run`.

use std::collections::HashMap;

use ndarray::{array, Array1, Array2, ArrayView2, Axis};
use nn_core::{Activation, Error, Float, Init, Preprocessing};
use nn_layers::{Dense, Identity, LeakyRelu, Relu, Sigmoid, Tanh};
use nn_loss::{CrossEntropy, Mse};
use nn_train::NeuralNetwork;
use prost::Message;
use rand::{rngs::StdRng, Rng, SeedableRng};

use crate::graph;
use crate::proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto::dimension,
    type_proto, ModelProto, NodeProto, TensorProto, ValueInfoProto,
};
use crate::{check_size, save_onnx, to_onnx_bytes, MAX_BYTES};

/// A 3 → 5 → 4 → 4 → 6 → 2 network with every activation, LeakyReLU's slope 0.25.
fn every_activation<F: Float>(loss_is_cross_entropy: bool) -> NeuralNetwork<F> {
    let mut rng = StdRng::seed_from_u64(3);
    let layers = vec![
        Dense::new(
            3,
            5,
            LeakyRelu::with_alpha(F::from_f64(0.25)).unwrap(),
            Init::HeNormal,
            &mut rng,
        ),
        Dense::new(5, 4, Relu, Init::HeNormal, &mut rng),
        Dense::new(4, 4, Sigmoid, Init::XavierNormal, &mut rng),
        Dense::new(4, 6, Tanh, Init::XavierNormal, &mut rng),
        Dense::new(6, 2, Identity, Init::XavierNormal, &mut rng),
    ];
    let layers = layers
        .into_iter()
        .collect::<nn_core::Result<Vec<_>>>()
        .unwrap();
    let mut net = if loss_is_cross_entropy {
        NeuralNetwork::new(layers, CrossEntropy, F::from_f64(0.1)).unwrap()
    } else {
        NeuralNetwork::new(layers, Mse, F::from_f64(0.1)).unwrap()
    };
    // Non-zero biases, so that a bias written in the wrong place shows.
    for i in 0..5 {
        let (_, mut b) = net.parameters_mut(i).unwrap();
        b.mapv_inplace(|_| F::from_f64(rng.random_range(-0.5..0.5)));
    }
    net
}

fn decode<F: Float>(net: &NeuralNetwork<F>) -> ModelProto {
    ModelProto::decode(&to_onnx_bytes(net).unwrap()[..]).unwrap()
}

fn op_types(model: &ModelProto) -> Vec<&str> {
    let nodes = &model.graph.as_ref().unwrap().node;
    nodes.iter().map(|n| n.op_type()).collect()
}

fn initializer<'m>(model: &'m ModelProto, name: &str) -> &'m TensorProto {
    let graph = model.graph.as_ref().unwrap();
    let found = graph.initializer.iter().find(|t| t.name() == name);
    found.unwrap_or_else(|| panic!("no initializer {name}"))
}

/// The values of an initializer as `F`, from its little-endian `raw_data`.
fn values<F: Float>(tensor: &TensorProto) -> Vec<F> {
    let raw = tensor.raw_data();
    let size = std::mem::size_of::<F>();
    assert_eq!(raw.len() % size, 0);
    raw.chunks(size)
        .map(|b| match size {
            4 => F::from_f64(f32::from_le_bytes(b.try_into().unwrap()) as f64),
            _ => F::from_f64(f64::from_le_bytes(b.try_into().unwrap())),
        })
        .collect()
}

/// `(name, element type, shape)` of a graph input or output; a symbolic dimension as its
/// name, a fixed one as its decimal value.
fn signature(value: &ValueInfoProto) -> (&str, i32, Vec<String>) {
    let Some(type_proto::Value::TensorType(tensor)) = &value.r#type.as_ref().unwrap().value else {
        panic!("{} is not a tensor", value.name());
    };
    let dims = tensor.shape.as_ref().unwrap().dim.iter();
    let dims = dims.map(|d| match d.value.as_ref().unwrap() {
        dimension::Value::DimParam(name) => name.clone(),
        dimension::Value::DimValue(v) => v.to_string(),
    });
    (value.name(), tensor.elem_type(), dims.collect())
}

fn attribute(node: &NodeProto, name: &str) -> (AttributeType, Option<i64>, Option<f32>) {
    let found = node.attribute.iter().find(|a| a.name() == name);
    let a = found.unwrap_or_else(|| panic!("{} has no attribute {name}", node.name()));
    (a.r#type(), a.i, a.f)
}

/// Bit patterns, so that -0.0 differs from 0.0 and NaNs compare.
fn bits<F: Float>(values: impl IntoIterator<Item = F>) -> Vec<u64> {
    values.into_iter().map(|v| v.as_f64().to_bits()).collect()
}

#[test]
fn the_model_declares_opset_13_ir_7_and_its_producer() {
    let model = decode(&every_activation::<f32>(false));
    assert_eq!(model.ir_version, Some(7));
    assert_eq!(model.opset_import.len(), 1);
    assert_eq!(model.opset_import[0].domain(), "");
    assert_eq!(model.opset_import[0].version, Some(13));
    assert_eq!(model.producer_name(), "nn");
    assert_eq!(model.producer_version(), env!("CARGO_PKG_VERSION"));
    assert_eq!(
        model.doc_string(),
        "nn network: input 3 → dense 5 leaky_relu(0.25) → dense 4 relu → dense 4 sigmoid \
         → dense 6 tanh → dense 2 identity; loss mse"
    );
}

#[test]
fn f32_graph_inputs_outputs_and_nodes() {
    let net = every_activation::<f32>(false);
    let model = decode(&net);
    let graph = model.graph.as_ref().unwrap();
    let float = DataType::Float as i32;
    assert_eq!(graph.input.len(), 1);
    assert_eq!(
        signature(&graph.input[0]),
        ("input", float, vec!["batch".into(), "3".into()])
    );
    assert_eq!(graph.output.len(), 1);
    assert_eq!(
        signature(&graph.output[0]),
        ("output", float, vec!["batch".into(), "2".into()])
    );
    assert_eq!(
        op_types(&model),
        [
            "Gemm",
            "LeakyRelu",
            "Gemm",
            "Relu",
            "Gemm",
            "Sigmoid",
            "Gemm",
            "Tanh",
            "Gemm"
        ]
    );
    // A chain: each node reads what the one before it wrote; the last writes `output`.
    let mut x = "input";
    for node in &graph.node {
        assert_eq!(node.input[0], x, "{}", node.name());
        assert_eq!(node.output.len(), 1);
        x = &node.output[0];
    }
    assert_eq!(x, "output");
    for (k, gemm) in graph
        .node
        .iter()
        .filter(|n| n.op_type() == "Gemm")
        .enumerate()
    {
        let names = [format!("layers.{k}.weight"), format!("layers.{k}.bias")];
        assert_eq!(gemm.input[1..], names);
        assert_eq!(
            attribute(gemm, "transB"),
            (AttributeType::Int, Some(1), None)
        );
        assert_eq!(
            gemm.attribute.len(),
            1,
            "alpha, beta and transA keep their defaults"
        );
    }
    let leaky = &graph.node[1];
    assert_eq!(
        attribute(leaky, "alpha"),
        (AttributeType::Float, None, Some(0.25))
    );
    assert!(
        graph.node.iter().all(|n| n.domain.is_none()),
        "the default domain"
    );
}

#[test]
fn initializers_are_the_parameters_bit_for_bit() {
    fn check<F: Float>(data_type: DataType) {
        let net = every_activation::<F>(false);
        let model = decode(&net);
        for (i, layer) in net.layers().iter().enumerate() {
            let w = initializer(&model, &format!("layers.{i}.weight"));
            assert_eq!(w.dims, [layer.outs() as i64, layer.ins() as i64]);
            assert_eq!(w.data_type, Some(data_type as i32));
            // Row-major: W[r][c] at r·ins + c.
            assert_eq!(bits(values::<F>(w)), bits(layer.weights().iter().copied()));
            let b = initializer(&model, &format!("layers.{i}.bias"));
            assert_eq!(b.dims, [layer.outs() as i64]);
            assert_eq!(b.data_type, Some(data_type as i32));
            assert_eq!(bits(values::<F>(b)), bits(layer.bias().iter().copied()));
        }
    }
    check::<f32>(DataType::Float);
    check::<f64>(DataType::Double);
}

#[test]
fn an_f64_network_is_double_throughout_and_its_leaky_relu_is_max_of_y_and_alpha_y() {
    let net = every_activation::<f64>(false);
    let model = decode(&net);
    let graph = model.graph.as_ref().unwrap();
    let double = DataType::Double as i32;
    assert_eq!(signature(&graph.input[0]).1, double);
    assert_eq!(signature(&graph.output[0]).1, double);
    assert_eq!(
        op_types(&model),
        ["Gemm", "Mul", "Max", "Gemm", "Relu", "Gemm", "Sigmoid", "Gemm", "Tanh", "Gemm"]
    );
    let alpha = initializer(&model, "layers.0.alpha");
    assert!(alpha.dims.is_empty(), "a scalar");
    assert_eq!(alpha.data_type, Some(double));
    assert_eq!(bits(values::<f64>(alpha)), bits([0.25]));
    let (mul, max) = (&graph.node[1], &graph.node[2]);
    assert_eq!(mul.input, ["layers.0.linear", "layers.0.alpha"]);
    assert_eq!(max.input, ["layers.0.linear", mul.output[0].as_str()]);
    assert_eq!(max.output, ["layers.0.output"]);
}

#[test]
fn a_leaky_relu_slope_of_zero_is_written_all_the_same() {
    // proto2's explicit presence: a proto3 writer would omit `f = 0`, and ONNX's checker
    // refuses an attribute with no value.
    let mut rng = StdRng::seed_from_u64(0);
    let zero = LeakyRelu::with_alpha(0.0f32).unwrap();
    let layer = Dense::new(2, 2, zero, Init::HeNormal, &mut rng).unwrap();
    let net = NeuralNetwork::new(vec![layer], Mse, 0.1).unwrap();
    let model = decode(&net);
    let leaky = &model.graph.as_ref().unwrap().node[1];
    assert_eq!(
        attribute(leaky, "alpha"),
        (AttributeType::Float, None, Some(0.0))
    );
}

#[test]
fn a_cross_entropy_network_also_outputs_the_softmax() {
    let model = decode(&every_activation::<f64>(true));
    let graph = model.graph.as_ref().unwrap();
    let names: Vec<_> = graph.output.iter().map(signature).collect();
    let shape = vec!["batch".to_string(), "2".into()];
    let double = DataType::Double as i32;
    assert_eq!(
        names,
        [
            ("output", double, shape.clone()),
            ("probabilities", double, shape)
        ]
    );
    let softmax = graph.node.last().unwrap();
    assert_eq!(softmax.op_type(), "Softmax");
    assert_eq!(
        (&softmax.input[..], &softmax.output[..]),
        (
            &["output".to_string()][..],
            &["probabilities".to_string()][..]
        )
    );
    assert_eq!(
        attribute(softmax, "axis"),
        (AttributeType::Int, Some(-1), None)
    );
}

#[test]
fn preprocessing_is_sub_then_mul_before_the_first_layer() {
    let net = every_activation::<f32>(false);
    let (shift, scale) = (array![1.5f32, -2.0, 1e-3], array![0.5f32, 4.0, -1.0]);
    let model = graph::model(&net, Some((shift.view(), scale.view()))).unwrap();
    let graph = model.graph.as_ref().unwrap();
    assert_eq!(op_types(&model)[..3], ["Sub", "Mul", "Gemm"]);
    let (sub, mul, gemm) = (&graph.node[0], &graph.node[1], &graph.node[2]);
    assert_eq!(sub.input, ["input", "preprocessing.shift"]);
    assert_eq!(mul.input, [sub.output[0].as_str(), "preprocessing.scale"]);
    assert_eq!(gemm.input[0], mul.output[0]);
    for (name, v) in [
        ("preprocessing.shift", &shift),
        ("preprocessing.scale", &scale),
    ] {
        let t = initializer(&model, name);
        assert_eq!(t.dims, [3]);
        assert_eq!(t.data_type, Some(DataType::Float as i32));
        assert_eq!(bits(values::<f32>(t)), bits(v.iter().copied()));
    }
    assert!(model
        .doc_string()
        .starts_with("nn network: input 3 → preprocessing → dense 5"));
    // Without a step: no Sub, no Mul.
    let plain = graph::model(&net, None).unwrap();
    assert_eq!(op_types(&plain)[0], "Gemm");
}

#[test]
fn the_public_export_takes_the_networks_preprocessing_step() {
    let mut net = every_activation::<f64>(false);
    let data = array![[1.0, 2.0, 4.0], [10.0, 30.0, 20.0], [-1.0, -1.0, 5.0]];
    let step = Preprocessing::standardize(data.view()).unwrap();
    net.set_preprocessing(Some(step.clone())).unwrap();
    let model = decode(&net);
    assert_eq!(op_types(&model)[..3], ["Sub", "Mul", "Gemm"]);
    let shift = values::<f64>(initializer(&model, "preprocessing.shift"));
    let scale = values::<f64>(initializer(&model, "preprocessing.scale"));
    assert_eq!(bits(shift), bits(step.shift().iter().copied()));
    assert_eq!(bits(scale), bits(step.scale_factors().iter().copied()));
}

#[test]
fn a_preprocessing_step_of_the_wrong_length_or_not_finite_is_refused() {
    let net = every_activation::<f64>(false);
    let (two, three) = (array![1.0, 2.0], array![1.0, 2.0, 3.0]);
    let err = graph::model(&net, Some((two.view(), three.view()))).unwrap_err();
    assert!(
        matches!(&err, Error::ShapeMismatch { what, expected: (3, 1), actual: (2, 1) } if what == "preprocessing shift"),
        "{err:?}"
    );
    let err = graph::model(&net, Some((three.view(), two.view()))).unwrap_err();
    assert!(
        matches!(&err, Error::ShapeMismatch { what, .. } if what == "preprocessing scale"),
        "{err:?}"
    );
    let nan = array![1.0, f64::NAN, 3.0];
    let err = graph::model(&net, Some((three.view(), nan.view()))).unwrap_err();
    assert!(
        matches!(&err, Error::NonFiniteInput { what, row: 1, .. } if what == "preprocessing scale"),
        "{err:?}"
    );
}

#[test]
fn non_finite_parameters_are_refused() {
    for (layer, weights, value) in [(2, true, f32::NAN), (4, false, f32::INFINITY)] {
        let mut net = every_activation::<f32>(false);
        {
            let (mut w, mut b) = net.parameters_mut(layer).unwrap();
            let target = if weights { &mut w } else { &mut b };
            target[(1, 0)] = value;
        }
        let what = format!(
            "{} of layer {layer}",
            if weights { "weights" } else { "bias" }
        );
        match to_onnx_bytes(&net) {
            Err(Error::NonFiniteInput {
                what: w,
                row: 1,
                column: 0,
                ..
            }) => assert_eq!(w, what),
            other => panic!("{other:?}"),
        }
        let dir = tempfile::tempdir().unwrap();
        assert!(save_onnx(&net, dir.path().join("m.onnx")).is_err());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no file written"
        );
    }
}

/// An activation nn's model files and ONNX export do not know.
#[derive(Clone, Debug)]
struct Swish;

impl Activation<f32> for Swish {
    fn f(&self, y: f32) -> f32 {
        y / (1.0 + (-y).exp())
    }
    fn df(&self, y: f32) -> f32 {
        let s = 1.0 / (1.0 + (-y).exp());
        s + y * s * (1.0 - s)
    }
    fn name(&self) -> String {
        "swish".into()
    }
    fn clone_box(&self) -> Box<dyn Activation<f32>> {
        Box::new(self.clone())
    }
}

#[test]
fn an_unknown_activation_is_refused() {
    let mut rng = StdRng::seed_from_u64(0);
    let layers = vec![
        Dense::new(2, 3, Relu, Init::HeNormal, &mut rng).unwrap(),
        Dense::new(3, 1, Swish, Init::HeNormal, &mut rng).unwrap(),
    ];
    let net = NeuralNetwork::new(layers, Mse, 0.1).unwrap();
    match to_onnx_bytes(&net) {
        Err(Error::Unknown {
            kind: "activation",
            name,
        }) => assert_eq!(name, "swish"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_same_network_gives_the_same_bytes_and_save_writes_them() {
    let net = every_activation::<f32>(true);
    let bytes = to_onnx_bytes(&net).unwrap();
    assert_eq!(to_onnx_bytes(&net).unwrap(), bytes);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    std::fs::write(&path, b"a previous file").unwrap();
    save_onnx(&net, &path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let missing = dir.path().join("missing/model.onnx");
    assert!(matches!(save_onnx(&net, &missing), Err(Error::Io { path, .. }) if path == missing));
}

#[test]
fn a_model_over_protobufs_limit_is_refused() {
    assert_eq!(MAX_BYTES, 2_147_483_647);
    assert!(check_size(MAX_BYTES).is_ok());
    assert!(matches!(
        check_size(MAX_BYTES + 1),
        Err(Error::TooLarge { rows, columns: 1, .. }) if rows == MAX_BYTES + 1
    ));
}

/// What the graph computes on `x` (one sample per row), each node evaluated in f64 as
/// ONNX defines it: the values named by the graph's outputs.
fn run(model: &ModelProto, x: ArrayView2<'_, f64>) -> HashMap<String, Array2<f64>> {
    let graph = model.graph.as_ref().unwrap();
    let mut values: HashMap<String, Array2<f64>> = HashMap::new();
    values.insert("input".into(), x.to_owned());
    let mut constants: HashMap<String, (Vec<i64>, Vec<f64>)> = HashMap::new();
    for t in &graph.initializer {
        let v = match t.data_type() {
            d if d == DataType::Float as i32 => values_f64::<f32>(t),
            _ => values_f64::<f64>(t),
        };
        constants.insert(t.name().into(), (t.dims.clone(), v));
    }
    // A value as a matrix, or a constant broadcast against `like`'s shape (a scalar, or
    // a vector along the rows).
    let operand = |values: &HashMap<String, Array2<f64>>, name: &str, like: (usize, usize)| {
        if let Some(v) = values.get(name) {
            return v.clone();
        }
        let (dims, v) = &constants[name];
        match dims.len() {
            0 => Array2::from_elem(like, v[0]),
            1 => Array1::from(v.clone())
                .insert_axis(Axis(0))
                .broadcast(like)
                .unwrap()
                .to_owned(),
            _ => Array2::from_shape_vec((dims[0] as usize, dims[1] as usize), v.clone()).unwrap(),
        }
    };
    for node in &graph.node {
        let a = values[&node.input[0]].clone();
        let b = |k: usize| operand(&values, &node.input[k], a.dim());
        let out = match node.op_type() {
            "Sub" => &a - &b(1),
            "Mul" => &a * &b(1),
            "Max" => ndarray::Zip::from(&a)
                .and(&b(1))
                .map_collect(|&p, &q| p.max(q)),
            "Gemm" => {
                assert_eq!(attribute(node, "transB").1, Some(1));
                let w = operand(&values, &node.input[1], (0, 0));
                let bias = operand(&values, &node.input[2], (a.nrows(), w.nrows()));
                a.dot(&w.t()) + bias
            }
            "Relu" => a.mapv(|v| v.max(0.0)),
            "Sigmoid" => a.mapv(|v| 1.0 / (1.0 + (-v).exp())),
            "Tanh" => a.mapv(f64::tanh),
            "LeakyRelu" => {
                let alpha = attribute(node, "alpha").2.unwrap() as f64;
                a.mapv(|v| if v >= 0.0 { v } else { alpha * v })
            }
            "Softmax" => {
                let mut p = a.clone();
                for mut row in p.rows_mut() {
                    let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
                    row.mapv_inplace(|v| (v - max).exp());
                    let sum = row.sum();
                    row /= sum;
                }
                p
            }
            other => panic!("no interpreter for {other}"),
        };
        values.insert(node.output[0].clone(), out);
    }
    let outputs = graph.output.iter().map(|o| o.name().to_string());
    outputs
        .map(|name| (name.clone(), values[&name].clone()))
        .collect()
}

fn values_f64<F: Float>(t: &TensorProto) -> Vec<f64> {
    values::<F>(t).into_iter().map(|v| v.as_f64()).collect()
}

#[test]
fn the_graph_computes_the_forward_pass_transposed() {
    let mut rng = StdRng::seed_from_u64(9);
    // Raw inputs far from the origin, which only the preprocessing step brings back.
    let x = Array2::from_shape_fn((50, 3), |(_, j)| {
        100.0 * j as f64 + rng.random_range(-3.0..3.0)
    });
    let mut net = every_activation::<f64>(true);
    let step = Preprocessing::standardize(x.t()).unwrap();
    net.set_preprocessing(Some(step)).unwrap();

    let outputs = run(&decode(&net), x.view());
    let output = net.forward_pass(x.t()).unwrap();
    let probabilities = net.predict_probabilities(x.t()).unwrap();
    for (name, nn) in [("output", output), ("probabilities", probabilities)] {
        let onnx = &outputs[name];
        assert_eq!(onnx.dim(), (50, 2));
        for (a, b) in onnx.iter().zip(nn.t().iter()) {
            approx::assert_relative_eq!(*a, *b, epsilon = 1e-12, max_relative = 1e-10);
        }
    }

    // f32, whose LeakyRelu is the operator itself.
    let net = every_activation::<f32>(false);
    let x32 = x.mapv(|v| (v / 100.0) as f32);
    let onnx = &run(&decode(&net), x32.mapv(f64::from).view())["output"];
    let nn = net.forward_pass(x32.t()).unwrap();
    for (a, b) in onnx.iter().zip(nn.t().iter()) {
        approx::assert_relative_eq!(*a, *b as f64, epsilon = 1e-5, max_relative = 1e-4);
    }
}

#[test]
fn class_names_go_into_the_metadata_as_a_json_array() {
    let mut net = every_activation::<f64>(true);
    assert!(decode(&net).metadata_props.is_empty());
    let names: Vec<String> = ["a \"quoted\" cat", "dog"].map(String::from).to_vec();
    net.set_class_names(Some(names.clone())).unwrap();
    let model = decode(&net);
    assert_eq!(model.metadata_props.len(), 1);
    assert_eq!(model.metadata_props[0].key(), "class_names");
    let read: Vec<String> = serde_json::from_str(model.metadata_props[0].value()).unwrap();
    assert_eq!(read, names);
}
