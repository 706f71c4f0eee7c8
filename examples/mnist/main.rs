//! MNIST: the series' fourth and fifth articles, then a modern network for comparison.
//!
//! Each 28×28 image is a column of 784 pixel values; the network outputs 10 numbers and
//! its prediction is the class of the largest one. The data is Fashion-MNIST by default
//! (clothing in the same format as the digits: Debian's package `dataset-fashion-mnist`);
//! pass `--data DIR` for the MNIST digits of the articles (the four IDX files, plain or
//! gzip, or the series' `mnist_train.csv` and `mnist_test.csv`).
//!
//! | `--config` | network | loss | inputs | training |
//! |---|---|---|---|---|
//! | `mse` (default) | 784→16→16→10, LeakyReLU everywhere | MSE on one-hot targets | raw 0–255 | one ordered pass, one image per step, learning rate 0.001: the first MNIST article |
//! | `sigmoid` | the same, with Sigmoid on the last layer | MSE on one-hot targets | /255 | the same, learning rate 0.3 ("subtleties") |
//! | `cross-entropy` | 784→16→16→10, LeakyReLU everywhere | cross-entropy | /255 | the same, learning rate 0.03 ("subtleties"; the teacher of `teacher_student`) |
//! | `small` | 784→10, LeakyReLU | cross-entropy | /255 | the same, learning rate 0.001 (the student-teacher article's small network) |
//! | `modern` | 784→256→128→10, ReLU, no activation on the last layer | cross-entropy | /255 | `--optimizer adam` (default, learning rate 1e-3) or `sgd` (momentum 0.9, learning rate 0.01), shuffled mini-batches of 128, at most 10 epochs, early stopping on a validation split |
//!
//! The article configurations start from the original's initialisation (`Init::Original`,
//! tiny normal weights), train with plain SGD exactly as the article's `train(x, t)` and
//! see every training image once, in the file's order. `modern` uses what a practitioner
//! would today: He-initialised ReLU layers, Adam, shuffled mini-batches, several epochs.
//! It holds out 1/12 of the training images (5 000 of 60 000, drawn with the seed) as a
//! validation set, watches the validation loss after each epoch, stops when it has not
//! improved for 3 epochs and keeps the parameters of the best epoch. Its learning rate
//! follows a cosine from the starting rate down to 0 over the epochs. The test set is
//! used only to report the accuracy before and after training.
//!
//! The code: `config.rs` holds the table above, `article.rs` and `modern.rs` the two ways
//! of training, `options.rs` the flags; `--plot` draws the training curves with nn's
//! plotting crate, `nn-plot` (nn's `plot` feature).
//!
//! The output ends with `test accuracy: <before>% -> <after>%`. With `--load FILE` the
//! example evaluates a saved network instead of training one, and its last line is
//! `test accuracy: <accuracy>%`. The file holds the network's preprocessing (the division
//! by 255), so the loaded network takes the raw pixels as the trained one did.
//!
//! ```text
//! cargo run --release --example mnist -- [--config mse|sigmoid|cross-entropy|small|modern]
//!     [--optimizer adam|sgd] [--epochs N] [--batch-size N] [--learning-rate LR]
//!     [--data DIR] [--limit N] [--seed N] [--save FILE] [--plot FILE.png]
//!     [--min-accuracy PERCENT]
//! cargo run --release --example mnist -- --load FILE [--data DIR] [--min-accuracy PERCENT]
//! ```

use std::error::Error;
use std::path::Path;

use nn::prelude::*;
use nn::rand::{rngs::StdRng, SeedableRng};
use nn_data::Dataset;
use nn_plot::{Curve, PlotOptions};

use config::{Architecture, Config};
use options::{Options, Plan};

mod article;
mod config;
mod modern;
mod options;

#[path = "../common/cli.rs"]
mod cli;
#[path = "../common/data.rs"]
mod data;
#[path = "../common/destination.rs"]
mod destination;
#[path = "../common/progress.rs"]
mod progress;

/// Images per batch when evaluating (the result does not depend on it).
const EVAL_BATCH: usize = 1000;

