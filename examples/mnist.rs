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
//! The output ends with `test accuracy: <before>% -> <after>%`. With `--load FILE` the
//! example evaluates a saved network instead of training one, and its last line is
//! `test accuracy: <accuracy>%`.
//!
//! ```text
//! cargo run --release --example mnist -- [--config mse|sigmoid|cross-entropy|small|modern]
//!     [--optimizer adam|sgd] [--epochs N] [--batch-size N] [--learning-rate LR]
//!     [--data DIR] [--limit N] [--seed N] [--save FILE] [--plot FILE.png]
//!     [--min-accuracy PERCENT]
//! cargo run --release --example mnist -- --load FILE [--config NAME] [--data DIR]
//! ```

use std::error::Error;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::ProgressBar;
use nn::prelude::*;
use nn::rand::{rngs::StdRng, SeedableRng};
use nn::train::{Adam, EarlyStopping, FitOptions, History, Progress, Samples, Schedule};
use nn_data::Dataset;
use plotters::prelude::*;

#[path = "common/cli.rs"]
mod cli;
#[path = "common/data.rs"]
mod data;
#[path = "common/destination.rs"]
mod destination;
#[path = "common/plot.rs"]
mod plot;
#[path = "common/progress.rs"]
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
    let options = parse_args()?;
    // Check where the outputs go now, rather than after minutes of training.
    if let Some(path) = &options.plot {
        plot::check_png_path(path)?;
    }
    if let Some(path) = &options.save {
        destination::check_writable(path, "--save")?;
    }
    if let Some(path) = &options.load {
        return evaluate_saved(path, &options);
    }

    let config = options.config.unwrap_or(Config::Mse);
    let optimizer = options.optimizer.unwrap_or(OptimizerKind::Adam);
    let learning_rate = options
        .learning_rate
        .unwrap_or_else(|| config.default_learning_rate(optimizer));
    let epochs = options.epochs.unwrap_or(config.default_epochs());
    let batch_size = options.batch_size.unwrap_or(128); // modern only
    let mut rng = StdRng::seed_from_u64(options.seed);

    // Step 1: the data. Pixels are 0..=255; every configuration but the first article's
    // divides them by 255, which keeps the first layer's outputs, and so its gradients, of
    // a sensible size.
    let (train, test) = data::load(&options.data, options.limit)?;
    let (train, test) = (
        train.scaled(config.input_scale()),
        test.scaled(config.input_scale()),
    );
    let test_set = Samples::new(test.inputs().view(), Target::Classes(test.labels()))?;

    // Step 2: the network, drawn from the seeded generator.
    let mut net = config.build(learning_rate, optimizer, &mut rng)?;
    println!(
        "config {}: {}, {} parameters",
        config.name(),
        signature(&net),
        net.parameter_count()
    );
    if config == Config::Modern {
        println!(
            "{} at learning rate {learning_rate}, shuffled batches of {batch_size}, at most {epochs} epoch{}",
            optimizer.describe(),
            if epochs == 1 { "" } else { "s" }
        );
    } else {
        println!(
            "plain SGD at learning rate {learning_rate}, one image per step, {epochs} ordered pass{}",
            if epochs == 1 { "" } else { "es" }
        );
    }
    println!(
        "data {}: {} training images, {} test images",
        options.data.display(),
        train.len(),
        test.len()
    );

    // Step 3: the accuracy before training: about 10%, a guess among 10 classes.
    let before = net.evaluate(test_set, EVAL_BATCH)?;
    let before_accuracy = before.accuracy.unwrap_or_default(); // class targets: always Some
    println!(
        "test accuracy before training: {:.2}%",
        100.0 * before_accuracy
    );

    // Step 4: training, image by image as the articles do, or in mini-batches.
    let (curves, seconds) = if config == Config::Modern {
        train_modern(&mut net, &train, epochs, batch_size, &mut rng)?
    } else {
        train_per_sample(&mut net, &train, test_set, epochs)?
    };

    // Step 5: the accuracy after training, on test images the network has never seen.
    let after = net.evaluate(test_set, EVAL_BATCH)?;
    let after_accuracy = after.accuracy.unwrap_or_default();

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
        plot_curves(path, &title, &curves)?;
        println!("plotted the curves to {}", path.display());
    }
    println!(
        "training time: {seconds:.2} s ({:.1} µs per image and pass)",
        1e6 * seconds / curves.images_trained as f64
    );
    println!(
        "test accuracy: {:.2}% -> {:.2}%",
        100.0 * before_accuracy,
        100.0 * after_accuracy
    );
    check_min_accuracy(after_accuracy, options.min_accuracy)
}

