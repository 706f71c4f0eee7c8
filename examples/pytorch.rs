//! PyTorch's files both ways: a model trained in PyTorch comes in as its `state_dict`,
//! and a network trained here goes out as one that `model.load_state_dict` takes.
//!
//! The directory holds what Python wrote (`crates/nn-train/tests/python/check_torch.py
//! make DIR` writes it with the `safetensors` and `numpy` packages, the same bytes as
//! `safetensors.torch.save_file(model.state_dict(), ...)`):
//!
//! - `model.safetensors`: the state_dict of `nn.Sequential(nn.Linear(5, 16), nn.ReLU(),
//!   nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))`, float32;
//! - `x.npy` (one sample per row) and `y.npy` (their classes).
//!
//! The example
//!
//! 1. loads the state_dict with the activations in code, and writes its outputs for `x`
//!    to `nn_outputs.npy` (rows), for Python to compare with PyTorch's;
//! 2. trains a new network of the same shape on `x`, `y`, with a standardisation step
//!    (which a state_dict has no place for: `save_torch` folds it into the first layer),
//!    saves it in PyTorch's layout to `trained.safetensors`, and its outputs for the raw
//!    `x` to `trained_outputs.npy`, for Python to load it into the `Sequential` and
//!    compare (`check_torch.py verify DIR`).
//!
//! ```text
//! cargo run --release --example pytorch -- --dir DIR [--min-accuracy PERCENT]
//! ```

use std::error::Error;
use std::path::{Path, PathBuf};

use nn::data::{read_npy_labels, read_npy_matrix};
use nn::prelude::*;

#[path = "common/cli.rs"]
mod cli;

fn main() {
    if let Err(message) = run() {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

/// The activation after each `Linear` of the `Sequential`: ReLU, Tanh, none.
fn activations() -> Vec<Box<dyn Activation<f32>>> {
    vec![Box::new(Relu), Box::new(Tanh), Box::new(Identity)]
}

fn run() -> Result<(), Box<dyn Error>> {
    let (dir, min_accuracy) = parse_args()?;
    let x = read_npy_matrix::<f32>(dir.join("x.npy"))?; // (n, 5): one sample per row
    let y = read_npy_labels(dir.join("y.npy"))?;
    let data = Samples::from_rows(x.view(), Target::Classes(&y))?;

    // 1. PyTorch's model, in nn.
    let from_torch = NeuralNetwork::load_torch(
        dir.join("model.safetensors"),
        activations(),
        Box::new(CrossEntropy),
        1e-3,
    )?;
    let accuracy = from_torch.evaluate(data, 256)?.accuracy.unwrap_or_default();
    println!(
        "loaded PyTorch's state_dict: {} layers, {} parameters; accuracy on x: {:.2}%",
        from_torch.layers().len(),
        from_torch.parameter_count(),
        100.0 * accuracy
    );
    write_rows(&dir.join("nn_outputs.npy"), &from_torch, x.view())?;

    // 2. A network trained here, for PyTorch.
    let mut net = NeuralNetwork::builder(5)
        .dense(16, Relu)
        .dense(16, Tanh)
        .dense(3, Identity)
        .init(Init::XavierNormal)
        .loss(CrossEntropy)
        .optimizer(Adam::new(0.01)?)
        .preprocessing(Preprocessing::standardize(data.inputs())?)
        .build()?;
    let options = FitOptions {
        epochs: 20,
        batch_size: 32,
        ..FitOptions::default()
    };
    net.fit(data, None, &options)?;
    let accuracy = net.evaluate(data, 256)?.accuracy.unwrap_or_default();
    println!(
        "trained here with a standardisation step: accuracy on x {:.2}%",
        100.0 * accuracy
    );
    net.save_torch(dir.join("trained.safetensors"))?;
    write_rows(&dir.join("trained_outputs.npy"), &net, x.view())?;
    println!(
        "saved {} in PyTorch's layout (the step folded into the first layer)",
        dir.join("trained.safetensors").display()
    );
    Ok(cli::check_min_accuracy(
        accuracy,
        min_accuracy,
        "the accuracy",
    )?)
}

/// Writes the network's outputs for `rows` (one sample per row) as an `.npy` of rows.
fn write_rows(
    path: &Path,
    net: &NeuralNetwork<f32>,
    rows: ArrayView2<'_, f32>,
) -> Result<(), Box<dyn Error>> {
    let outputs = net.forward_pass(rows.t())?; // (outs, n)
    ndarray_npy::write_npy(path, &outputs.t().as_standard_layout())?;
    Ok(())
}

const HELP: &str = "\
usage: pytorch --dir DIR [--min-accuracy PERCENT]

Loads the PyTorch state_dict that check_torch.py make DIR wrote, writes its outputs, then
trains a network with a standardisation step and saves it in PyTorch's layout.

  --dir DIR               the directory check_torch.py make wrote (model.safetensors, x.npy,
                          y.npy); the outputs and trained.safetensors are written there
                          (required)
  --min-accuracy PERCENT  fail (exit status 1) below this accuracy of the trained network
                          on x, in % (0-100; default: no floor)
  --help                  this text";

fn parse_args() -> Result<(PathBuf, Option<f64>), Box<dyn Error>> {
    use lexopt::prelude::*;
    let (mut dir, mut min_accuracy) = (None, None);
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("dir") => dir = Some(PathBuf::from(parser.value()?)),
            Long("min-accuracy") => {
                let p = cli::value(&mut parser, "--min-accuracy")?;
                min_accuracy = Some(cli::percent(p, "--min-accuracy")?);
            }
            Long("help") => {
                println!("{HELP}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    let dir = dir.ok_or("--dir DIR is needed: the directory check_torch.py make wrote")?;
    Ok((dir, min_accuracy))
}
