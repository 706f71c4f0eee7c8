//! Decision regions: for a network of two inputs, the class it predicts at every place of
//! the plane around the points, with the points in their true classes and the
//! misclassified ones crossed out.

use std::path::Path;

use ndarray::{Array2, ArrayView2};
use nn_core::Float;
use nn_train::NeuralNetwork;
use plotters::coord::CoordTranslate;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::canvas::{white_buffer, write_png, Canvas};
use crate::ticks::{label, ticks_within, Axis};
use crate::{draw_error, DrawFailure, PlotError, PlotOptions, Result, PALETTE};

/// Cells per side of the grid of predictions that paints the regions.
const GRID: usize = 160;

/// Width of the legend's column, right of the plot, in pixels (at most a third of the
/// image).
const LEGEND_WIDTH: u32 = 210;

/// Plots the decision regions of `network` to the PNG file `path`: the plane around
/// `points` (their bounding box, widened by 5% on each side) painted in a light tint of
/// the class the network predicts there (the largest output, as
/// `NeuralNetwork::predict`), each point drawn in its true class's colour and marker,
/// and the points the network gets wrong crossed out (×). The axes are named by
/// `options.axis_names`; the legend (classes by name when the network has class names,
/// then the cross) is a column right of the plot, where it hides no point; the caption
/// gives the count of misclassified points.
///
/// Defaults: title "decision regions", 820 × 640 pixels.
///
/// # Shapes
/// `points`: `(2, n)`, one point per column, raw as the network takes them (its
/// preprocessing step, if any, applies); `labels`: `n` classes.
///
/// # Errors
/// [`PlotError::NotTwoInputs`] if the network does not take 2 inputs,
/// [`PlotError::PointsShape`] if `points` has not 2 rows, [`PlotError::Empty`] for no
/// points, [`PlotError::LabelsMismatch`] if `labels` has not one class per point,
/// [`PlotError::NonFinitePoint`] for a NaN or infinite coordinate, [`PlotError::Network`]
/// if the prediction fails (non-finite outputs), [`PlotError::InvalidSize`] for a side
/// outside 400 to 8192 pixels, [`PlotError::Write`] if the file cannot be written.
pub fn plot_decision_regions<F: Float>(
    network: &NeuralNetwork<F>,
    points: ArrayView2<'_, F>,
    labels: &[usize],
    path: impl AsRef<Path>,
    options: &PlotOptions,
) -> Result<()> {
    let path = path.as_ref();
    let size = options.size.unwrap_or((820, 640));
    let mut buffer = white_buffer(size)?;
    draw_regions(&mut buffer, size, network, points, labels, options)
        .map_err(|e| draw_error(path, e))?;
    write_png(path, &buffer, size)
}

/// The mapping from the plane to the pixels of a drawn plot (for the tests).
pub(crate) type Frame = Cartesian2d<Axis, Axis>;

/// Checks the inputs: see [`plot_decision_regions`].
fn check<F: Float>(
    network: &NeuralNetwork<F>,
    points: ArrayView2<'_, F>,
    labels: &[usize],
) -> Result<()> {
    if network.ins() != 2 {
        return Err(PlotError::NotTwoInputs { ins: network.ins() });
    }
    let (rows, columns) = points.dim();
    if rows != 2 {
        return Err(PlotError::PointsShape { rows, columns });
    }
    if columns == 0 {
        return Err(PlotError::Empty { what: "points" });
    }
    if labels.len() != columns {
        return Err(PlotError::LabelsMismatch {
            labels: labels.len(),
            points: columns,
        });
    }
    if let Some(index) =
        (points.columns().into_iter()).position(|p| !p.iter().all(|v| v.is_finite()))
    {
        return Err(PlotError::NonFinitePoint { index });
    }
    Ok(())
}

/// The range of row `row` of `points`, widened by 5% of its span on each side (by 1 for a
/// single value).
fn widened_range<F: Float>(points: ArrayView2<'_, F>, row: usize) -> std::ops::Range<f64> {
    let values = || points.row(row).into_iter().map(|v| v.as_f64());
    let min = values().fold(f64::INFINITY, f64::min);
    let max = values().fold(f64::NEG_INFINITY, f64::max);
    let pad = if max > min { 0.05 * (max - min) } else { 1.0 };
    min - pad..max + pad
}

