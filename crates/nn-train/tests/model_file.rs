//! Model files: round trips in f32 and f64, the safetensors layout, and every kind of
//! damaged or foreign file, which must give a typed error and never a panic.

use std::fs;
use std::path::Path;

use ndarray::Array2;
use nn_core::{Activation, Error, Float, Init};
use nn_layers::{parse_activation, Dense};
use nn_loss::parse_loss;
use nn_train::NeuralNetwork;
use rand::{rngs::StdRng, Rng, SeedableRng};
use safetensors::{Dtype, SafeTensors};
use serde_json::{json, Value};

/// Every activation, two LeakyReLU slopes among them, in a 5 → … → 5 network.
const ACTIVATIONS: [&str; 6] = [
    "leaky_relu(0.1)",
    "relu",
    "sigmoid",
    "tanh",
    "leaky_relu(0.3)",
    "identity",
];
const SIZES: [usize; 7] = [5, 7, 6, 4, 3, 6, 5];

fn network<F: Float>(loss: &str, seed: u64) -> NeuralNetwork<F> {
    let mut rng = StdRng::seed_from_u64(seed);
    let layers = ACTIVATIONS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let (ins, outs) = (SIZES[i], SIZES[i + 1]);
            // Random biases rather than the usual zeros, so that they are checked too.
            Dense::from_parameters(
                Init::HeNormal.weights(outs, ins, &mut rng).unwrap(),
                Init::HeNormal.weights(outs, 1, &mut rng).unwrap(),
                parse_activation(name).unwrap(),
            )
            .unwrap()
        })
        .collect();
    // A learning rate with no short decimal form, to check it reads back exactly.
    let rate = F::from_f64(std::f64::consts::PI * 1e-3);
    NeuralNetwork::with_boxed_loss(layers, parse_loss(loss).unwrap(), rate).unwrap()
}

fn bits<F: Float>(a: ndarray::ArrayView2<'_, F>) -> Vec<u64> {
    a.iter().map(|v| v.as_f64().to_bits()).collect()
}

fn assert_same<F: Float>(a: &NeuralNetwork<F>, b: &NeuralNetwork<F>) {
    assert_eq!(a.layers().len(), b.layers().len());
    for (x, y) in a.layers().iter().zip(b.layers()) {
        assert_eq!(bits(x.weights()), bits(y.weights()));
        assert_eq!(x.weights().dim(), y.weights().dim());
        assert_eq!(bits(x.bias()), bits(y.bias()));
        assert_eq!(x.bias().dim(), y.bias().dim());
        assert_eq!(x.activation().name(), y.activation().name());
    }
    assert_eq!(a.loss_function().name(), b.loss_function().name());
    assert_eq!(
        a.learning_rate().as_f64().to_bits(),
        b.learning_rate().as_f64().to_bits()
    );
    let x: Array2<F> = Init::HeNormal
        .weights(a.ins(), 9, &mut StdRng::seed_from_u64(99))
        .unwrap();
    let (ya, yb) = (
        a.forward_pass(x.view()).unwrap(),
        b.forward_pass(x.view()).unwrap(),
    );
    assert_eq!(bits(ya.view()), bits(yb.view()));
}

fn round_trip<F: Float>() {
    let dir = tempfile::tempdir().unwrap();
    for (seed, loss) in ["mse", "cross_entropy"].into_iter().enumerate() {
        let net = network::<F>(loss, seed as u64);
        let path = dir.path().join(format!("{loss}.safetensors"));
        net.save(&path).unwrap();
        let loaded = NeuralNetwork::<F>::load(&path).unwrap();
        assert_same(&net, &loaded);
        // In memory too, and the file holds exactly those bytes.
        let bytes = net.to_safetensors_bytes().unwrap();
        assert_eq!(fs::read(&path).unwrap(), bytes);
        assert_same(
            &net,
            &NeuralNetwork::from_safetensors_bytes(&bytes, "<memory>").unwrap(),
        );
    }
}

#[test]
fn round_trip_f32_keeps_every_bit() {
    round_trip::<f32>();
}

