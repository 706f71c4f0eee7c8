//! Training curves: the loss (on a logarithmic axis) and the accuracy (on an axis fitted
//! to it) against the passes over the training set, from a `History` of `fit` or from
//! points a training loop of one's own recorded.

use std::path::Path;

use nn_train::History;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::canvas::{white_buffer, write_png, Canvas};
use crate::ticks::{label, linear_axis, log_axis, ticks_within, Axis};
use crate::{draw_error, Drawn, PlotError, PlotOptions, Result, PALETTE};

/// One point of a training curve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Passes over the training set so far (fractional inside a pass); at least 0.
    pub epoch: f64,
    /// The loss, positive: from 1e-300 to 1e300 (it is drawn on a logarithmic axis).
    pub loss: f64,
    /// The fraction of correct predictions (0 to 1), when it was measured.
    pub accuracy: Option<f64>,
}

/// A named training curve, e.g. the training loss or the validation loss.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Curve {
    /// The legend's name of the curve.
    pub name: String,
    /// The points, in the order to join them.
    pub points: Vec<Point>,
}

impl Curve {
    /// The curves of a `nn_train::History`: the training loss and accuracy of each epoch (means
    /// over the epoch, so drawn at its middle, epoch `e` at `e + 0.5`), and the validation
    /// loss and accuracy measured at each epoch's end (at `e + 1`) when there was a
    /// validation set.
    pub fn from_history(history: &History) -> Vec<Curve> {
        let train = Curve {
            name: "training (mean over the epoch)".into(),
            points: (history.epochs.iter())
                .map(|r| Point {
                    epoch: r.epoch as f64 + 0.5,
                    loss: r.train_loss,
                    accuracy: r.train_accuracy,
                })
                .collect(),
        };
        let validation = Curve {
            name: "validation".into(),
            points: (history.epochs.iter())
                .filter_map(|r| {
                    r.validation_loss.map(|loss| Point {
                        epoch: r.epoch as f64 + 1.0,
                        loss,
                        accuracy: r.validation_accuracy,
                    })
                })
                .collect(),
        };
        [train, validation]
            .into_iter()
            .filter(|c| !c.points.is_empty())
            .collect()
    }
}

/// Plots the loss and accuracy curves of a `fit` run ([`Curve::from_history`]) to the
/// PNG file `path`; see [`plot_curves`].
///
/// # Errors
/// [`PlotError::Empty`] for a history without epochs; otherwise as [`plot_curves`].
pub fn plot_history(
    history: &History,
    path: impl AsRef<Path>,
    options: &PlotOptions,
) -> Result<()> {
    if history.epochs.is_empty() {
        return Err(PlotError::Empty { what: "history" });
    }
    plot_curves(&Curve::from_history(history), path, options)
}

/// Plots `curves` to the PNG file `path`: the loss against the epoch on the left, on a
/// logarithmic axis with ticks at 1-2-5 values (…, 0.2, 0.5, 1, 2, …) that enclose every
/// loss, the lowest included; on the right, where some point has an accuracy, the
/// accuracy in percent on an axis fitted to the measured values (82–93%, say, not
/// 0–100%). Epoch ticks are whole numbers from two passes on. The legend is a row above
/// the panels, so that it hides no curve.
///
/// Defaults: title "training curves", 1200 × 520 pixels.
///
/// # Errors
/// [`PlotError::Empty`] if no curve has a point; [`PlotError::InvalidValue`] for an
/// epoch that is negative or not finite, a loss outside 1e-300 to 1e300 (zero, negative,
/// NaN: what a logarithmic axis cannot show), or an accuracy outside 0 to 1;
/// [`PlotError::InvalidSize`] for a side outside 400 to 8192 pixels; [`PlotError::Write`]
/// if the file cannot be written.
pub fn plot_curves(curves: &[Curve], path: impl AsRef<Path>, options: &PlotOptions) -> Result<()> {
    let path = path.as_ref();
    let size = options.size.unwrap_or((1200, 520));
    let mut buffer = white_buffer(size)?;
    draw_curves(&mut buffer, size, curves, options).map_err(|e| draw_error(path, e))?;
    write_png(path, &buffer, size)
}

/// Checks the curves' values: see [`plot_curves`].
fn check(curves: &[Curve]) -> Result<()> {
    if curves.iter().all(|c| c.points.is_empty()) {
        return Err(PlotError::Empty { what: "curves" });
    }
    for curve in curves {
        for (index, p) in curve.points.iter().enumerate() {
            let invalid = |what, value| PlotError::InvalidValue {
                curve: curve.name.clone(),
                index,
                what,
                value,
            };
            if !(p.epoch.is_finite() && p.epoch >= 0.0) {
                return Err(invalid("epoch", p.epoch));
            }
            if !(1e-300..=1e300).contains(&p.loss) {
                return Err(invalid("loss", p.loss));
            }
            if let Some(a) = p.accuracy.filter(|a| !(0.0..=1.0).contains(a)) {
                return Err(invalid("accuracy", a));
            }
        }
    }
    Ok(())
}