/// The class the network predicts at the centre of each cell of a `GRID × GRID` grid over
/// `x × y`: index `i + GRID·j` for the cell `i` along x and `j` along y.
fn predict_grid<F: Float>(
    network: &NeuralNetwork<F>,
    x: &std::ops::Range<f64>,
    y: &std::ops::Range<f64>,
) -> Result<Vec<usize>> {
    let centre = |r: &std::ops::Range<f64>, i: usize| {
        r.start + (r.end - r.start) * (i as f64 + 0.5) / GRID as f64
    };
    let grid = Array2::from_shape_fn((2, GRID * GRID), |(row, k)| {
        F::from_f64(match row {
            0 => centre(x, k % GRID),
            _ => centre(y, k / GRID),
        })
    });
    Ok(network.predict(grid.view())?)
}

/// The light tint of a class's colour that paints its region.
pub(crate) fn tint(class: usize) -> RGBColor {
    let RGBColor(r, g, b) = PALETTE[class % PALETTE.len()];
    let light = |c: u8| (0.3 * f64::from(c) + 0.7 * 255.0).round() as u8;
    RGBColor(light(r), light(g), light(b))
}

/// Draws the regions on a `size` canvas over `buffer` (white), after checking the inputs;
/// returns the mapping from the plane to the pixels.
pub(crate) fn draw_regions<F: Float>(
    buffer: &mut [u8],
    size: (u32, u32),
    network: &NeuralNetwork<F>,
    points: ArrayView2<'_, F>,
    labels: &[usize],
    options: &PlotOptions,
) -> std::result::Result<Frame, DrawFailure> {
    check(network, points, labels)?;
    let predicted = network.predict(points).map_err(PlotError::from)?;
    let (x, y) = (widened_range(points, 0), widened_range(points, 1));
    let regions = predict_grid(network, &x, &y)?;
    let classes = (labels.iter().chain(&regions).chain(&predicted).max())
        .map_or(network.outs(), |&c| c.saturating_add(1).max(network.outs()));
    let wrong = predicted.iter().zip(labels).filter(|(p, l)| p != l).count();

    let root = Canvas::new(buffer, size)?.into_drawing_area();
    let title = options.title.as_deref().unwrap_or("decision regions");
    let root = root.titled(title, ("sans-serif", 24))?;
    let (plot, legend) = root.split_horizontally(size.0 - LEGEND_WIDTH.min(size.0 / 3));
    let n = labels.len();
    let caption = format!(
        "{wrong} of {n} points misclassified ({:.1}% correct)",
        100.0 * (n - wrong) as f64 / n as f64
    );
    let mut chart = ChartBuilder::on(&plot)
        .caption(caption, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(60)
        .build_cartesian_2d(
            Axis {
                ticks: ticks_within(x.start, x.end, 8, 0.0),
                range: x.clone(),
            },
            Axis {
                ticks: ticks_within(y.start, y.end, 8, 0.0),
                range: y.clone(),
            },
        )?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_label_formatter(&|v| label(*v))
        .y_label_formatter(&|v| label(*v))
        .x_desc(options.axis_names[0].as_str())
        .y_desc(options.axis_names[1].as_str())
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 17))
        .draw()?;

    // The regions: one rectangle per cell of the grid.
    let (dx, dy) = (
        (x.end - x.start) / GRID as f64,
        (y.end - y.start) / GRID as f64,
    );
    chart.draw_series(regions.iter().enumerate().map(|(k, &class)| {
        let (i, j) = ((k % GRID) as f64, (k / GRID) as f64);
        let corner = (x.start + i * dx, y.start + j * dy);
        Rectangle::new(
            [corner, (corner.0 + dx, corner.1 + dy)],
            tint(class).filled(),
        )
    }))?;

    // The points, in their true classes; then a cross on each misclassified one.
    let radius = match n {
        0..=300 => 5,
        301..=3000 => 4,
        _ => 3,
    };
    let area = chart.plotting_area();
    for (p, &label) in points.columns().into_iter().zip(labels) {
        draw_marker(area, label, radius, (p[0].as_f64(), p[1].as_f64()))?;
    }
    for ((p, &label), &guess) in points.columns().into_iter().zip(labels).zip(&predicted) {
        if guess != label {
            let at = (p[0].as_f64(), p[1].as_f64());
            area.draw(&Cross::new(at, radius + 1, BLACK.stroke_width(2)))?;
        }
    }
    draw_legend(&legend, network.class_names(), classes, wrong)?;
    let frame = chart.as_coord_spec().clone();
    root.present()?;
    Ok(frame)
}

