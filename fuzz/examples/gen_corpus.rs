//! Writes the seed corpora of the fuzz targets into `corpus/<target>/`: small valid files
//! and a few edge cases. Run from `fuzz/` with `cargo run --example gen_corpus`; the output
//! is deterministic, so running it again changes nothing.
//!
//! Each file starts with the mode byte its target reads first (see the targets' docs).

use std::fs;
use std::path::Path;

use ndarray::Array2;
use nn_core::{Float, Init};
use nn_fuzz::gzip;
use nn_layers::{parse_activation, Dense};
use nn_loss::parse_loss;
use nn_train::NeuralNetwork;
use rand::{rngs::StdRng, SeedableRng};

fn write(target: &str, name: &str, mode: u8, bytes: &[u8]) {
    let dir = Path::new("corpus").join(target);
    fs::create_dir_all(&dir).unwrap();
    let mut file = vec![mode];
    file.extend_from_slice(bytes);
    fs::write(dir.join(name), file).unwrap();
}

fn idx(element_type: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, element_type, dims.len() as u8];
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn idx_corpus() {
    let labels = idx(8, &[5], &[3, 1, 4, 1, 5]);
    let pixels: Vec<u8> = (0..2 * 3 * 4).map(|i| (i * 11) as u8).collect();
    let images = idx(8, &[2, 3, 4], &pixels);
    let four = idx(8, &[1, 2, 1, 2], &[1, 2, 3, 4]);
    for (name, bytes) in [("labels", &labels), ("images", &images), ("4d", &four)] {
        write("idx", &format!("{name}-plain"), 0, bytes);
        write("idx", &format!("{name}-gzip"), 0, &gzip(bytes));
        write("idx", &format!("{name}-wrapped"), 1, bytes);
        write("idx", &format!("{name}-members"), 2, bytes);
        write(
            "idx",
            &format!("{name}-damaged"),
            3,
            &[[0x81].as_slice(), bytes].concat(),
        );
    }
    // Edge cases: truncated data, trailing bytes, a zero dimension, a huge declared size,
    // another element type, no dimensions, a bad magic number.
    write("idx", "truncated", 0, &idx(8, &[4], &[1, 2]));
    write("idx", "trailing", 0, &idx(8, &[1], &[1, 2]));
    write("idx", "zero-dim", 0, &idx(8, &[2, 0], &[]));
    write("idx", "huge", 0, &idx(8, &[u32::MAX, u32::MAX, 2], &[0; 8]));
    write("idx", "huge-gzip", 0, &gzip(&idx(8, &[u32::MAX], &[0; 8])));
    write("idx", "float", 0, &idx(0x0d, &[1], &[0; 4]));
    write("idx", "no-dims", 0, &[0, 0, 8, 0]);
    write("idx", "bad-magic", 0, &[1, 2, 8, 1, 0, 0, 0, 1, 9]);
}

fn csv_corpus() {
    for (name, classes, text) in [
        ("plain", 10, "5,0,128,255\n0,1,2,3\n"),
        ("header", 10, "label,p1,p2\n3,0,255\n7,12,34\n"),
        ("crlf", 10, "label,1x1\r\n1, 2 \r\n\r\n2,003\r\n"),
        ("decimals", 10, "3.0,12.0,0\n1e0,1,2\n"),
        ("huge-classes", 255, "123456789,1\n"),
        ("bad-label", 2, "5,1\n"),
        ("bad-pixel", 10, "1,256\n1,-1\n"),
        ("ragged", 10, "1,2,3\n4,5\n"),
        ("lone-header", 10, "label,pixel0\n"),
        ("empty", 10, ""),
    ] {
        write("csv", name, classes, text.as_bytes());
    }
}

fn network<F: Float>(sizes: &[usize], activations: &[&str], loss: &str) -> NeuralNetwork<F> {
    let mut rng = StdRng::seed_from_u64(sizes.len() as u64);
    let layers = activations
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let (ins, outs) = (sizes[i], sizes[i + 1]);
            let w: Array2<F> = Init::HeNormal.weights(outs, ins, &mut rng).unwrap();
            let b: Array2<F> = Init::HeNormal.weights(outs, 1, &mut rng).unwrap();
            Dense::from_parameters(w, b, parse_activation(a).unwrap()).unwrap()
        })
        .collect();
    NeuralNetwork::with_boxed_loss(layers, parse_loss(loss).unwrap(), F::from_f64(0.01)).unwrap()
}