/// Draws the curves on a `size` canvas over `buffer` (white), after checking them.
pub(crate) fn draw_curves(
    buffer: &mut [u8],
    size: (u32, u32),
    curves: &[Curve],
    options: &PlotOptions,
) -> Drawn {
    check(curves)?;
    let root = Canvas::new(buffer, size)?.into_drawing_area();
    let title = options.title.as_deref().unwrap_or("training curves");
    let root = root.titled(title, ("sans-serif", 24))?;
    let (legend, panels) = root.split_vertically(34);
    draw_legend(&legend, curves)?;

    let last_epoch = (curves.iter().flat_map(|c| &c.points))
        .map(|p| p.epoch)
        .fold(0.0, f64::max);
    let epochs = epoch_axis(last_epoch);
    let has_accuracy = curves
        .iter()
        .any(|c| c.points.iter().any(|p| p.accuracy.is_some()));
    if has_accuracy {
        let (left, right) = panels.split_horizontally(size.0 / 2);
        draw_loss(&left, curves, &epochs)?;
        draw_accuracy(&right, curves, &epochs)?;
    } else {
        draw_loss(&panels, curves, &epochs)?;
    }
    root.present()?;
    Ok(())
}

/// The epoch axis for points up to `last_epoch`: from 0 to the last epoch, rounded up to a
/// whole epoch from two passes on, then 2% more so that the last point is not cut by the
/// frame; ticks at whole epochs from two passes on, at tenths (0.2, 0.4, …) before.
fn epoch_axis(last_epoch: f64) -> Axis {
    let (end, min_step) = match last_epoch {
        e if e >= 2.0 => (e.ceil(), 1.0),
        e if e > 0.0 => (e, 0.0),
        _ => (1.0, 0.0),
    };
    Axis {
        range: 0.0..1.02 * end,
        ticks: ticks_within(0.0, end, 10, min_step),
    }
}

/// The legend: one entry per curve (a short line of its colour and its name), centred in
/// a row of its own.
fn draw_legend(area: &DrawingArea<Canvas<'_>, Shift>, curves: &[Curve]) -> Drawn {
    let font = TextStyle::from(("sans-serif", 16).into_font());
    let (line, gap, space) = (28, 8, 36);
    let widths: Vec<i32> = curves
        .iter()
        .map(|c| {
            let (w, _) = area.estimate_text_size(&c.name, &font)?;
            Ok(line + gap + w as i32)
        })
        .collect::<std::result::Result<_, DrawingAreaErrorKind<_>>>()?;
    let total: i32 = widths.iter().sum::<i32>() + space * (widths.len() as i32 - 1).max(0);
    let (width, height) = area.dim_in_pixel();
    let (mut x, y) = ((width as i32 - total) / 2, height as i32 / 2);
    for (i, (curve, w)) in curves.iter().zip(&widths).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        area.draw(&PathElement::new(
            [(x, y), (x + line, y)],
            color.stroke_width(3),
        ))?;
        let style = font.pos(Pos::new(HPos::Left, VPos::Center));
        area.draw_text(&curve.name, &style, (x + line + gap, y))?;
        x += w + space;
    }
    Ok(())
}