/// `--load FILE`: evaluates a saved network on the test set.
fn evaluate_saved(path: &Path, options: &Options) -> Result<(), Box<dyn Error>> {
    let net = NeuralNetwork::<f32>::load(path)?;
    // The file holds the layers and the loss, not how the inputs were scaled: that is part
    // of the configuration. Find the configuration whose network has the same shape,
    // activations and loss; --config is needed only for a network of none of them.
    let config = match (Config::of(&net)?, options.config) {
        (Some(found), Some(given)) if found != given => {
            return Err(format!(
                "{}: the file holds a network of config {}, not {}",
                path.display(),
                found.name(),
                given.name()
            )
            .into())
        }
        (Some(config), _) | (None, Some(config)) => config,
        (None, None) => {
            return Err(format!(
                "{}: a {} network is none of this example's configurations; pass --config \
                 to say how to scale its inputs",
                path.display(),
                signature(&net)
            )
            .into())
        }
    };
    let (_, test) = data::load(&options.data, None)?;
    let test = test.scaled(config.input_scale());
    let test_set = Samples::new(test.inputs().view(), Target::Classes(test.labels()))?;
    println!(
        "loaded {}: {}, {} parameters, inputs scaled as config {}",
        path.display(),
        signature(&net),
        net.parameter_count(),
        config.name()
    );
    let accuracy = net
        .evaluate(test_set, EVAL_BATCH)?
        .accuracy
        .unwrap_or_default();
    println!("test accuracy: {:.2}%", 100.0 * accuracy);
    check_min_accuracy(accuracy, options.min_accuracy)
}

/// A percentage for `flag`: finite and within `0..=100` (NaN would silently pass every
/// comparison, and values outside the range cannot be reached or missed).
fn percent(value: f64, flag: &str) -> Result<f64, String> {
    if (0.0..=100.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{flag}: {value} is not a percentage from 0 to 100"))
    }
}

/// `--min-accuracy P`: fails (exit status 1) when the test accuracy is below `P`%.
fn check_min_accuracy(accuracy: f64, min: Option<f64>) -> Result<(), Box<dyn Error>> {
    match min {
        Some(min) if 100.0 * accuracy < min => Err(format!(
            "the test accuracy {:.2}% is below --min-accuracy {min}%",
            100.0 * accuracy
        )
        .into()),
        _ => Ok(()),
    }
}

/// One point of a training curve; `epoch` counts passes over the training set, so it is
/// fractional inside a pass.
struct Point {
    epoch: f64,
    loss: f64,
    /// The fraction of correct predictions, when it was measured.
    accuracy: Option<f64>,
}

/// What `--plot` draws: the training loss (and accuracy) as it went, and the loss and
/// accuracy on held-out images at the end of each stretch of training.
struct Curves {
    train: Vec<Point>,
    held_out: Vec<Point>,
    /// `"test"` or `"validation"`: which images `held_out` was measured on.
    held_out_name: &'static str,
    /// Number of training images seen, counting each pass.
    images_trained: usize,
}