/// Draws the marker of true class `class` centred at `at`: the class's colour, outlined in
/// a darker shade of it, and a shape among four (circle, triangle, square, diamond) so
/// that classes differ in more than colour.
fn draw_marker<CT: CoordTranslate>(
    area: &DrawingArea<Canvas<'_>, CT>,
    class: usize,
    radius: i32,
    at: CT::From,
) -> std::result::Result<(), DrawFailure>
where
    CT::From: Clone,
{
    let RGBColor(r, g, b) = PALETTE[class % PALETTE.len()];
    let (fill, edge) = (RGBColor(r, g, b).filled(), RGBColor(r / 2, g / 2, b / 2));
    let s = radius;
    let vertices: Vec<(i32, i32)> = match class % 4 {
        0 => {
            area.draw(&Circle::new(at.clone(), s, fill))?;
            area.draw(&Circle::new(at, s, edge.stroke_width(1)))?;
            return Ok(());
        }
        1 => vec![(0, -s - 1), (s + 1, s), (-s - 1, s)],
        2 => vec![(-s, -s), (s, -s), (s, s), (-s, s)],
        _ => vec![(0, -s - 1), (s + 1, 0), (0, s + 1), (-s - 1, 0)],
    };
    let closed: Vec<(i32, i32)> = vertices.iter().chain(&vertices[..1]).copied().collect();
    area.draw(&(EmptyElement::at(at.clone()) + Polygon::new(vertices, fill)))?;
    area.draw(&(EmptyElement::at(at) + PathElement::new(closed, edge.stroke_width(1))))?;
    Ok(())
}