fn main() {
    // Every failure, from a bad flag to a corrupted file, ends here as one line.
    if let Err(message) = run() {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let options = options::parse()?;
    // Check where the outputs go now, rather than after minutes of training.
    if let Some(path) = &options.plot {
        destination::check_png_path(path)?;
    }
    if let Some(path) = &options.save {
        destination::check_writable(path, "--save")?;
    }
    match &options.load {
        Some(path) => evaluate_saved(path, &options),
        None => train_and_evaluate(&options),
    }
}

/// Trains the network of the options' configuration and reports its test accuracy
/// before and after.
fn train_and_evaluate(options: &Options) -> Result<(), Box<dyn Error>> {
    let plan = Plan::of(options);
    let config = plan.config;
    let mut rng = StdRng::seed_from_u64(options.seed);

    // Step 1: the data, raw pixels 0..=255.
    let (train, test) = data::load(&options.data, options.limit)?;
    let test_set = test.samples()?;

    // Step 2: the network, drawn from the seeded generator. Every configuration but the
    // first article's divides the pixels by 255 in a preprocessing step of the network.
    let mut net = config.build(plan.learning_rate, plan.optimizer, plan.dropout, &mut rng)?;
    print_setup(&net, &plan, options, &train, &test);

    // Step 3: the accuracy before training: about 10%, a guess among 10 classes.
    let before = net.evaluate(test_set, EVAL_BATCH)?;
    let before_accuracy = before.accuracy.unwrap_or_default(); // class targets: always Some
    println!(
        "test accuracy before training: {:.2}%",
        100.0 * before_accuracy
    );

    // Step 4: training, image by image as the articles do, or in mini-batches.
    let (curves, images_trained, seconds) = if config == Config::Modern {
        modern::train_modern(&mut net, &train, plan.epochs, plan.batch_size, &mut rng)?
    } else {
        article::train_per_sample(&mut net, &train, test_set, plan.epochs)?
    };

    // Step 5: the accuracy after training, on test images the network has never seen.
    let after = net.evaluate(test_set, EVAL_BATCH)?;
    let after_accuracy = after.accuracy.unwrap_or_default();

    save_and_plot(&net, config, options, &curves)?;
    println!(
        "training time: {seconds:.2} s ({:.1} µs per image and pass)",
        1e6 * seconds / images_trained as f64
    );
    println!(
        "test accuracy: {:.2}% -> {:.2}%",
        100.0 * before_accuracy,
        100.0 * after_accuracy
    );
    Ok(cli::check_min_accuracy(
        after_accuracy,
        options.min_accuracy,
        "the test accuracy",
    )?)
}

/// The lines that say what is about to be trained, how, and on what.
fn print_setup(
    net: &NeuralNetwork<f32>,
    plan: &Plan,
    options: &Options,
    train: &Dataset<f32>,
    test: &Dataset<f32>,
) {
    println!(
        "config {}: {}, {} parameters",
        plan.config.name(),
        Architecture::of(net),
        net.parameter_count()
    );
    println!("{}", plan.describe());
    println!(
        "data {}: {} training images, {} test images",
        options.data.display(),
        train.len(),
        test.len()
    );
}

/// `--save` and `--plot`, when given.
fn save_and_plot(
    net: &NeuralNetwork<f32>,
    config: Config,
    options: &Options,
    curves: &[Curve],
) -> Result<(), Box<dyn Error>> {
    if let Some(path) = &options.save {
        net.save(path)?;
        println!("saved the network to {}", path.display());
    }
    if let Some(path) = &options.plot {
        let data_name = options
            .data
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        let title = format!("{data_name}, config {}", config.name());
        let plot_options = PlotOptions {
            title: Some(title),
            ..PlotOptions::default()
        };
        nn_plot::plot_curves(curves, path, &plot_options)?;
        println!("plotted the curves to {}", path.display());
    }
    Ok(())
}

/// `--load FILE`: evaluates a saved network on the test set's raw pixels (the file holds
/// the network's preprocessing).
fn evaluate_saved(path: &Path, options: &Options) -> Result<(), Box<dyn Error>> {
    let net = NeuralNetwork::<f32>::load(path)?;
    let (_, test) = data::load(&options.data, None)?;
    println!(
        "loaded {}: {}, {} parameters",
        path.display(),
        Architecture::of(&net),
        net.parameter_count(),
    );
    let accuracy = net
        .evaluate(test.samples()?, EVAL_BATCH)?
        .accuracy
        .unwrap_or_default();
    println!("test accuracy: {:.2}%", 100.0 * accuracy);
    Ok(cli::check_min_accuracy(
        accuracy,
        options.min_accuracy,
        "the test accuracy",
    )?)
}