#[test]
fn round_trip_f64_keeps_every_bit() {
    round_trip::<f64>();
}

#[test]
fn saving_is_deterministic_and_replaces_the_previous_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    network::<f32>("mse", 1).save(&path).unwrap();
    let net = network::<f32>("mse", 2);
    net.save(&path).unwrap();
    assert_eq!(
        fs::read(&path).unwrap(),
        net.to_safetensors_bytes().unwrap()
    );
    assert_eq!(
        net.to_safetensors_bytes().unwrap(),
        net.clone().to_safetensors_bytes().unwrap()
    );
    // Nothing but the model is left in the directory.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_saved_file_follows_the_pytorch_linear_convention() {
    let net = network::<f64>("cross_entropy", 3);
    let bytes = net.to_safetensors_bytes().unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();

    let mut names = file.names();
    names.sort();
    let mut expected: Vec<String> = (0..ACTIVATIONS.len())
        .flat_map(|i| [format!("layers.{i}.weight"), format!("layers.{i}.bias")])
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    for (i, layer) in net.layers().iter().enumerate() {
        let w = file.tensor(&format!("layers.{i}.weight")).unwrap();
        assert_eq!(w.dtype(), Dtype::F64);
        assert_eq!(w.shape(), [SIZES[i + 1], SIZES[i]]);
        let values: Vec<f64> = w
            .data()
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        // Row-major (C order), as PyTorch's Linear.weight.
        assert_eq!(values, layer.weights().iter().copied().collect::<Vec<_>>());
        let b = file.tensor(&format!("layers.{i}.bias")).unwrap();
        assert_eq!(b.dtype(), Dtype::F64);
        assert_eq!(b.shape(), [SIZES[i + 1]]);
        assert_eq!(b.data().len(), 8 * SIZES[i + 1]);
    }

    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = header.metadata().as_ref().unwrap();
    let mut keys: Vec<&str> = metadata.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "activation.0",
            "activation.1",
            "activation.2",
            "activation.3",
            "activation.4",
            "activation.5",
            "dtype",
            "format",
            "layers",
            "learning_rate",
            "loss",
        ]
    );
    assert_eq!(metadata["format"], "nn/1");
    assert_eq!(metadata["dtype"], "F64");
    assert_eq!(metadata["layers"], "6");
    assert_eq!(metadata["loss"], "cross_entropy");
    assert_eq!(metadata["learning_rate"], "0.0031415926535897933");
    for (i, name) in ACTIVATIONS.iter().enumerate() {
        assert_eq!(metadata[&format!("activation.{i}")], *name);
    }
    // The data starts 8-aligned, as the safetensors crate writes it.
    assert_eq!(u64::from_le_bytes(bytes[..8].try_into().unwrap()) % 8, 0);

    let f32_bytes = network::<f32>("mse", 3).to_safetensors_bytes().unwrap();
    let f32_file = SafeTensors::deserialize(&f32_bytes).unwrap();
    assert_eq!(
        f32_file.tensor("layers.0.weight").unwrap().dtype(),
        Dtype::F32
    );
}