/// The legend, in its column: for each class, its region's tint with its marker and its
/// name; then the cross of the misclassified points.
fn draw_legend(
    area: &DrawingArea<Canvas<'_>, plotters::coord::Shift>,
    names: Option<&[String]>,
    classes: usize,
    wrong: usize,
) -> std::result::Result<(), DrawFailure> {
    let style = ("sans-serif", 15)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let (x, mut y, row) = (16, 70, 30);
    area.draw_text("class (marker: true,", &style, (x, y - 36))?;
    area.draw_text("background: predicted)", &style, (x, y - 16))?;
    // As many classes as the column has room for, the last row for the cross.
    let (_, height) = area.dim_in_pixel();
    let rows = ((height as i32 - y - row) / row).max(0) as usize;
    for class in 0..classes {
        y += row;
        if class + 1 == rows && classes > rows {
            area.draw_text(&format!("… {classes} classes"), &style, (x, y))?;
            break;
        }
        let name = names
            .and_then(|names| names.get(class).cloned())
            .unwrap_or_else(|| format!("class {class}"));
        area.draw(&Rectangle::new(
            [(x, y - 12), (x + 24, y + 12)],
            tint(class).filled(),
        ))?;
        draw_marker(area, class, 5, (x + 12, y))?;
        area.draw_text(&name, &style, (x + 36, y))?;
    }
    y += row;
    area.draw(&Cross::new((x + 12, y), 6, BLACK.stroke_width(2)))?;
    area.draw_text(&format!("misclassified ({wrong})"), &style, (x + 36, y))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use nn_layers::{Dense, Identity};
    use nn_loss::CrossEntropy;

    /// A network whose output is `(x₁, -x₁)`: class 0 right of the x₂ axis, class 1 left
    /// of it.
    fn left_right() -> NeuralNetwork<f64> {
        let layer = Dense::from_parameters(
            array![[1.0, 0.0], [-1.0, 0.0]],
            Array2::zeros((2, 1)),
            Box::new(Identity),
        )
        .unwrap();
        NeuralNetwork::new(vec![layer], CrossEntropy, 0.1).unwrap()
    }

    /// Four points at (±1, ±1); the one at (1, -1) is labelled 1 but lies in the region of
    /// class 0.
    fn corners() -> (Array2<f64>, Vec<usize>) {
        (
            array![[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0]],
            vec![0, 1, 1, 1],
        )
    }

    /// The colour of the pixel at `at` in the plane, in a drawn `buffer` of `size`.
    fn pixel(buffer: &[u8], size: (u32, u32), frame: &Frame, at: (f64, f64)) -> RGBColor {
        let (x, y) = frame.translate(&at);
        let i = 3 * (y as usize * size.0 as usize + x as usize);
        RGBColor(buffer[i], buffer[i + 1], buffer[i + 2])
    }

    #[test]
    fn paints_the_predicted_regions_the_true_classes_and_crosses_the_mistakes() {
        let (points, labels) = corners();
        let size = (820, 640);
        let mut buffer = white_buffer(size).unwrap();
        let frame = draw_regions(
            &mut buffer,
            size,
            &left_right(),
            points.view(),
            &labels,
            &PlotOptions::default(),
        )
        .ok()
        .unwrap();
        let at = |x, y| pixel(&buffer, size, &frame, (x, y));
        // The regions, away from the points: class 0 right, class 1 left.
        assert_eq!(at(0.5, 0.0), tint(0));
        assert_eq!(at(-0.5, 0.0), tint(1));
        assert_eq!(at(1.05, 0.5), tint(0));
        assert_eq!(at(-1.05, -0.5), tint(1));
        // The points in their true classes' colours, the misclassified one under a cross.
        assert_eq!(at(1.0, 1.0), PALETTE[0]);
        assert_eq!(at(-1.0, 1.0), PALETTE[1]);
        assert_eq!(at(-1.0, -1.0), PALETTE[1]);
        assert_eq!(at(1.0, -1.0), BLACK);
    }

    #[test]
    fn refuses_inputs_that_do_not_fit_with_an_error() {
        let (points, labels) = corners();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("regions.png");
        let options = PlotOptions::default();
        let plot = |net: &NeuralNetwork<f64>, points: ArrayView2<'_, f64>, labels: &[usize]| {
            plot_decision_regions(net, points, labels, &path, &options)
        };
        let three = NeuralNetwork::<f64>::builder(3)
            .dense(2, Identity)
            .loss(CrossEntropy)
            .learning_rate(0.1)
            .build()
            .unwrap();
        let net = left_right();
        assert!(matches!(
            plot(&three, points.view(), &labels),
            Err(PlotError::NotTwoInputs { ins: 3 })
        ));
        assert!(matches!(
            plot(&net, points.t(), &labels),
            Err(PlotError::PointsShape {
                rows: 4,
                columns: 2
            })
        ));
        assert!(matches!(
            plot(&net, points.view(), &labels[..3]),
            Err(PlotError::LabelsMismatch {
                labels: 3,
                points: 4
            })
        ));
        let none = Array2::<f64>::zeros((2, 0));
        assert!(matches!(
            plot(&net, none.view(), &[]),
            Err(PlotError::Empty { what: "points" })
        ));
        let mut nan = points.clone();
        nan[(1, 2)] = f64::NAN;
        assert!(matches!(
            plot(&net, nan.view(), &labels),
            Err(PlotError::NonFinitePoint { index: 2 })
        ));
        assert!(!path.exists(), "nothing is written on an error");
        plot(&net, points.view(), &labels).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 1000);

        // The smallest image: drawn, or an error, never a panic.
        let small = PlotOptions {
            size: Some((400, 400)),
            ..PlotOptions::default()
        };
        let _ = plot_decision_regions(&net, points.view(), &labels, &path, &small);
        // A label far beyond the network's classes: drawn, the legend cut to its column.
        plot_decision_regions(&net, points.view(), &[0, 1, 1, 1_000_000], &path, &options).unwrap();

        let missing = dir.path().join("missing").join("regions.png");
        let error =
            plot_decision_regions(&net, points.view(), &labels, &missing, &options).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with(&missing.display().to_string()),
            "{error}"
        );
    }
}
