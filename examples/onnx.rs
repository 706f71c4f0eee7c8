//! Train a network, then export it to ONNX, so that ONNX Runtime (or any other ONNX
//! reader) serves it.
//!
//! The task: points of the plane in three classes, the three 120° sectors around the
//! origin, measured in awkward units: the first feature is `300 + 40·u` (a temperature in
//! kelvin, say) and the second `0.002·v`, for `(u, v)` uniform in `[-1, 1]²`. A
//! standardizing preprocessing step, fitted on the training points, brings both back to
//! the same scale; it travels with the network, and into the ONNX graph (a `Sub` and a
//! `Mul` before the first layer), so the exported model takes the raw features too.
//! The network is 2→16→16→3, tanh hidden units, trained with cross-entropy on shuffled
//! mini-batches of 32 for 8 epochs, in under a second: 99.6% test accuracy on the
//! default seed, 98.7% to 99.7% on seeds 0 to 7. The exported graph has a second output,
//! `probabilities`, the softmax of its logits.
//!
//! - `--min-accuracy PERCENT` fails (exit status 1) below that test accuracy;
//! - `--out FILE.onnx` saves the trained network as ONNX, and prints the Python lines that
//!   run it in ONNX Runtime;
//! - `--check-dir DIR` writes what `crates/nn-onnx/tests/python/check_onnx.py` compares
//!   with ONNX Runtime: for each network, `NAME.onnx`, 1 000 inputs `NAME.input.npy` (one
//!   per row) and nn's outputs for them, `NAME.output.npy` (and `NAME.probabilities.npy`
//!   for a cross-entropy network). The networks: for every activation (relu, sigmoid,
//!   tanh, identity, leaky_relu(0.1)) in f32 and f64, 4→16→16→3 with that activation in
//!   every layer and random parameters; a random f64 cross-entropy network with a
//!   preprocessing step; and the trained network, on the test points.
//!
//! ```text
//! cargo run --release --example onnx [-- --seed N --min-accuracy PERCENT --out FILE.onnx
//!     --check-dir DIR]
//! ```

use std::error::Error;
use std::f64::consts::PI;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use nn::ndarray::{Array2, ArrayView2};
use nn::prelude::*;
use nn::rand::{rngs::StdRng, Rng, SeedableRng};
use nn::train::Preprocessing;
use rand_distr::StandardNormal;

#[path = "common/cli.rs"]
mod cli;
#[path = "common/destination.rs"]
mod destination;

/// Training and test points.
const TRAIN: usize = 20_000;
const TEST: usize = 2_000;

/// Inputs per network in `--check-dir`.
const CHECK_INPUTS: usize = 1_000;

struct Options {
    seed: u64,
    min_accuracy: Option<f64>,
    out: Option<PathBuf>,
    check_dir: Option<PathBuf>,
}