/// A model file written as the raw bytes (mode 0) and as header-length-prefixed (mode 1).
fn write_model(name: &str, bytes: &[u8]) {
    write("model", &format!("{name}-raw"), 0, bytes);
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as u16;
    let mut prefixed = n.to_le_bytes().to_vec();
    prefixed.extend_from_slice(&bytes[8..]);
    write("model", &format!("{name}-prefixed"), 1, &prefixed);
}

fn model_corpus() {
    let one = network::<f32>(&[2, 3], &["sigmoid"], "mse");
    write_model("f32-1layer", &one.to_safetensors_bytes().unwrap());
    let two = network::<f64>(
        &[3, 4, 2],
        &["leaky_relu(0.1)", "identity"],
        "cross_entropy",
    );
    write_model("f64-2layers", &two.to_safetensors_bytes().unwrap());
    let three = network::<f32>(&[2, 2, 2, 1], &["relu", "tanh", "leaky_relu(0.3)"], "mse");
    let bytes = three.to_safetensors_bytes().unwrap();
    write_model("f32-3layers", &bytes);

    // Edge cases: a header length past the end, a truncated data section, an extra
    // tensor, a foreign dtype, and a header that is not JSON.
    let mut long = bytes.clone();
    long[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    write("model", "length-past-end", 0, &long);
    write("model", "truncated", 0, &bytes[..bytes.len() - 3]);
    let header = r#"{"__metadata__":{"format":"nn/1","dtype":"F32","layers":"1","activation.0":"relu","loss":"mse","learning_rate":"0.1"},"layers.0.weight":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},"layers.0.bias":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"extra":{"dtype":"I8","shape":[1],"data_offsets":[8,9]}}"#;
    let mut file = (header.len() as u16).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(&[0, 0, 128, 63, 0, 0, 0, 0, 7]);
    write("model", "extra-tensor", 1, &file);
    let foreign = header.replace("\"F32\",\"shape\":[1,1]", "\"BF16\",\"shape\":[1,2]");
    let mut file = (foreign.len() as u16).to_le_bytes().to_vec();
    file.extend_from_slice(foreign.as_bytes());
    file.extend_from_slice(&[0, 0, 128, 63, 0, 0, 0, 0, 7]);
    write("model", "bf16", 1, &file);
    write("model", "not-json", 1, b"\x04\x00{\"a\"");
}

/// The table target's mode byte: bits 0-1 the delimiter (`,` tab `;` `|`), bits 2-3 the
/// header (auto, present, absent), bit 4 values rather than classes, bits 5-7 the columns.
fn table_corpus() {
    const TAB: u8 = 1;
    const SEMICOLON: u8 = 2;
    const ABSENT: u8 = 2 << 2;
    const VALUES: u8 = 16;
    const NAME_Y: u8 = 3 << 5;
    const INDICES_0_1: u8 = 4 << 5;
    const IGNORE_ID: u8 = 7 << 5;
    for (name, mode, text) in [
        (
            "iris",
            0,
            "sepal_length,sepal_width,species\n5.1,3.5,setosa\n7.0,3.2,versicolor\n",
        ),
        (
            "tsv-values",
            TAB | VALUES,
            "x\ty\tz\n1\t2\t3\n4\t-5e-1\t.6\n",
        ),
        ("no-header", ABSENT, "1,2,0\n3,4,1\n5,6,07\n"),
        ("named-target", NAME_Y, "a,y,b\n1,0,2\n3,1,4\n"),
        (
            "two-values",
            VALUES | INDICES_0_1,
            "y1,y2,x\n1,2,3\n4,5,6\n",
        ),
        ("ignored-id", IGNORE_ID, "id,x,label\nq,1,a\nr,2,b\n"),
        (
            "quoted-crlf",
            0,
            "\"a\",\"b, c\",y\r\n\"1\",2,\"x\"\"y\"\r\n\r\n 3 , 4 ,z\r\n",
        ),
        ("bom", 0, "\u{feff}a,y\n1,0\n"),
        ("semicolon", SEMICOLON, "a;b;y\n1,5;2;0\n"),
        ("missing", 0, "a,b,y\n1,,0\n"),
        ("nan", 0, "a,y\nnan,0\n"),
        ("f32-range", VALUES, "a,y\n1e39,1\n"),
        ("ragged", 0, "a,b,y\n1,2\n"),
        ("lone-header", 0, "a,b,y\n"),
        ("empty", 0, ""),
    ] {
        write("table", name, mode, text.as_bytes());
    }
}

fn main() {
    idx_corpus();
    csv_corpus();
    table_corpus();
    model_corpus();
}
