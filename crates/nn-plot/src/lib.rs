//! Plots for `nn`, as PNG files: the training curves of a `fit` run ([`plot_history`], or
//! [`plot_curves`] for a training loop of one's own) and the decision regions of a network
//! of two inputs ([`plot_decision_regions`]).
//!
//! # Design
//!
//! The plots are drawn with plotters' bitmap backend into an RGB buffer in memory, then
//! encoded as PNG and written in one step, so that a failure leaves no half-written file
//! and its error names the file. Text is drawn by this crate with ab_glyph from DejaVu
//! Sans embedded in the build (`canvas.rs` says why plotters' own text support stays
//! off): plotting needs no system font or library.
//!
//! The axes are chosen for what training curves look like (`ticks.rs`): the loss falls
//! over orders of magnitude, so it is drawn on a logarithmic axis with ticks at 1-2-5
//! values that enclose every loss, the last one included; the accuracy moves within a few
//! points (82–93%, say), so its axis is fitted to the values rather than spanning 0–100%;
//! epochs are whole numbers ("1", "2", never "1.0"). Legends sit outside the drawn data.
//!
//! No function here panics on its input or prints anything: each returns a [`PlotError`]
//! that says what was wrong, naming the file when writing it failed.
//!
//! # Example
//!
//! ```no_run
//! use nn_core::Target;
//! use nn_layers::{Identity, Tanh};
//! use nn_loss::CrossEntropy;
//! use nn_plot::{plot_decision_regions, plot_history, PlotOptions};
//! use nn_train::{ndarray::array, Adam, FitOptions, NeuralNetwork, Samples};
//!
//! // XOR, one sample per column.
//! let x = array![[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]];
//! let labels = [0, 1, 1, 0];
//! let data = Samples::new(x.view(), Target::Classes(&labels))?;
//! let mut net = NeuralNetwork::<f64>::builder(2)
//!     .dense(8, Tanh)
//!     .dense(2, Identity)
//!     .loss(CrossEntropy)
//!     .optimizer(Adam::new(0.05)?)
//!     .build()?;
//! let history = net.fit(data, Some(data), &FitOptions { epochs: 300, batch_size: 4, ..FitOptions::default() })?;
//! plot_history(&history, "xor-curves.png", &PlotOptions::default())?;
//! let options = PlotOptions { title: Some("XOR".into()), ..PlotOptions::default() };
//! plot_decision_regions(&net, x.view(), &labels, "xor-regions.png", &options)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use plotters::style::RGBColor;

mod canvas;
mod curves;
mod regions;
mod ticks;

pub use curves::{plot_curves, plot_history, Curve, Point};
pub use regions::plot_decision_regions;

/// What a plot can refuse, or fail at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// There is nothing to draw (`what`: `"history"`, `"curves"`, `"points"`).
    #[error("nothing to plot: the {what} is empty")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// A value of a training curve that cannot be drawn: an epoch that is negative or not
    /// finite, a loss outside 1e-300 to 1e300 (the loss axis is logarithmic), an accuracy
    /// outside 0 to 1.
    #[error("curve {curve:?}, point {index}: the {what} {value} cannot be plotted")]
    InvalidValue {
        /// The curve's name.
        curve: String,
        /// The point's index in the curve.
        index: usize,
        /// `"epoch"`, `"loss"` or `"accuracy"`.
        what: &'static str,
        /// The value.
        value: f64,
    },
    /// Decision regions are drawn for networks of 2 inputs only.
    #[error("decision regions need a network of 2 inputs, and this one takes {ins}")]
    NotTwoInputs {
        /// The network's number of inputs.
        ins: usize,
    },
    /// The points of decision regions must be a `(2, n)` matrix, one point per column.
    #[error("the points are a ({rows}, {columns}) matrix: decision regions need 2 rows, one point per column")]
    PointsShape {
        /// Rows of the matrix given.
        rows: usize,
        /// Columns of the matrix given.
        columns: usize,
    },
    /// One label per point is needed.
    #[error("{labels} labels for {points} points: one label per point is needed")]
    LabelsMismatch {
        /// The number of labels.
        labels: usize,
        /// The number of points.
        points: usize,
    },
    /// A coordinate of a point is NaN or infinite.
    #[error("point {index} has a coordinate that is not finite")]
    NonFinitePoint {
        /// The point's index (its column).
        index: usize,
    },
    /// The image's size: each side must be between 400 and 8192 pixels.
    #[error("an image of {width} × {height} pixels: each side must be between 400 and 8192")]
    InvalidSize {
        /// The width asked for.
        width: u32,
        /// The height asked for.
        height: u32,
    },
    /// The network failed to predict (see `nn_core::Error`), e.g. non-finite outputs.
    #[error("the network's prediction failed: {0}")]
    Network(#[from] nn_core::Error),
    /// The embedded font could not be read (a broken build).
    #[error("the embedded DejaVu Sans font cannot be read: {0}")]
    Font(String),
    /// Drawing the plot failed.
    #[error("{}: cannot draw the plot: {message}", path.display())]
    Draw {
        /// The file the plot was for.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// Writing the PNG file failed.
    #[error("{}: cannot write the plot: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
}

/// The result of a plot.
pub type Result<T> = std::result::Result<T, PlotError>;

/// What a plot may be given besides its data. `PlotOptions::default()` leaves each plot its
/// own title and size.
#[derive(Clone, Debug, PartialEq)]
pub struct PlotOptions {
    /// The title above the plot; `None`: the plot's own.
    pub title: Option<String>,
    /// `(width, height)` in pixels, each between 400 and 8192; `None`: the plot's own
    /// (1200 × 520 for curves, 820 × 640 for decision regions).
    pub size: Option<(u32, u32)>,
    /// The names of the two input axes of decision regions (`"x₁"` and `"x₂"` by
    /// default).
    pub axis_names: [String; 2],
}

impl Default for PlotOptions {
    fn default() -> Self {
        PlotOptions {
            title: None,
            size: None,
            axis_names: ["x₁".into(), "x₂".into()],
        }
    }
}

/// The colours of curves and classes, in order (those of matplotlib's "tab10").
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Why a drawing stopped: a value the plot refuses, or plotters' error.
pub(crate) enum DrawFailure {
    Refused(PlotError),
    Failed(String),
}

/// The result of the drawing functions.
pub(crate) type Drawn = std::result::Result<(), DrawFailure>;

impl From<PlotError> for DrawFailure {
    fn from(e: PlotError) -> Self {
        DrawFailure::Refused(e)
    }
}

impl<E: std::error::Error + Send + Sync> From<plotters::drawing::DrawingAreaErrorKind<E>>
    for DrawFailure
{
    fn from(e: plotters::drawing::DrawingAreaErrorKind<E>) -> Self {
        DrawFailure::Failed(e.to_string())
    }
}

/// The error of a drawing for the file `path`.
pub(crate) fn draw_error(path: &Path, failure: DrawFailure) -> PlotError {
    match failure {
        DrawFailure::Refused(e) => e,
        DrawFailure::Failed(message) => PlotError::Draw {
            path: path.to_path_buf(),
            message,
        },
    }
}
