//! Training curves and their plot: the loss and the accuracy against the passes over the
//! training set, on the training images and on held-out ones.
//!
//! Drawn on the examples' [`crate::plot::Canvas`]. A file of its own beside `plot.rs`
//! rather than inside it: every example that plots includes `plot.rs`, and the examples
//! that draw no curves would carry this code unused.

use std::error::Error;
use std::path::Path;

use nn::train::Evaluation;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::plot::Canvas;

/// One point of a training curve; `epoch` counts passes over the training set, so it is
/// fractional inside a pass.
pub struct Point {
    pub epoch: f64,
    pub loss: f64,
    /// The fraction of correct predictions, when it was measured.
    pub accuracy: Option<f64>,
}

/// What `--plot` draws: the training loss (and accuracy) as it went, and the loss and
/// accuracy on held-out images at the end of each stretch of training.
pub struct Curves {
    pub train: Vec<Point>,
    pub held_out: Vec<Point>,
    /// `"test"` or `"validation"`: which images `held_out` was measured on.
    pub held_out_name: &'static str,
    /// Number of training images seen, counting each pass.
    pub images_trained: usize,
}

impl Curves {
    /// Curves with no training yet: `start` is the evaluation of the held-out images
    /// before training.
    pub fn starting_at(
        start: &Evaluation,
        held_out_name: &'static str,
        images_trained: usize,
    ) -> Self {
        Curves {
            train: Vec::new(),
            held_out: vec![Point {
                epoch: 0.0,
                loss: start.loss,
                accuracy: start.accuracy,
            }],
            held_out_name,
            images_trained,
        }
    }

    /// Every point, training and held-out.
    fn points(&self) -> impl Iterator<Item = &Point> {
        self.held_out.iter().chain(&self.train)
    }
}

/// The colours of the two kinds of curve, on both panels.
const HELD_OUT_COLOR: RGBColor = RGBColor(214, 39, 40);
const TRAIN_COLOR: RGBColor = RGBColor(31, 119, 180);

/// `--plot`: the loss (left) and the accuracy (right) against the passes over the training
/// set, written to `path` as a PNG image.
pub fn plot_curves(path: &Path, title: &str, curves: &Curves) -> Result<(), Box<dyn Error>> {
    let root = Canvas::new(path, (1200, 520))?.into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 26))?;
    let (left, right) = root.split_horizontally(600);
    let last_epoch = curves
        .points()
        .map(|p| p.epoch)
        .fold(0.0, f64::max)
        .max(0.1);
    draw_loss(&left, curves, last_epoch)?;
    draw_accuracy(&right, curves, last_epoch)?;
    root.present()
        .map_err(|e| format!("{}: cannot write the plot: {e}", path.display()))?;
    Ok(())
}

/// The loss panel, on a logarithmic scale, as the loss falls fast at first and slowly
/// later: it draws `log10(loss)` and labels the axis with the loss itself.
fn draw_loss(
    area: &DrawingArea<Canvas<'_>, Shift>,
    curves: &Curves,
    last_epoch: f64,
) -> Result<(), Box<dyn Error>> {
    let (low, high) = log_loss_range(curves);
    let mut chart = ChartBuilder::on(area)
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
            TRAIN_COLOR,
        ),
        (curves.held_out_name, &curves.held_out, HELD_OUT_COLOR),
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
    Ok(())
}

/// The range of `log10(loss)` over every point, padded by 5% on each side.
fn log_loss_range(curves: &Curves) -> (f64, f64) {
    let log_losses = || curves.points().map(|p| p.loss.log10());
    let low = log_losses().fold(f64::INFINITY, f64::min);
    let high = log_losses().fold(f64::NEG_INFINITY, f64::max);
    if low.is_finite() && high.is_finite() && high > low {
        let pad = 0.05 * (high - low);
        (low - pad, high + pad)
    } else {
        (-3.0, 1.0) // degenerate curves: any sensible range
    }
}

/// The accuracy panel, in percent, where the accuracy was measured.
fn draw_accuracy(
    area: &DrawingArea<Canvas<'_>, Shift>,
    curves: &Curves,
    last_epoch: f64,
) -> Result<(), Box<dyn Error>> {
    let accuracies = |points: &[Point]| -> Vec<(f64, f64)> {
        points
            .iter()
            .filter_map(|p| p.accuracy.map(|a| (p.epoch, 100.0 * a)))
            .collect()
    };
    let mut chart = ChartBuilder::on(area)
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
            TRAIN_COLOR,
        ),
        (
            curves.held_out_name,
            accuracies(&curves.held_out),
            HELD_OUT_COLOR,
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
    Ok(())
}

/// `value` rounded to `digits` significant digits, e.g. 0.0794 to `0.079`.
fn significant(value: f64, digits: i32) -> String {
    let decimals = (digits - 1 - value.abs().log10().floor() as i32).max(0) as usize;
    format!("{value:.decimals$}")
}
