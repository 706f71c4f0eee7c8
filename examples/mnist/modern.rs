//! The modern training: `NeuralNetwork::fit` on shuffled mini-batches, a cosine-annealed
//! learning rate, and early stopping on a validation set held out of the training images.

use std::error::Error;
use std::ops::ControlFlow;

use indicatif::ProgressBar;
use nn::prelude::*;
use nn::rand::rngs::StdRng;
use nn::train::{EarlyStopping, Evaluation, History, Progress, Schedule};
use nn_data::Dataset;

use crate::curves::{Curves, Point};
use crate::{progress, EVAL_BATCH};

/// The modern training: `NeuralNetwork::fit` on shuffled mini-batches, with a validation
/// set held out of the training images and early stopping. Returns the curves and the
/// seconds spent in training steps.
pub fn train_modern(
    net: &mut NeuralNetwork<f32>,
    train: &Dataset<f32>,
    epochs: usize,
    batch_size: usize,
    rng: &mut StdRng,
) -> Result<(Curves, f64), Box<dyn Error>> {
    let (fit_set, validation) = hold_out_validation(train, rng)?;
    let (fit_samples, validation_samples) = (fit_set.samples()?, validation.samples()?);
    let start = net.evaluate(validation_samples, EVAL_BATCH)?;

    let options = fit_options(epochs, batch_size);
    let batches = fit_set.len().div_ceil(batch_size.min(fit_set.len()));
    let bar = progress::bar((epochs * batches) as u64, "batches");
    let history = net.fit_with(
        fit_samples,
        Some(validation_samples),
        &options,
        rng,
        |event| {
            show_progress(&bar, event, epochs, batches);
            ControlFlow::Continue(())
        },
    )?;
    bar.finish_and_clear();
    report_early_stopping(&history);

    let curves = curves_of(&history, &start, fit_set.len());
    let seconds = history.epochs.iter().map(|r| r.seconds).sum();
    Ok((curves, seconds))
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

/// Moves the bar every few batches, and prints a line after each epoch.
fn show_progress(bar: &ProgressBar, event: Progress<'_>, epochs: usize, batches: usize) {
    match event {
        Progress::Batch {
            epoch, batch, loss, ..
        } => {
            bar.set_position((epoch * batches + batch) as u64);
            bar.set_message(format!("loss {loss:.4}"));
        }
        Progress::Epoch(report) => {
            bar.set_position(((report.epoch + 1) * batches) as u64);
            let percent = |a: Option<f64>| 100.0 * a.unwrap_or_default();
            bar.suspend(|| {
                println!(
                    "epoch {:>2}/{epochs}: training loss {:.4}, accuracy {:.2}% | validation loss {:.4}, accuracy {:.2}% | {:.1} s",
                    report.epoch + 1,
                    report.train_loss,
                    percent(report.train_accuracy),
                    report.validation_loss.unwrap_or(f64::NAN),
                    percent(report.validation_accuracy),
                    report.seconds
                )
            });
        }
        // `Progress` may gain kinds of events; they need no display here.
        _ => {}
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

/// The curves of a fit that started at `start` on the validation set, over `fit_images`
/// training images an epoch. The training loss is a mean over the epoch, so it belongs at
/// the epoch's middle; the validation loss is measured at its end.
fn curves_of(history: &History, start: &Evaluation, fit_images: usize) -> Curves {
    let images_trained = history.epochs.len() * fit_images;
    let mut curves = Curves::starting_at(start, "validation", images_trained);
    for report in &history.epochs {
        let e = report.epoch as f64;
        curves.train.push(Point {
            epoch: e + 0.5,
            loss: report.train_loss,
            accuracy: report.train_accuracy,
        });
        if let Some(loss) = report.validation_loss {
            curves.held_out.push(Point {
                epoch: e + 1.0,
                loss,
                accuracy: report.validation_accuracy,
            });
        }
    }
    curves
}
