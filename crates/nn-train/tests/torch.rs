//! PyTorch's `state_dict` layout, both ways. The fixtures in `tests/data/torch` were
//! written by the Python `safetensors` package as `safetensors.torch.save_file` writes a
//! `nn.Sequential(Linear(3, 4), ReLU(), Linear(4, 2))`, with the outputs NumPy computes
//! for three inputs (`make.py` there).

use std::path::{Path, PathBuf};

use ndarray::{array, Array2};
use nn_core::{Activation, Error};
use nn_layers::{Identity, Relu};
use nn_loss::{CrossEntropy, Mse};
use nn_train::NeuralNetwork;
use safetensors::SafeTensors;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/torch")
        .join(name)
}

fn relu_identity<F: nn_core::Float>() -> Vec<Box<dyn Activation<F>>> {
    vec![Box::new(Relu), Box::new(Identity)]
}

/// The three inputs of `make.py`, one per column.
fn inputs() -> Array2<f64> {
    array![[0.5, -1.0, 2.0], [0.0, 0.0, 0.0], [-3.0, 1.5, 0.25]]
        .t()
        .to_owned()
}

/// NumPy's outputs, `(2, 3)`: one column per input.
fn numpy_outputs(dtype: &str) -> Array2<f64> {
    let text = std::fs::read_to_string(fixture(&format!("sequential_{dtype}.out.txt"))).unwrap();
    let rows: Vec<Vec<f64>> = (text.lines())
        .map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect())
        .collect();
    Array2::from_shape_fn((2, rows.len()), |(i, j)| rows[j][i])
}