/// The loss panel: `log10(loss)` drawn, the axis labelled with the loss itself.
fn draw_loss(area: &DrawingArea<Canvas<'_>, Shift>, curves: &[Curve], epochs: &Axis) -> Drawn {
    let losses = || curves.iter().flat_map(|c| &c.points).map(|p| p.loss);
    let axis = log_axis(
        losses().fold(f64::INFINITY, f64::min),
        losses().fold(0.0, f64::max),
    );
    let log_ticks: Vec<f64> = axis.ticks.iter().map(|t| t.log10()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption("loss", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(
            epochs.clone(),
            Axis {
                range: axis.range,
                ticks: log_ticks,
            },
        )?;
    chart
        .configure_mesh()
        .x_desc("epoch (passes over the training set)")
        .y_desc("loss (log scale)")
        .x_label_formatter(&|v| label(*v))
        .y_label_formatter(&|v| label(10f64.powf(*v)))
        .bold_line_style(BLACK.mix(0.12))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()?;
    for (i, curve) in curves.iter().enumerate() {
        let points: Vec<(f64, f64)> = curve
            .points
            .iter()
            .map(|p| (p.epoch, p.loss.log10()))
            .collect();
        draw_series(&mut chart, points, PALETTE[i % PALETTE.len()])?;
    }
    Ok(())
}

/// The accuracy panel, in percent, on an axis fitted to the measured accuracies.
fn draw_accuracy(area: &DrawingArea<Canvas<'_>, Shift>, curves: &[Curve], epochs: &Axis) -> Drawn {
    let percents = |c: &Curve| -> Vec<(f64, f64)> {
        (c.points.iter())
            .filter_map(|p| p.accuracy.map(|a| (p.epoch, 100.0 * a)))
            .collect()
    };
    let all: Vec<f64> = curves.iter().flat_map(percents).map(|(_, a)| a).collect();
    let (min, max) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &a| {
            (lo.min(a), hi.max(a))
        });
    let axis = linear_axis(min, max, 0.0..100.0, 8, 0.0);
    let mut chart = ChartBuilder::on(area)
        .caption("accuracy", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(epochs.clone(), axis)?;
    chart
        .configure_mesh()
        .x_desc("epoch (passes over the training set)")
        .y_desc("% correct")
        .x_label_formatter(&|v| label(*v))
        .y_label_formatter(&|v| label(*v))
        .bold_line_style(BLACK.mix(0.12))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()?;
    for (i, curve) in curves.iter().enumerate() {
        draw_series(&mut chart, percents(curve), PALETTE[i % PALETTE.len()])?;
    }
    Ok(())
}

/// A curve: a line through its points, and a dot on each when there are few enough to
/// tell apart (a single epoch is then a visible dot, not an invisible line).
fn draw_series<'a, X, Y>(
    chart: &mut ChartContext<'a, Canvas<'a>, Cartesian2d<X, Y>>,
    points: Vec<(f64, f64)>,
    color: RGBColor,
) -> Drawn
where
    X: plotters::coord::ranged1d::Ranged<ValueType = f64>,
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    if points.len() <= 30 {
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_train::EpochReport;

    fn report(epoch: usize, loss: f64, accuracy: f64) -> EpochReport {
        EpochReport {
            epoch,
            learning_rate: 0.1,
            train_loss: loss,
            train_accuracy: Some(accuracy),
            validation_loss: Some(loss * 1.1),
            validation_accuracy: Some(accuracy - 0.01),
            seconds: 0.5,
        }
    }

    fn history() -> History {
        History {
            epochs: (0..10)
                .map(|e| report(e, 0.6 / (1.0 + e as f64), 0.82 + 0.011 * e as f64))
                .collect(),
            best_epoch: None,
            stopped_early: false,
        }
    }

    #[test]
    fn a_history_gives_training_points_mid_epoch_and_validation_points_at_its_end() {
        let curves = Curve::from_history(&history());
        assert_eq!(curves.len(), 2);
        assert_eq!(curves[0].points[2].epoch, 2.5);
        assert_eq!(curves[0].points[2].loss, 0.6 / 3.0);
        assert_eq!(curves[1].points[2].epoch, 3.0);
        assert_eq!(curves[1].name, "validation");
        // Without a validation set, one curve.
        let mut h = history();
        h.epochs.iter_mut().for_each(|r| r.validation_loss = None);
        assert_eq!(Curve::from_history(&h).len(), 1);
    }

    #[test]
    fn the_epoch_axis_ends_on_a_whole_epoch_past_the_last_point() {
        // 200 epochs of training points, the last at 199.5: the tick 200 is shown.
        let axis = epoch_axis(199.5);
        assert_eq!(*axis.ticks.last().unwrap(), 200.0);
        assert!(axis.range.end > 200.0);
        assert!(axis.ticks.iter().all(|t| t.fract() == 0.0));
        // One pass: tenths.
        assert_eq!(epoch_axis(1.0).ticks[1], 0.2);
        assert_eq!(epoch_axis(0.0).range, 0.0..1.02);
    }

    #[test]
    fn writes_a_png_of_the_requested_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.png");
        let options = PlotOptions {
            size: Some((640, 400)),
            ..PlotOptions::default()
        };
        plot_history(&history(), &path, &options).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // The IHDR chunk: width and height, big-endian.
        assert_eq!(&bytes[16..24], [0, 0, 2, 128, 0, 0, 1, 144]);
    }

    #[test]
    fn refuses_what_it_cannot_draw_with_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.png");
        let options = PlotOptions::default();
        let empty = plot_history(&History::default(), &path, &options);
        assert!(matches!(empty, Err(PlotError::Empty { what: "history" })));
        let mut h = history();
        h.epochs[3].train_loss = f64::NAN;
        let error = plot_history(&h, &path, &options).unwrap_err();
        assert!(
            matches!(
                &error,
                PlotError::InvalidValue {
                    index: 3,
                    what: "loss",
                    ..
                }
            ),
            "{error}"
        );
        let zero = [Curve {
            name: "test".into(),
            points: vec![Point {
                epoch: 0.0,
                loss: 0.0,
                accuracy: None,
            }],
        }];
        assert!(plot_curves(&zero, &path, &options).is_err());
        let small = PlotOptions {
            size: Some((399, 10)),
            ..PlotOptions::default()
        };
        assert!(matches!(
            plot_history(&history(), &path, &small),
            Err(PlotError::InvalidSize {
                width: 399,
                height: 10
            })
        ));
        assert!(!path.exists(), "nothing is written on an error");
        // The smallest image: drawn, or an error, never a panic.
        let smallest = PlotOptions {
            size: Some((400, 400)),
            ..PlotOptions::default()
        };
        let _ = plot_history(&history(), dir.path().join("small.png"), &smallest);

        // A directory that does not exist: the error names the file.
        let missing = dir.path().join("no such directory").join("curves.png");
        let error = plot_history(&history(), &missing, &options).unwrap_err();
        assert!(matches!(error, PlotError::Write { .. }));
        assert!(error.to_string().contains("no such directory"), "{error}");
    }
}
