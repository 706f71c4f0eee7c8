//! The modern training: `NeuralNetwork::fit` on shuffled mini-batches, a cosine-annealed
//! learning rate, and early stopping on a validation set held out of the training images.

use std::error::Error;
use std::io::IsTerminal;

use nn::prelude::*;
use nn::rand::rngs::StdRng;
use nn::train::{EarlyStopping, History, Schedule};
use nn_data::Dataset;
use nn_plot::Curve;
use nn_train::ProgressBar;

/// The modern training: `NeuralNetwork::fit` on shuffled mini-batches, with a validation
/// set held out of the training images and early stopping. Returns the curves, the number
/// of training images seen (each pass counted) and the seconds spent in training steps.
pub fn train_modern(
    net: &mut NeuralNetwork<f32>,
    train: &Dataset<f32>,
    epochs: usize,
    batch_size: usize,
    rng: &mut StdRng,
) -> Result<(Vec<Curve>, usize, f64), Box<dyn Error>> {
    let (fit_set, validation) = hold_out_validation(train, rng)?;
    let (fit_samples, validation_samples) = (fit_set.samples()?, validation.samples()?);

    let options = fit_options(epochs, batch_size);
    // The library's bar (nn's `progress` feature): the batches of each epoch and the
    // running loss, and a line per epoch above it.
    let mut bar = ProgressBar::new(epochs);
    let history = net.fit_with(
        fit_samples,
        Some(validation_samples),
        &options,
        rng,
        |event| bar.update(event),
    )?;
    drop(bar); // clears the bar; its epoch lines stay
    if !std::io::stderr().is_terminal() {
        // The bar and its lines appear only on a terminal: in a pipe or a CI log, the
        // epochs are printed here instead.
        print_epochs(&history, epochs);
    }
    report_early_stopping(&history);

    let seconds = history.epochs.iter().map(|r| r.seconds).sum();
    let images_trained = history.epochs.len() * fit_set.len();
    Ok((Curve::from_history(&history), images_trained, seconds))
}

/// Splits `train` into the images to fit on and 1/12 of them, drawn with the seed, held
/// out to decide when to stop.
fn hold_out_validation(
    train: &Dataset<f32>,
    rng: &mut StdRng,
) -> Result<(Dataset<f32>, Dataset<f32>), Box<dyn Error>> {
    let (fit_set, validation) = train.split(train.len() / 12, rng)?;
    if validation.is_empty() {
        return Err("config modern needs at least 12 training images (--limit)".into());
    }
    println!(
        "fitting on {} images, validating on {}",
        fit_set.len(),
        validation.len()
    );
    Ok((fit_set, validation))
}

fn fit_options(epochs: usize, batch_size: usize) -> FitOptions {
    FitOptions {
        epochs,
        batch_size,
        shuffle: true,
        // The learning rate follows half a cosine from its starting value down to 0 over
        // the epochs: large steps first, then ever smaller ones to settle in a minimum.
        schedule: Schedule::Cosine {
            epochs,
            min_factor: 0.0,
        },
        // Stop when the validation loss has not improved for 3 epochs, and keep the
        // parameters of the epoch where it was lowest.
        early_stopping: Some(EarlyStopping {
            patience: 3,
            min_delta: 0.0,
        }),
        report_every: 10,
        // Not used: fit_with shuffles with the example's generator, seeded by --seed.
        seed: 0,
    }
}

/// A line per epoch: its training and validation loss and accuracy.
fn print_epochs(history: &History, epochs: usize) {
    let percent = |a: Option<f64>| 100.0 * a.unwrap_or_default();
    for report in &history.epochs {
        println!(
            "epoch {:>2}/{epochs}: training loss {:.4}, accuracy {:.2}% | validation loss {:.4}, accuracy {:.2}% | {:.1} s",
            report.epoch + 1,
            report.train_loss,
            percent(report.train_accuracy),
            report.validation_loss.unwrap_or(f64::NAN),
            percent(report.validation_accuracy),
            report.seconds
        );
    }
}

fn report_early_stopping(history: &History) {
    let Some(best) = history.best_epoch else {
        return;
    };
    if history.stopped_early {
        println!(
            "early stopping: the validation loss has not improved since epoch {}",
            best + 1
        );
    }
    if best + 1 < history.epochs.len() {
        println!(
            "kept the parameters of epoch {}, whose validation loss was the lowest",
            best + 1
        );
    }
}