/// The article's training: one SGD step per image, the images in the file's order, `epochs`
/// times over. Every tenth of a pass, the test set is evaluated (outside the timed part) to
/// show how learning goes. Returns the curves and the seconds spent in training steps.
fn train_per_sample(
    net: &mut NeuralNetwork<f32>,
    train: &Dataset<f32>,
    test: Samples<'_, f32>,
    epochs: usize,
) -> Result<(Curves, f64), Box<dyn Error>> {
    let (inputs, labels, n) = (train.inputs(), train.labels(), train.len());
    let stretch = n.div_ceil(10).max(1);
    let start = net.evaluate(test, EVAL_BATCH)?;
    let mut curves = Curves {
        train: Vec::new(),
        held_out: vec![Point {
            epoch: 0.0,
            loss: start.loss,
            accuracy: start.accuracy,
        }],
        held_out_name: "test",
        images_trained: epochs * n,
    };
    let bar = progress::bar((epochs * n) as u64, "images");
    let mut seconds = 0.0;
    for epoch in 0..epochs {
        for first in (0..n).step_by(stretch) {
            let end = (first + stretch).min(n);
            let started = Instant::now();
            let mut loss_sum = 0.0;
            for j in first..end {
                // Image j as a column (784, 1) and its class: one step of the article's
                // `train(x, t)`: forward, backpropagate, `W -= lr·dW`, `b -= lr·db`. It
                // returns the loss before the step.
                let x = inputs.slice(s![.., j..j + 1]);
                let loss = net.train(x, Target::Classes(&labels[j..j + 1]))?;
                loss_sum += f64::from(loss);
            }
            seconds += started.elapsed().as_secs_f64();
            bar.inc((end - first) as u64);

            // The mean loss over the stretch belongs at its middle.
            let mean_loss = loss_sum / (end - first) as f64;
            curves.train.push(Point {
                epoch: epoch as f64 + (first + end) as f64 / (2 * n) as f64,
                loss: mean_loss,
                accuracy: None,
            });
            let now = net.evaluate(test, EVAL_BATCH)?;
            let accuracy = now.accuracy.unwrap_or_default();
            curves.held_out.push(Point {
                epoch: epoch as f64 + end as f64 / n as f64,
                loss: now.loss,
                accuracy: now.accuracy,
            });
            bar.set_message(format!("test accuracy {:.1}%", 100.0 * accuracy));
            bar.suspend(|| {
                println!(
                    "pass {}, {end:>5} images: training loss {mean_loss:.4}, test loss {:.4}, test accuracy {:.2}%",
                    epoch + 1,
                    now.loss,
                    100.0 * accuracy
                )
            });
        }
    }
    bar.finish_and_clear();
    Ok((curves, seconds))
}

/// The modern training: `NeuralNetwork::fit` on shuffled mini-batches, with a validation
/// set held out of the training images and early stopping. Returns the curves and the
/// seconds spent in training steps.
fn train_modern(
    net: &mut NeuralNetwork<f32>,
    train: &Dataset<f32>,
    epochs: usize,
    batch_size: usize,
    rng: &mut StdRng,
) -> Result<(Curves, f64), Box<dyn Error>> {
    // Hold out 1/12 of the training images, drawn with the seed, to decide when to stop.
    let (fit_set, validation) = train.split(train.len() / 12, rng)?;
    if validation.is_empty() {
        return Err("config modern needs at least 12 training images (--limit)".into());
    }
    println!(
        "fitting on {} images, validating on {}",
        fit_set.len(),
        validation.len()
    );
    let fit_samples = Samples::new(fit_set.inputs().view(), Target::Classes(fit_set.labels()))?;
    let validation_samples = Samples::new(
        validation.inputs().view(),
        Target::Classes(validation.labels()),
    )?;
    let start = net.evaluate(validation_samples, EVAL_BATCH)?;

    let options = FitOptions {
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
    };
    let batches = fit_set.len().div_ceil(batch_size.min(fit_set.len()));
    let bar = progress::bar((epochs * batches) as u64, "batches");
    let history = net.fit(
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

    // Curves: the training loss is a mean over the epoch, so it belongs at the epoch's
    // middle; the validation loss is measured at its end.
    let mut curves = Curves {
        train: Vec::new(),
        held_out: vec![Point {
            epoch: 0.0,
            loss: start.loss,
            accuracy: start.accuracy,
        }],
        held_out_name: "validation",
        images_trained: history.epochs.len() * fit_set.len(),
    };
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
    let seconds = history.epochs.iter().map(|r| r.seconds).sum();
    Ok((curves, seconds))
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

/// `--plot`: the loss (left) and the accuracy (right) against the passes over the training
/// set.
fn plot_curves(path: &Path, title: &str, curves: &Curves) -> Result<(), Box<dyn Error>> {
    let root = plot::Canvas::new(path, (1200, 520))?.into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 26))?;
    let (left, right) = root.split_horizontally(600);
    let last_epoch = curves
        .held_out
        .iter()
        .chain(&curves.train)
        .map(|p| p.epoch)
        .fold(0.0, f64::max)
        .max(0.1);
    let held_out_color = RGBColor(214, 39, 40);
    let train_color = RGBColor(31, 119, 180);

    // Left: the loss, on a logarithmic scale, as it falls fast at first and slowly later:
    // we draw log10(loss) and label the axis with the loss itself.
    let log_losses = || {
        curves
            .held_out
            .iter()
            .chain(&curves.train)
            .map(|p| p.loss.log10())
    };
    let low = log_losses().fold(f64::INFINITY, f64::min);
    let high = log_losses().fold(f64::NEG_INFINITY, f64::max);
    let (low, high) = if low.is_finite() && high.is_finite() && high > low {
        let pad = 0.05 * (high - low);
        (low - pad, high + pad)
    } else {
        (-3.0, 1.0) // degenerate curves: any sensible range
    };
    let mut chart = ChartBuilder::on(&left)
        .caption("loss", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..last_epoch, low..high)?;
    chart
        .configure_mesh()
        .x_desc("passes over the training set")
        .y_desc("loss (log scale)")
        .y_label_formatter(&|v| significant(10f64.powf(*v), 2))
        .light_line_style(WHITE)
        .draw()?;
    let series = [
        (
            "training (mean since the last point)",
            &curves.train,
            train_color,
        ),
        (curves.held_out_name, &curves.held_out, held_out_color),
    ];
    for (name, points, color) in series {
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.epoch, p.loss.log10())),
                color.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;

    // Right: the accuracy in percent, where it was measured.
    let accuracies = |points: &[Point]| -> Vec<(f64, f64)> {
        points
            .iter()
            .filter_map(|p| p.accuracy.map(|a| (p.epoch, 100.0 * a)))
            .collect()
    };
    let mut chart = ChartBuilder::on(&right)
        .caption("accuracy", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..last_epoch, 0.0..100.0)?;
    chart
        .configure_mesh()
        .x_desc("passes over the training set")
        .y_desc("% correct")
        .light_line_style(WHITE)
        .draw()?;
    let series = [
        (
            "training (during the epoch)",
            accuracies(&curves.train),
            train_color,
        ),
        (
            curves.held_out_name,
            accuracies(&curves.held_out),
            held_out_color,
        ),
    ];
    for (name, points, color) in series {
        if points.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()
        .map_err(|e| format!("{}: cannot write the plot: {e}", path.display()))?;
    Ok(())
}