#[test]
fn a_file_is_not_converted_between_f32_and_f64() {
    let f32_bytes = network::<f32>("mse", 4).to_safetensors_bytes().unwrap();
    match NeuralNetwork::<f64>::from_safetensors_bytes(&f32_bytes, "m.safetensors") {
        Err(Error::Format { path, message, .. }) => {
            assert_eq!(path, Path::new("m.safetensors"));
            assert!(message.contains("F32 parameters"), "{message}");
            assert!(message.contains("NeuralNetwork<f64>"), "{message}");
            assert!(message.contains("NeuralNetwork<f32>"), "{message}");
        }
        other => panic!("expected a format error, got {other:?}"),
    }
    let f64_bytes = network::<f64>("mse", 4).to_safetensors_bytes().unwrap();
    let err = NeuralNetwork::<f32>::from_safetensors_bytes(&f64_bytes, "m").unwrap_err();
    assert!(matches!(err, Error::Format { .. }));
    assert!(err.to_string().contains("F64 parameters"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Damaged and foreign files.
// ---------------------------------------------------------------------------------------

fn valid() -> Vec<u8> {
    network::<f32>("mse", 5).to_safetensors_bytes().unwrap()
}

fn load(bytes: &[u8]) -> nn_core::Result<NeuralNetwork<f32>> {
    NeuralNetwork::from_safetensors_bytes(bytes, "bad.safetensors")
}

/// The offset of a format error, after checking that the error is one.
#[track_caller]
fn format_offset(bytes: &[u8]) -> u64 {
    match load(bytes) {
        Err(Error::Format { path, offset, .. }) => {
            assert_eq!(path, Path::new("bad.safetensors"));
            offset
        }
        other => panic!("expected a format error, got {other:?}"),
    }
}

/// Splits a file into its header (as JSON) and its data section.
fn split(bytes: &[u8]) -> (Value, Vec<u8>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    (header, bytes[8 + n..].to_vec())
}

fn join(header: &Value, data: &[u8]) -> Vec<u8> {
    let header = serde_json::to_vec(header).unwrap();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(data);
    bytes
}

/// A valid file whose header `edit` changed.
fn edited(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let (mut header, data) = split(&valid());
    edit(&mut header);
    join(&header, &data)
}

#[test]
fn the_edit_helpers_keep_a_valid_file_valid() {
    assert!(load(&edited(|_| {})).is_ok());
}

#[test]
fn every_truncation_is_a_format_error() {
    let bytes = valid();
    for len in 0..bytes.len() {
        format_offset(&bytes[..len]);
    }
    // Too short for the length prefix, or a header that runs past the end: offset 0.
    assert_eq!(format_offset(&bytes[..5]), 0);
    assert_eq!(format_offset(&bytes[..40]), 0);
    // Data missing at the end: the header is read, the data section is too short.
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    assert_eq!(format_offset(&bytes[..bytes.len() - 4]), 8 + n);
    // One byte too many is as wrong: the data section does not have the size the
    // offsets add up to, and the error points at its start.
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(format_offset(&longer), 8 + n);
}

#[test]
fn absurd_header_lengths_are_refused_without_allocating() {
    let mut bytes = valid();
    for n in [
        u64::MAX,
        u64::MAX / 2,
        bytes.len() as u64,
        (bytes.len() - 7) as u64,
    ] {
        bytes[..8].copy_from_slice(&n.to_le_bytes());
        assert_eq!(format_offset(&bytes), 0, "header length {n}");
    }
    assert!(load(b"").is_err());
    assert!(load(&0u64.to_le_bytes()).is_err());
}

#[test]
fn a_header_over_the_safetensors_limit_is_refused_at_its_length() {
    // The safetensors crate refuses headers over 100 MB; the error is the length's.
    let n = 100_000_008;
    let mut bytes = (n as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    bytes.resize(8 + n, b' ');
    assert_eq!(format_offset(&bytes), 0);
}

#[test]
fn a_foreign_file_is_a_format_error() {
    let text = b"label,p0,p1\n5,0,0\n".repeat(10);
    assert_eq!(format_offset(&text), 0);
    let message = load(&text).unwrap_err().to_string();
    assert!(message.contains("not a safetensors file"), "{message}");
}

#[test]
fn bad_json_and_bad_utf8_are_format_errors() {
    let mut bytes = 12u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{\"a\": nope}");
    bytes.push(b' ');
    // serde_json reports the byte it stopped at: the `o` of `nope`, byte 7 of the header.
    assert_eq!(format_offset(&bytes), 8 + 7);
    let mut bytes = 4u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{\xff}");
    bytes.push(b' ');
    assert_eq!(format_offset(&bytes[..12]), 8 + 1);
    // A valid JSON value that is not an object.
    let mut bytes = 2u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"[]");
    format_offset(&bytes);
}

#[test]
fn offsets_past_the_end_or_overlapping_are_format_errors() {
    let past = edited(|h| h["layers.5.weight"]["data_offsets"] = json!([0, 1_000_000]));
    let n = u64::from_le_bytes(past[..8].try_into().unwrap());
    assert_eq!(format_offset(&past), 8 + n);
    let message = load(&past).unwrap_err().to_string();
    let data_len = past.len() as u64 - 8 - n;
    let expected = format!("lie past the end of the {data_len}-byte data section");
    assert!(message.contains(&expected), "{message}");
    let huge = edited(|h| {
        h["layers.5.weight"]["data_offsets"] = json!([u64::MAX - 1, u64::MAX]);
    });
    format_offset(&huge);
    let huge_shape =
        edited(|h| h["layers.0.weight"]["shape"] = json!([u64::MAX / 2, u64::MAX / 2]));
    format_offset(&huge_shape);
    let overlap = edited(|h| {
        let b = h["layers.0.bias"]["data_offsets"].clone();
        h["layers.0.weight"]["data_offsets"] = b;
    });
    format_offset(&overlap);
}

/// Swaps the shape of a tensor for another with the same number of entries.
fn reshaped(name: &str, shape: Value) -> Vec<u8> {
    edited(|h| h[name]["shape"] = shape)
}

#[test]
fn wrong_shapes_are_format_errors() {
    // layers.0.weight is [7, 5]: transposed, rank 1, rank 3, [35, 1], a column bias.
    for shape in [json!([5, 7]), json!([35]), json!([7, 5, 1]), json!([35, 1])] {
        let offset = format_offset(&reshaped("layers.0.weight", shape.clone()));
        assert_eq!(offset, 8, "shape {shape}");
    }
    format_offset(&reshaped("layers.0.bias", json!([7, 1])));
    format_offset(&reshaped("layers.0.bias", json!([1, 7])));
    // A one-layer file, valid for safetensors, whose weight matrix has no output or no
    // input (and so no bytes).
    let (valid_header, _) = split(&valid());
    for (outs, ins) in [(0, 5), (5, 0), (0, 0)] {
        let mut metadata = valid_header["__metadata__"].clone();
        metadata["layers"] = json!("1");
        (metadata.as_object_mut().unwrap())
            .retain(|key, _| !key.starts_with("activation.") || key == "activation.0");
        let bias_bytes = 4 * outs;
        let header = json!({
            "__metadata__": metadata,
            "layers.0.weight": {"dtype": "F32", "shape": [outs, ins], "data_offsets": [0, 0]},
            "layers.0.bias": {"dtype": "F32", "shape": [outs, 1], "data_offsets": [0, bias_bytes]},
        });
        let bytes = join(&header, &vec![0; bias_bytes]);
        let message = load(&bytes).unwrap_err().to_string();
        let expected = format!("has shape [{outs}, {ins}]; a layer needs at least one");
        assert!(message.contains(&expected), "{message}");
    }
}

#[test]
fn consecutive_layers_that_do_not_fit_are_a_layer_mismatch() {
    // A 2 → 3 → 4 network whose layer 1 is rewritten as a [4, 2] matrix (its first 8
    // entries), so that it takes 2 inputs where layer 0 gives 3.
    let mut rng = StdRng::seed_from_u64(0);
    let layer = |ins, outs, rng: &mut StdRng| {
        Dense::<f32>::from_parameters(
            Init::HeNormal.weights(outs, ins, rng).unwrap(),
            Init::HeNormal.weights(outs, 1, rng).unwrap(),
            parse_activation("relu").unwrap(),
        )
        .unwrap()
    };
    let a = NeuralNetwork::with_boxed_loss(
        vec![layer(2, 3, &mut rng), layer(3, 4, &mut rng)],
        parse_loss("mse").unwrap(),
        0.1,
    )
    .unwrap();
    let (mut header, data) = split(&a.to_safetensors_bytes().unwrap());
    let start = header["layers.1.weight"]["data_offsets"][0]
        .as_u64()
        .unwrap() as usize;
    let mut new_data = data[..start].to_vec();
    new_data.extend_from_slice(&data[start..start + 32]);
    let end = new_data.len();
    header["layers.1.weight"] =
        json!({"dtype": "F32", "shape": [4, 2], "data_offsets": [start, end]});
    new_data.extend_from_slice(&data[start + 48..]);
    let bias_len = 16;
    header["layers.1.bias"] =
        json!({"dtype": "F32", "shape": [4], "data_offsets": [end, end + bias_len]});
    let bytes = join(&header, &new_data);
    assert!(matches!(
        load(&bytes),
        Err(Error::LayerMismatch {
            index: 0,
            outs: 3,
            ins: 2
        })
    ));
}

#[test]
fn missing_and_extra_tensors_are_format_errors() {
    let (mut header, data) = split(&valid());
    let bias = header
        .as_object_mut()
        .unwrap()
        .remove("layers.1.bias")
        .unwrap();
    // Removing the entry breaks the tiling of the data, which is an error already; keep
    // the data tiled by renaming the tensor instead.
    let mut renamed = header.clone();
    renamed["layers.1.extra"] = bias.clone();
    let bytes = join(&renamed, &data);
    let message = load(&bytes).unwrap_err().to_string();
    assert!(message.contains("layers.1.bias is missing"), "{message}");
    assert_eq!(format_offset(&bytes), 8);

    // All tensors present plus one more: a 1-entry tensor appended to the data.
    let (mut header, mut data) = split(&valid());
    let end = data.len();
    header["optimizer.state"] =
        json!({"dtype": "F32", "shape": [1], "data_offsets": [end, end + 4]});
    data.extend_from_slice(&1f32.to_le_bytes());
    let message = load(&join(&header, &data)).unwrap_err().to_string();
    assert!(
        message.contains("unexpected tensor \"optimizer.state\""),
        "{message}"
    );

    // A seventh layer's tensors in a 6-layer file.
    let (mut header, mut data) = split(&valid());
    let end = data.len();
    header["layers.6.bias"] = json!({"dtype": "F32", "shape": [1], "data_offsets": [end, end + 4]});
    data.extend_from_slice(&1f32.to_le_bytes());
    assert_eq!(format_offset(&join(&header, &data)), 8);
}

#[test]
fn metadata_problems_are_format_errors() {
    for key in [
        "format",
        "dtype",
        "layers",
        "loss",
        "learning_rate",
        "activation.3",
    ] {
        let bytes = edited(|h| {
            h["__metadata__"].as_object_mut().unwrap().remove(key);
        });
        let message = load(&bytes).unwrap_err().to_string();
        assert!(
            message.contains(&format!("{key:?} is missing")),
            "{message}"
        );
    }
    let no_metadata = edited(|h| {
        h.as_object_mut().unwrap().remove("__metadata__");
    });
    assert_eq!(format_offset(&no_metadata), 8);
    for (key, value) in [
        ("format", "nn/2"),
        ("format", "gguf"),
        ("dtype", "BF16"),
        ("layers", "0"),
        ("layers", "-1"),
        ("layers", "5"),
        ("layers", "7"),
        ("layers", "18446744073709551615"),
        ("layers", "99999999999999999999999"),
        ("learning_rate", "fast"),
        ("learning_rate", ""),
        ("activation.6", "relu"),
        ("activation.01", "relu"),
    ] {
        let bytes = edited(|h| h["__metadata__"][key] = json!(value));
        assert_eq!(format_offset(&bytes), 8, "{key} = {value}");
    }
    let message = load(&edited(|h| h["__metadata__"]["layers"] = json!("0")))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("is not a positive number of layers"),
        "{message}"
    );
    // Metadata values must be strings (the safetensors crate's rule).
    format_offset(&edited(|h| h["__metadata__"]["layers"] = json!(6)));
    // Unrelated keys are allowed.
    assert!(load(&edited(|h| h["__metadata__"]["author"] = json!("me"))).is_ok());
}

#[test]
fn unknown_names_are_unknown_errors() {
    let bytes = edited(|h| h["__metadata__"]["activation.2"] = json!("softplus"));
    assert!(matches!(
        load(&bytes),
        Err(Error::Unknown { kind: "activation", ref name }) if name == "softplus"
    ));
    let bytes = edited(|h| h["__metadata__"]["loss"] = json!("hinge"));
    assert!(matches!(
        load(&bytes),
        Err(Error::Unknown { kind: "loss", ref name }) if name == "hinge"
    ));
    let bytes = edited(|h| h["__metadata__"]["activation.0"] = json!("leaky_relu(2)"));
    assert!(matches!(
        load(&bytes),
        Err(Error::InvalidHyperparameter { name: "alpha", .. })
    ));
}

#[test]
fn invalid_learning_rates_are_refused() {
    for rate in ["-0.1", "0", "inf", "NaN"] {
        let bytes = edited(|h| h["__metadata__"]["learning_rate"] = json!(rate));
        assert!(
            matches!(
                load(&bytes),
                Err(Error::InvalidHyperparameter {
                    name: "learning_rate",
                    ..
                })
            ),
            "{rate}"
        );
    }
}

#[test]
fn non_finite_parameters_are_format_errors_at_their_offset() {
    let bytes = valid();
    let (header, data) = split(&bytes);
    for (name, index, value) in [
        ("layers.2.weight", 5, f32::NAN),
        ("layers.0.bias", 0, f32::INFINITY),
        ("layers.5.bias", 4, f32::NEG_INFINITY),
    ] {
        let start = header[name]["data_offsets"][0].as_u64().unwrap();
        let at = (start + 4 * index) as usize;
        let mut data = data.clone();
        data[at..at + 4].copy_from_slice(&value.to_le_bytes());
        let broken = join(&header, &data);
        let data_start = (broken.len() - data.len()) as u64;
        assert_eq!(
            format_offset(&broken),
            data_start + start + 4 * index,
            "{name}"
        );
        let message = load(&broken).unwrap_err().to_string();
        assert!(message.contains(name), "{message}");
    }
}

#[test]
fn a_tensor_dtype_that_differs_from_the_metadata_is_a_format_error() {
    // I32 [7, 5] takes as many bytes as F32 [7, 5], so the file stays well-formed.
    let bytes = edited(|h| h["layers.0.weight"]["dtype"] = json!("I32"));
    let message = load(&bytes).unwrap_err().to_string();
    assert!(message.contains("dtype I32"), "{message}");
    let bytes = edited(|h| {
        h["layers.0.bias"]["dtype"] = json!("F64");
        h["layers.0.bias"]["shape"] = json!([3]);
    });
    // 7 F32 entries are 28 bytes, not 24: a tiling error from the safetensors crate.
    format_offset(&bytes);
}

#[test]
fn random_damage_never_panics() {
    let bytes = valid();
    let mut rng = StdRng::seed_from_u64(2024);
    let mut failures = 0;
    for _ in 0..3000 {
        let mut damaged = bytes.clone();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..damaged.len());
            damaged[at] = rng.random();
        }
        if load(&damaged).is_err() {
            failures += 1;
        }
    }
    // Damage in the data section may leave a valid (different) network; damage to the
    // header almost never does.
    assert!(failures > 0);
}