#[test]
fn a_pytorch_state_dict_predicts_what_numpy_computes() {
    for dtype in ["float32", "float64", "float16"] {
        let path = fixture(&format!("sequential_{dtype}.safetensors"));
        let expected = numpy_outputs(dtype);
        let net =
            NeuralNetwork::<f64>::load_torch(&path, relu_identity(), Box::new(Mse), 0.1).unwrap();
        assert_eq!(net.layers().len(), 2);
        assert_eq!((net.ins(), net.outs()), (3, 2));
        let out = net.forward_pass(inputs().view()).unwrap();
        for (a, b) in out.iter().zip(expected.iter()) {
            assert!(
                (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                "{dtype}: {a} vs {b}"
            );
        }
        // In f32 the parameters and sums round to f32.
        let net32 =
            NeuralNetwork::<f32>::load_torch(&path, relu_identity(), Box::new(Mse), 0.1).unwrap();
        let out32 = net32
            .forward_pass(inputs().mapv(|v| v as f32).view())
            .unwrap();
        for (a, b) in out32.iter().zip(expected.iter()) {
            assert!(
                (f64::from(*a) - b).abs() <= 1e-5 * b.abs().max(1.0),
                "{dtype}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn a_prefixed_state_dict_without_biases_loads_with_zero_biases() {
    let with_bias = NeuralNetwork::<f32>::load_torch(
        fixture("sequential_float32.safetensors"),
        relu_identity(),
        Box::new(Mse),
        0.1,
    )
    .unwrap();
    let net = NeuralNetwork::<f32>::load_torch(
        fixture("prefixed_no_bias.safetensors"),
        relu_identity(),
        Box::new(Mse),
        0.1,
    )
    .unwrap();
    for (layer, reference) in net.layers().iter().zip(with_bias.layers()) {
        assert_eq!(layer.weights(), reference.weights());
        assert!(layer.bias().iter().all(|&b| b == 0.0));
    }
}

#[test]
fn a_network_saved_in_torch_layout_has_pytorch_names_and_loads_back_exactly() {
    let net = NeuralNetwork::<f64>::load_torch(
        fixture("sequential_float64.safetensors"),
        relu_identity(),
        Box::new(CrossEntropy),
        0.1,
    )
    .unwrap();
    let bytes = net.to_torch_bytes().unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort();
    assert_eq!(names, ["0.bias", "0.weight", "2.bias", "2.weight"]);
    assert_eq!(file.tensor("0.weight").unwrap().shape(), [4, 3]);
    assert_eq!(file.tensor("2.bias").unwrap().shape(), [2]);
    // Byte for byte the tensors PyTorch's layout holds: the fixture's own F64 data.
    let original = std::fs::read(fixture("sequential_float64.safetensors")).unwrap();
    let original = SafeTensors::deserialize(&original).unwrap();
    for name in ["0.weight", "0.bias", "2.weight", "2.bias"] {
        assert_eq!(
            file.tensor(name).unwrap().data(),
            original.tensor(name).unwrap().data(),
            "{name}"
        );
    }
    let dir = tempfile_dir();
    let path = dir.join("torch.safetensors");
    net.save_torch(&path).unwrap();
    let again =
        NeuralNetwork::<f64>::load_torch(&path, relu_identity(), Box::new(CrossEntropy), 0.1)
            .unwrap();
    for (a, b) in again.layers().iter().zip(net.layers()) {
        assert_eq!((a.weights(), a.bias()), (b.weights(), b.bias()));
    }
    // nn's own files name their tensors layers.{i}.weight: they read as a state_dict too.
    net.save(dir.join("nn.safetensors")).unwrap();
    let own = NeuralNetwork::<f64>::load_torch(
        dir.join("nn.safetensors"),
        relu_identity(),
        Box::new(CrossEntropy),
        0.1,
    )
    .unwrap();
    assert_eq!(own.layers()[1].weights(), net.layers()[1].weights());
    std::fs::remove_dir_all(dir).unwrap();
}

/// A fresh directory under the system's temporary directory.
fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nn-torch-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A safetensors file of `tensors` (name, dtype, shape, little-endian bytes).
fn file(tensors: &[(&str, &str, &[usize], Vec<u8>)]) -> Vec<u8> {
    let mut header = String::from("{");
    let mut data = Vec::new();
    for (k, (name, dtype, shape, bytes)) in tensors.iter().enumerate() {
        let start = data.len();
        data.extend_from_slice(bytes);
        let shape: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        header += &format!(
            "{}\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{start},{}]}}",
            if k == 0 { "" } else { "," },
            shape.join(","),
            data.len()
        );
    }
    header.push('}');
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&data);
    bytes
}

fn f32s(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn what_is_not_a_sequential_of_linear_layers_is_refused_with_its_place() {
    let load = |bytes: &[u8], activations: usize| {
        let activations: Vec<Box<dyn Activation<f32>>> =
            (0..activations).map(|_| Box::new(Identity) as _).collect();
        NeuralNetwork::<f32>::from_torch_bytes(
            bytes,
            "t.safetensors",
            activations,
            Box::new(Mse),
            0.1,
        )
    };
    let message = |result: nn_core::Result<NeuralNetwork<f32>>| match result {
        Err(Error::Format { message, .. }) => message,
        other => panic!("expected a format error, got {other:?}"),
    };
    let w = || ("0.weight", "F32", &[1usize, 2][..], f32s(&[1.0, 2.0]));
    // One layer, two activations: the counts differ.
    assert!(matches!(
        load(&file(&[w()]), 2),
        Err(Error::ShapeMismatch {
            expected: (1, 1),
            actual: (2, 1),
            ..
        })
    ));
    assert!(load(&file(&[w()]), 1).is_ok());
    for (tensors, expected) in [
        (
            vec![("weight", "F32", &[1usize, 2][..], f32s(&[1.0, 2.0]))],
            "not a Linear layer's",
        ),
        (
            vec![w(), ("net.2.weight", "F32", &[1, 1][..], f32s(&[1.0]))],
            "another module",
        ),
        (
            vec![w(), ("0.running_mean", "F32", &[1][..], f32s(&[1.0]))],
            "neither a weight",
        ),
        (vec![("0.bias", "F32", &[1][..], f32s(&[1.0]))], "no weight"),
        (
            vec![w(), ("0.bias", "F32", &[2][..], f32s(&[1.0, 2.0]))],
            "weight has 1 rows",
        ),
        (
            vec![("0.weight", "F32", &[2][..], f32s(&[1.0, 2.0]))],
            "[outs, ins]",
        ),
        (
            vec![("0.weight", "I32", &[1, 1][..], vec![1, 0, 0, 0])],
            "dtype I32",
        ),
        (
            vec![("0.weight", "F32", &[1, 2][..], f32s(&[1.0, f32::NAN]))],
            "non-finite",
        ),
        (vec![], "no tensor"),
        (
            vec![w(), ("00.weight", "F32", &[1, 2][..], f32s(&[3.0, 4.0]))],
            "the same parameter of module 0",
        ),
    ] {
        let m = message(load(&file(&tensors), 1));
        assert!(m.contains(expected), "{expected:?} not in {m:?}");
    }
    // A NaN is named by its byte offset: the second value, 4 bytes before the end.
    let nan = file(&[("0.weight", "F32", &[1, 2], f32s(&[1.0, f32::NAN]))]);
    assert!(matches!(
        load(&nan, 1),
        Err(Error::Format { offset, .. }) if offset == nan.len() as u64 - 4
    ));
    // BF16 is the top half of an f32: 1.0 is 0x3f80, -2.5 is 0xc020.
    let bf16 = file(&[("0.weight", "BF16", &[1, 2], vec![0x80, 0x3f, 0x20, 0xc0])]);
    let net = load(&bf16, 1).unwrap();
    assert_eq!(net.layers()[0].weights(), array![[1.0, -2.5]]);
    // Two layers that do not chain: 1×2 then 3×4.
    let bad_chain = file(&[w(), ("2.weight", "F32", &[3, 4], f32s(&[0.0; 12]))]);
    assert!(matches!(
        load(&bad_chain, 2),
        Err(Error::LayerMismatch { index: 0, .. })
    ));
    // Not a safetensors file at all.
    assert!(matches!(
        load(b"\x01\x00", 1),
        Err(Error::Format { offset: 0, .. })
    ));
}

#[test]
fn a_preprocessing_step_is_folded_into_the_first_layer_of_a_state_dict() {
    let mut net = NeuralNetwork::<f64>::load_torch(
        fixture("sequential_float64.safetensors"),
        relu_identity(),
        Box::new(CrossEntropy),
        0.1,
    )
    .unwrap();
    let train = array![[100.0, 110.0, 130.0], [-0.02, 0.01, 0.04], [5.0, 5.0, 5.0]];
    let step = nn_core::Preprocessing::standardize(train.view()).unwrap();
    net.set_preprocessing(Some(step)).unwrap();
    let plain = NeuralNetwork::<f64>::from_torch_bytes(
        &net.to_torch_bytes().unwrap(),
        "<memory>",
        relu_identity(),
        Box::new(CrossEntropy),
        0.1,
    )
    .unwrap();
    assert!(plain.preprocessing().is_none());
    // Only the first layer changed.
    assert_eq!(plain.layers()[1].weights(), net.layers()[1].weights());
    assert_ne!(plain.layers()[0].weights(), net.layers()[0].weights());
    // On raw inputs, the state_dict's network computes what the network with its step does.
    let raw = array![
        [104.0, 125.0, 90.0, 300.0],
        [0.0, -0.05, 0.03, 1.0],
        [5.0, 6.0, 4.0, 5.0]
    ];
    let (want, got) = (
        net.forward_pass(raw.view()).unwrap(),
        plain.forward_pass(raw.view()).unwrap(),
    );
    for (&w, &g) in want.iter().zip(&got) {
        approx::assert_relative_eq!(g, w, max_relative = 1e-12, epsilon = 1e-12);
    }
    assert!(
        want.iter().any(|v| v.abs() > 0.1),
        "outputs not all near 0: {want}"
    );
}