/// `value` rounded to `digits` significant digits, e.g. 0.0794 to `0.079`.
fn significant(value: f64, digits: i32) -> String {
    let decimals = (digits - 1 - value.abs().log10().floor() as i32).max(0) as usize;
    format!("{value:.decimals$}")
}

/// The network's shape in one line, e.g. `784→16→16→10 (leaky_relu(0.1), …), loss mse`.
fn signature(net: &NeuralNetwork<f32>) -> String {
    let mut sizes = vec![net.ins().to_string()];
    sizes.extend(net.layers().iter().map(|l| l.outs().to_string()));
    let activations: Vec<String> = net.layers().iter().map(|l| l.activation().name()).collect();
    format!(
        "{} ({}), loss {}",
        sizes.join("→"),
        activations.join(", "),
        net.loss_function().name()
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Config {
    Mse,
    Sigmoid,
    CrossEntropy,
    Small,
    Modern,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OptimizerKind {
    Sgd,
    Adam,
}

impl OptimizerKind {
    fn describe(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "SGD with momentum 0.9",
            OptimizerKind::Adam => "Adam",
        }
    }
}

impl Config {
    const ALL: [Config; 5] = [
        Config::Mse,
        Config::Sigmoid,
        Config::CrossEntropy,
        Config::Small,
        Config::Modern,
    ];

    fn name(self) -> &'static str {
        match self {
            Config::Mse => "mse",
            Config::Sigmoid => "sigmoid",
            Config::CrossEntropy => "cross-entropy",
            Config::Small => "small",
            Config::Modern => "modern",
        }
    }

    /// The factor applied to the raw pixels: 1 in the first article, 1/255 since the
    /// "subtleties" article.
    fn input_scale(self) -> f32 {
        match self {
            Config::Mse => 1.0,
            _ => 1.0 / 255.0,
        }
    }

    fn default_learning_rate(self, optimizer: OptimizerKind) -> f32 {
        match (self, optimizer) {
            // The first MNIST article's rate, and the small network's.
            (Config::Mse | Config::Small, _) => 0.001,
            // The series' rate for this very network with cross-entropy (its teacher).
            // At 0.001 it stays at chance (10%) after one pass: from the original's tiny
            // initial weights and inputs divided by 255, the gradients of the first
            // layers are too small for so small a rate.
            (Config::CrossEntropy, _) => 0.03,
            // The articles give no rate for this one. A sigmoid's slope is at most 1/4
            // and MSE divides by the 10 outputs, so its gradients are small: after one
            // pass, 0.001 leaves it at 10%, 0.03 at 19%; of 0.1, 0.2, 0.3 and 1, 0.3
            // does best (about 80% on Fashion-MNIST, seeds 0 to 4).
            (Config::Sigmoid, _) => 0.3,
            (Config::Modern, OptimizerKind::Adam) => 1e-3,
            (Config::Modern, OptimizerKind::Sgd) => 0.01,
        }
    }

    fn default_epochs(self) -> usize {
        match self {
            Config::Modern => 10,
            _ => 1,
        }
    }

    /// The configuration's network, with its loss and optimizer.
    fn build(
        self,
        learning_rate: f32,
        optimizer: OptimizerKind,
        rng: &mut StdRng,
    ) -> nn::Result<NeuralNetwork<f32>> {
        let leaky = LeakyRelu::default; // alpha = 0.1, as the article's
        let original = Init::Original; // N(0, 1/(rows·cols)): the article's initialisation
        let layers = match self {
            // The first MNIST article: LeakyReLU everywhere, MSE against the one-hot
            // column of the class (the loss takes class targets and builds it).
            Config::Mse | Config::Sigmoid | Config::CrossEntropy => {
                let first = Dense::new(784, 16, leaky(), original, rng)?;
                let second = Dense::new(16, 16, leaky(), original, rng)?;
                let last = match self {
                    // "Subtleties": a sigmoid keeps the outputs in (0, 1), like the one-hot
                    // targets.
                    Config::Sigmoid => Dense::new(16, 10, Sigmoid, original, rng)?,
                    // The series keeps LeakyReLU on the last layer with cross-entropy too
                    // (as for its teacher network); `modern` drops it.
                    _ => Dense::new(16, 10, leaky(), original, rng)?,
                };
                vec![first, second, last]
            }
            Config::Small => vec![Dense::new(784, 10, leaky(), original, rng)?],
            Config::Modern => vec![
                Dense::new(784, 256, Relu, Init::HeNormal, rng)?,
                Dense::new(256, 128, Relu, Init::HeNormal, rng)?,
                // No activation: the outputs are logits, which cross-entropy turns into
                // probabilities with a softmax.
                Dense::new(128, 10, Identity, Init::XavierNormal, rng)?,
            ],
        };
        let mut net = match self {
            Config::Mse | Config::Sigmoid => NeuralNetwork::new(layers, Mse, learning_rate)?,
            _ => NeuralNetwork::new(layers, CrossEntropy, learning_rate)?,
        };
        if self == Config::Modern {
            match optimizer {
                OptimizerKind::Sgd => {
                    net.set_optimizer(Sgd::new(learning_rate)?.with_momentum(0.9)?)
                }
                OptimizerKind::Adam => net.set_optimizer(Adam::new(learning_rate)?),
            }
        }
        Ok(net)
    }

    /// The configuration whose network has the shape, activations and loss of `net`.
    fn of(net: &NeuralNetwork<f32>) -> nn::Result<Option<Config>> {
        let wanted = signature(net);
        let mut rng = StdRng::seed_from_u64(0);
        for config in Config::ALL {
            let candidate = config.build(1.0, OptimizerKind::Sgd, &mut rng)?;
            if signature(&candidate) == wanted {
                return Ok(Some(config));
            }
        }
        Ok(None)
    }
}

struct Options {
    config: Option<Config>,
    optimizer: Option<OptimizerKind>,
    data: PathBuf,
    seed: u64,
    epochs: Option<usize>,
    batch_size: Option<usize>,
    learning_rate: Option<f32>,
    limit: Option<usize>,
    save: Option<PathBuf>,
    load: Option<PathBuf>,
    plot: Option<PathBuf>,
    min_accuracy: Option<f64>,
}

const USAGE: &str = "usage: mnist [--config mse|sigmoid|cross-entropy|small|modern] \
[--optimizer adam|sgd] [--epochs N] [--batch-size N] [--learning-rate LR] [--data DIR] \
[--limit N] [--seed N] [--save FILE] [--plot FILE.png] [--min-accuracy PERCENT]
       mnist --load FILE [--config NAME] [--data DIR] [--min-accuracy PERCENT]";

fn parse_args() -> Result<Options, Box<dyn Error>> {
    use lexopt::prelude::*;
    let mut options = Options {
        config: None,
        optimizer: None,
        data: PathBuf::from(data::DEFAULT_DATA),
        seed: 0,
        epochs: None,
        batch_size: None,
        learning_rate: None,
        limit: None,
        save: None,
        load: None,
        plot: None,
        min_accuracy: None,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("config") => {
                let name = parser.value()?.string()?;
                let config = Config::ALL.into_iter().find(|c| c.name() == name);
                options.config = Some(config.ok_or_else(|| {
                    format!(
                        "unknown config {name:?} (mse, sigmoid, cross-entropy, small or modern)"
                    )
                })?);
            }
            Long("optimizer") => {
                options.optimizer = Some(match parser.value()?.string()?.as_str() {
                    "adam" => OptimizerKind::Adam,
                    "sgd" => OptimizerKind::Sgd,
                    other => {
                        return Err(format!("unknown optimizer {other:?} (adam or sgd)").into())
                    }
                })
            }
            Long("data") => options.data = parser.value()?.into(),
            Long("seed") => options.seed = cli::value(&mut parser, "--seed")?,
            Long("epochs") => options.epochs = Some(cli::value(&mut parser, "--epochs")?),
            Long("batch-size") => {
                options.batch_size = Some(cli::value(&mut parser, "--batch-size")?)
            }
            Long("learning-rate") => {
                options.learning_rate = Some(cli::value(&mut parser, "--learning-rate")?)
            }
            Long("limit") => options.limit = Some(cli::value(&mut parser, "--limit")?),
            Long("save") => options.save = Some(parser.value()?.into()),
            Long("load") => options.load = Some(parser.value()?.into()),
            Long("plot") => options.plot = Some(parser.value()?.into()),
            Long("min-accuracy") => {
                let value = cli::value(&mut parser, "--min-accuracy")?;
                options.min_accuracy = Some(percent(value, "--min-accuracy")?)
            }
            Long("help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected().into()),
        }
    }

    // Flags that would be silently ignored are errors instead.
    let modern = options.config == Some(Config::Modern);
    if options.load.is_some() {
        let training_flags = [
            ("--optimizer", options.optimizer.is_some()),
            ("--epochs", options.epochs.is_some()),
            ("--batch-size", options.batch_size.is_some()),
            ("--learning-rate", options.learning_rate.is_some()),
            ("--limit", options.limit.is_some()),
            ("--save", options.save.is_some()),
            ("--plot", options.plot.is_some()),
        ];
        if let Some((flag, _)) = training_flags.iter().find(|(_, given)| *given) {
            return Err(format!("{flag} is about training, and --load trains nothing").into());
        }
    } else if !modern && options.optimizer.is_some() {
        return Err("--optimizer is for --config modern (the articles use plain SGD)".into());
    } else if !modern && options.batch_size.is_some() {
        return Err(
            "--batch-size is for --config modern (the articles train on one image per step)".into(),
        );
    }
    if options.epochs == Some(0) {
        return Err("--epochs must be at least 1".into());
    }
    if options.batch_size == Some(0) {
        return Err("--batch-size must be at least 1".into());
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_accuracy_is_a_finite_percentage() {
        assert_eq!(percent(87.5, "--min-accuracy"), Ok(87.5));
        assert_eq!(percent(0.0, "--min-accuracy"), Ok(0.0));
        assert_eq!(percent(100.0, "--min-accuracy"), Ok(100.0));
        for bad in [f64::NAN, -1.0, 100.5, f64::INFINITY] {
            let err = percent(bad, "--min-accuracy").unwrap_err();
            assert!(err.starts_with("--min-accuracy: "), "{err}");
        }
    }
}