// ---------------------------------------------------------------------------------------
// Saving and the file system.
// ---------------------------------------------------------------------------------------

#[test]
fn io_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.safetensors");
    match NeuralNetwork::<f32>::load(&missing) {
        Err(Error::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    let nowhere = dir.path().join("no-such-dir").join("m.safetensors");
    match network::<f32>("mse", 0).save(&nowhere) {
        Err(Error::Io { path, .. }) => assert_eq!(path, nowhere),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert!(matches!(
        NeuralNetwork::<f32>::load(dir.path()),
        Err(Error::Io { .. })
    ));
    // A path that names no file.
    assert!(matches!(
        network::<f32>("mse", 0).save(Path::new("/")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn a_load_error_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.safetensors");
    fs::write(&path, b"definitely not a model").unwrap();
    match NeuralNetwork::<f32>::load(&path) {
        Err(Error::Format {
            path: p, offset: 0, ..
        }) => assert_eq!(p, path),
        other => panic!("expected a format error, got {other:?}"),
    }
}

/// An activation `nn` cannot parse back.
#[derive(Clone, Debug)]
struct Softplus;

impl Activation<f64> for Softplus {
    fn f(&self, y: f64) -> f64 {
        y.exp().ln_1p()
    }
    fn df(&self, y: f64) -> f64 {
        1.0 / (1.0 + (-y).exp())
    }
    fn name(&self) -> String {
        "softplus".into()
    }
    fn clone_box(&self) -> Box<dyn Activation<f64>> {
        Box::new(self.clone())
    }
}

#[test]
fn saving_refuses_files_that_would_not_load_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let mut rng = StdRng::seed_from_u64(0);
    let custom = NeuralNetwork::with_boxed_loss(
        vec![Dense::new(2, 2, Softplus, Init::HeNormal, &mut rng).unwrap()],
        parse_loss("mse").unwrap(),
        0.1,
    )
    .unwrap();
    assert!(matches!(
        custom.save(&path),
        Err(Error::Unknown {
            kind: "activation",
            ..
        })
    ));

    let mut nan = network::<f64>("mse", 0);
    nan.parameters_mut(1).unwrap().0[(2, 3)] = f64::NAN;
    assert!(matches!(
        nan.save(&path),
        Err(Error::NonFiniteInput {
            row: 2,
            column: 3,
            ..
        })
    ));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn tensor_offsets_that_overflow_the_address_space_are_an_error() {
    // Eight U8 tensors of 2^61 - 1 bytes each, chained, declare a data section ending at
    // 2^64 - 8. The safetensors crate (0.8) adds the 8-byte prefix to that end without
    // checking for overflow, which panics in builds with overflow checks (debug builds):
    // such offsets must be rejected before the file reaches it.
    let size: u64 = (1 << 61) - 1;
    let mut header = serde_json::Map::new();
    for k in 0..8 {
        header.insert(
            format!("layers.{k}.weight"),
            json!({"dtype": "U8", "shape": [size], "data_offsets": [k * size, (k + 1) * size]}),
        );
    }
    let header = Value::Object(header).to_string();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    for result in [
        NeuralNetwork::<f32>::from_safetensors_bytes(&bytes, "huge").map(|_| ()),
        NeuralNetwork::<f64>::from_safetensors_bytes(&bytes, "huge").map(|_| ()),
    ] {
        match result {
            Err(Error::Format {
                path,
                offset,
                message,
            }) => {
                assert_eq!(path, Path::new("huge"));
                assert_eq!(offset, 8 + header.len() as u64, "{message}");
                assert!(message.contains("layers.0.weight"), "{message}");
            }
            other => panic!("expected a format error, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The preprocessing step and the class names.
// ---------------------------------------------------------------------------------------

/// A network with a standardisation step fitted on inputs around 100 and class names.
fn with_step<F: Float>(seed: u64) -> NeuralNetwork<F> {
    let mut net = network::<F>("cross_entropy", seed);
    let mut rng = StdRng::seed_from_u64(seed);
    let train = Array2::from_shape_fn((5, 30), |(i, _)| {
        F::from_f64(100.0 * i as f64 + rng.random_range(-3.0..3.0))
    });
    let step = nn_core::Preprocessing::standardize(train.view()).unwrap();
    net.set_preprocessing(Some(step)).unwrap();
    let names = ["cat", "dog", "émeu \"quoted\"", "0", ""].map(String::from);
    net.set_class_names(Some(names.to_vec())).unwrap();
    net
}

fn step_round_trip<F: Float>() {
    let net = with_step::<F>(3);
    let bytes = net.to_safetensors_bytes().unwrap();
    let loaded = NeuralNetwork::<F>::from_safetensors_bytes(&bytes, "<memory>").unwrap();
    assert_same(&net, &loaded);
    assert_eq!(loaded.preprocessing(), net.preprocessing());
    assert_eq!(loaded.class_names(), net.class_names());
    // On raw inputs like the training data's, both give the same bits.
    let x = Array2::from_shape_fn((5, 4), |(i, j)| F::from_f64(100.0 * i as f64 + j as f64));
    let (a, b) = (
        net.forward_pass(x.view()).unwrap(),
        loaded.forward_pass(x.view()).unwrap(),
    );
    assert_eq!(bits(a.view()), bits(b.view()));
    assert_eq!(
        loaded.predict_names(x.view()).unwrap(),
        net.predict_names(x.view()).unwrap()
    );
    // The header records the step and the names.
    let (header, _) = split(&bytes);
    assert_eq!(header["__metadata__"]["preprocessing"], "standardize");
    assert_eq!(header["preprocessing.shift"]["shape"], json!([5]));
    assert_eq!(header["preprocessing.scale"]["dtype"], F::DTYPE.name());
    let names: Vec<String> =
        serde_json::from_str(header["__metadata__"]["class_names"].as_str().unwrap()).unwrap();
    assert_eq!(names, net.class_names().unwrap());
}

#[test]
fn the_preprocessing_step_and_class_names_are_saved_and_loaded() {
    step_round_trip::<f32>();
    step_round_trip::<f64>();
    // Without them, none come back.
    let loaded = load(&valid()).unwrap();
    assert!(loaded.preprocessing().is_none() && loaded.class_names().is_none());
}

fn load_step_file(edit: impl FnOnce(&mut Value)) -> nn_core::Result<NeuralNetwork<f32>> {
    let (mut header, data) = split(&with_step::<f32>(1).to_safetensors_bytes().unwrap());
    edit(&mut header);
    load(&join(&header, &data))
}

#[track_caller]
fn assert_format_error(result: nn_core::Result<NeuralNetwork<f32>>, words: &str) {
    match result {
        Err(e @ Error::Format { .. }) => assert!(e.to_string().contains(words), "{e}"),
        other => panic!("expected a format error with {words:?}, got {other:?}"),
    }
}

#[test]
fn a_damaged_preprocessing_step_or_class_list_is_refused() {
    assert!(load_step_file(|_| {}).is_ok());
    // Tensors without the metadata key, or the key without the tensors.
    assert_format_error(
        load_step_file(|h| {
            h["__metadata__"]
                .as_object_mut()
                .unwrap()
                .remove("preprocessing");
        }),
        "unexpected tensor \"preprocessing.s",
    );
    let no_tensors = |h: &mut Value| {
        // Renamed, so that the data stays tiled.
        let shift = h
            .as_object_mut()
            .unwrap()
            .remove("preprocessing.shift")
            .unwrap();
        h["preprocessing.other"] = shift;
    };
    assert_format_error(
        load_step_file(no_tensors),
        "unexpected tensor \"preprocessing.other\"",
    );
    // An unknown kind.
    assert!(matches!(
        load_step_file(|h| h["__metadata__"]["preprocessing"] = json!("zscore")),
        Err(Error::Unknown {
            kind: "preprocessing",
            ..
        })
    ));
    // A vector of the wrong length: the shift's 5 values declared as [1, 5].
    assert_format_error(
        load_step_file(|h| h["preprocessing.shift"]["shape"] = json!([1, 5])),
        "expected [5]",
    );
    // Class names that are not a JSON list of strings, or not one per output.
    assert_format_error(
        load_step_file(|h| h["__metadata__"]["class_names"] = json!("cat, dog")),
        "not a JSON array of strings",
    );
    assert_format_error(
        load_step_file(|h| h["__metadata__"]["class_names"] = json!("[1, 2, 3, 4, 5]")),
        "not a JSON array of strings",
    );
    assert_format_error(
        load_step_file(|h| h["__metadata__"]["class_names"] = json!("[\"a\", \"b\"]")),
        "class_names",
    );
}

#[test]
fn a_zero_scale_in_a_file_is_refused_at_load() {
    let (header, mut data) = split(&with_step::<f32>(2).to_safetensors_bytes().unwrap());
    let [start, _] = header["preprocessing.scale"]["data_offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect::<Vec<_>>()[..]
    else {
        unreachable!()
    };
    data[start + 8..start + 12].copy_from_slice(&0f32.to_le_bytes());
    assert_format_error(load(&join(&header, &data)), "the preprocessing step");
}