fn main() {
    if let Err(message) = run() {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let options = parse_args()?;
    // Check the destinations now, before any training.
    if let Some(path) = &options.out {
        destination::check_writable(path, "--out")?;
    }
    if let Some(dir) = &options.check_dir {
        if !dir.is_dir() {
            return Err(format!("--check-dir {}: not a directory", dir.display()).into());
        }
    }
    let mut rng = StdRng::seed_from_u64(options.seed);

    // The points, one per column as nn takes them, and their classes.
    let (train, train_classes) = sectors(TRAIN, &mut rng);
    let (test, test_classes) = sectors(TEST, &mut rng);

    // The preprocessing step is fitted on the training points only, and set on the
    // network: every entry point (fit, evaluate, forward_pass) applies it from then on.
    let mut net = NeuralNetwork::new(
        vec![
            Dense::new(2, 16, Tanh, Init::XavierNormal, &mut rng)?,
            Dense::new(16, 16, Tanh, Init::XavierNormal, &mut rng)?,
            Dense::new(16, 3, Identity, Init::XavierNormal, &mut rng)?,
        ],
        CrossEntropy,
        0.1,
    )?;
    net.set_preprocessing(Some(Preprocessing::standardize(train.view())?))?;
    let fit_options = FitOptions {
        epochs: 8,
        batch_size: 32,
        ..FitOptions::default()
    };
    let samples = Samples::new(train.view(), Target::Classes(&train_classes))?;
    net.fit_with(samples, None, &fit_options, &mut rng, |_| {
        ControlFlow::Continue(())
    })?;
    let test_samples = Samples::new(test.view(), Target::Classes(&test_classes))?;
    let evaluation = net.evaluate(test_samples, 256)?;
    let accuracy = evaluation.accuracy.unwrap_or_default();
    println!(
        "seed {}: test loss {:.4}, test accuracy {:.2}%",
        options.seed,
        evaluation.loss,
        100.0 * accuracy
    );

    if let Some(path) = &options.out {
        // The export: one call. The file holds the preprocessing step, the layers and
        // the softmax.
        nn::onnx::save_onnx(&net, path)?;
        println!("saved {} as ONNX; in Python:", path.display());
        println!("  import numpy as np, onnxruntime as ort");
        println!(
            "  session = ort.InferenceSession({:?}, providers=[\"CPUExecutionProvider\"])",
            path.display().to_string()
        );
        println!(
            "  logits, probabilities = session.run(None, {{\"input\": np.array([[320.0, 0.001]], np.float32)}})"
        );
    }
    if let Some(dir) = &options.check_dir {
        let rows = test.t().slice(s![..CHECK_INPUTS, ..]).to_owned();
        write_check(dir, "trained_f32", &net, rows.view())?;
        let written = write_check_networks(dir, &mut rng)? + 1;
        println!(
            "wrote {written} networks, their inputs and nn's outputs to {}",
            dir.display()
        );
    }

    Ok(cli::check_min_accuracy(
        accuracy,
        options.min_accuracy,
        "the test accuracy",
    )?)
}

/// `n` points, one per column: the features `(300 + 40·u, 0.002·v)` of `(u, v)` drawn
/// uniformly from `[-1, 1]²`, and their classes, the sector of the angle of `(u, v)`:
/// 0 for `[0°, 120°)`, 1 for `[120°, 240°)`, 2 for `[240°, 360°)`.
fn sectors(n: usize, rng: &mut StdRng) -> (Array2<f32>, Vec<usize>) {
    let mut points = Array2::zeros((2, n));
    let mut classes = Vec::with_capacity(n);
    for mut point in points.columns_mut() {
        let (u, v): (f64, f64) = (rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0));
        let angle = v.atan2(u).rem_euclid(2.0 * PI);
        classes.push(((angle / (2.0 * PI / 3.0)) as usize).min(2));
        point[0] = (300.0 + 40.0 * u) as f32;
        point[1] = (0.002 * v) as f32;
    }
    (points, classes)
}

/// The check's random networks (see the module's documentation); returns how many.
fn write_check_networks(dir: &Path, rng: &mut StdRng) -> Result<usize, Box<dyn Error>> {
    let activations = ["relu", "sigmoid", "tanh", "identity", "leaky_relu(0.1)"];
    for activation in activations {
        let name = activation.replace("(0.1)", "");
        let every_layer = [activation; 3];
        let net = NeuralNetwork::new(random_layers::<f32>(every_layer, rng)?, Mse, 0.1)?;
        write_check(dir, &format!("{name}_f32"), &net, normal_inputs(rng).view())?;
        let net = NeuralNetwork::new(random_layers::<f64>(every_layer, rng)?, Mse, 0.1)?;
        write_check(dir, &format!("{name}_f64"), &net, normal_inputs(rng).view())?;
    }

    // Cross-entropy with a preprocessing step, in f64: raw inputs far from the origin and
    // of spreads from 0.1 to 100, standardized by the step.
    let inputs = Array2::from_shape_fn((CHECK_INPUTS, 4), |(_, j)| {
        let z: f64 = rng.sample(StandardNormal);
        (j as f64 - 1.5) * 100.0 + z * 10f64.powi(j as i32 - 1)
    });
    let layers = random_layers(["leaky_relu(0.1)", "tanh", "identity"], rng)?;
    let mut net = NeuralNetwork::new(layers, CrossEntropy, 0.1)?;
    net.set_preprocessing(Some(Preprocessing::standardize(inputs.t())?))?;
    write_check(dir, "cross_entropy_preprocessing_f64", &net, inputs.view())?;
    Ok(2 * activations.len() + 1)
}

/// 4→16→16→3 layers with these activations, weights drawn as He's `N(0, 2/ins)` and
/// biases from `[-0.5, 0.5)` (nn starts them at zero, which would hide a bias exported
/// wrongly).
fn random_layers<F: Float>(
    activations: [&str; 3],
    rng: &mut StdRng,
) -> Result<Vec<Dense<F>>, Box<dyn Error>> {
    let sizes = [(4, 16), (16, 16), (16, 3)];
    let mut layers = Vec::new();
    for ((ins, outs), activation) in sizes.into_iter().zip(activations) {
        let deviation = (2.0 / ins as f64).sqrt();
        let weights = Array2::from_shape_simple_fn((outs, ins), || {
            F::from_f64(deviation * rng.sample::<f64, _>(StandardNormal))
        });
        let bias =
            Array2::from_shape_simple_fn((outs, 1), || F::from_f64(rng.random_range(-0.5..0.5)));
        let activation = nn::layers::parse_activation::<F>(activation)?;
        layers.push(Dense::from_parameters(weights, bias, activation)?);
    }
    Ok(layers)
}

/// `CHECK_INPUTS` inputs of 4 features, one per row, drawn from `N(0, 2²)`.
fn normal_inputs<F: Float>(rng: &mut StdRng) -> Array2<F> {
    Array2::from_shape_simple_fn((CHECK_INPUTS, 4), || {
        F::from_f64(2.0 * rng.sample::<f64, _>(StandardNormal))
    })
}

/// Writes `DIR/NAME.onnx`, `NAME.input.npy` (`inputs`, one sample per row) and nn's
/// outputs for them, `NAME.output.npy` (and `NAME.probabilities.npy` for cross-entropy),
/// one sample per row as ONNX gives them.
fn write_check<F>(
    dir: &Path,
    name: &str,
    net: &NeuralNetwork<F>,
    inputs: ArrayView2<'_, F>,
) -> Result<(), Box<dyn Error>>
where
    F: Float + ndarray_npy::WritableElement,
{
    nn::onnx::save_onnx(net, dir.join(format!("{name}.onnx")))?;
    let npy = |suffix: &str, rows: ArrayView2<'_, F>| {
        let path = dir.join(format!("{name}.{suffix}.npy"));
        ndarray_npy::write_npy(&path, &rows.as_standard_layout())
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    npy("input", inputs)?;
    // nn takes and gives one sample per column: transposed views, no copies.
    npy("output", net.forward_pass(inputs.t())?.t())?;
    if net.loss_function().name() == "cross_entropy" {
        npy("probabilities", net.predict_probabilities(inputs.t())?.t())?;
    }
    Ok(())
}

const HELP: &str = "\
usage: onnx [--seed N] [--min-accuracy PERCENT] [--out FILE.onnx] [--check-dir DIR]

Trains a network with a preprocessing step on three sectors of the plane in awkward units,
prints its test accuracy, and exports it to ONNX.

  --seed N                seed of the data and the weights (an integer; default 0)
  --min-accuracy PERCENT  fail (exit status 1) below this test accuracy, in % (0-100;
                          default: no floor)
  --out FILE.onnx         where to write the ONNX model (default: not written)
  --check-dir DIR         an existing directory to write, for every activation in f32 and
                          f64, a network as NAME.onnx with 1 000 inputs and nn's outputs as
                          .npy, for crates/nn-onnx/tests/python/check_onnx.py
  --help                  this text";

fn parse_args() -> Result<Options, Box<dyn Error>> {
    use lexopt::prelude::*;
    let mut options = Options {
        seed: 0,
        min_accuracy: None,
        out: None,
        check_dir: None,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("seed") => options.seed = cli::value(&mut parser, "--seed")?,
            Long("min-accuracy") => {
                let value = cli::value(&mut parser, "--min-accuracy")?;
                options.min_accuracy = Some(cli::percent(value, "--min-accuracy")?);
            }
            Long("out") => options.out = Some(parser.value()?.into()),
            Long("check-dir") => options.check_dir = Some(parser.value()?.into()),
            Long("help") => {
                println!("{HELP}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    Ok(options)
}
