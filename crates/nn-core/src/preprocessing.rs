//! [`Preprocessing`]: a per-feature affine map fitted on training data, which travels
//! with the model so that it predicts on raw inputs.

use std::fmt;

use ndarray::{Array1, ArrayView1, ArrayView2, ArrayViewMut2, Axis, Zip};

use crate::{tensor, Error, Float, Result};

/// How a [`Preprocessing`] was made; its [`name`](Self::name) is what a model file
/// records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PreprocessingKind {
    /// Standardisation: each feature minus its mean, divided by its standard deviation.
    Standardize,
    /// Min–max scaling: each feature mapped from `[min, max]` onto `[0, 1]`.
    MinMax,
    /// One factor for every feature, e.g. MNIST's `1/255` from pixel bytes to `[0, 1]`.
    Scale,
}

impl PreprocessingKind {
    /// The kind's name: `standardize`, `min_max` or `scale`.
    pub fn name(self) -> &'static str {
        match self {
            PreprocessingKind::Standardize => "standardize",
            PreprocessingKind::MinMax => "min_max",
            PreprocessingKind::Scale => "scale",
        }
    }

    /// The kind of a [`name`](Self::name).
    ///
    /// # Errors
    /// [`Error::Unknown`] for any other name.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "standardize" => Ok(PreprocessingKind::Standardize),
            "min_max" => Ok(PreprocessingKind::MinMax),
            "scale" => Ok(PreprocessingKind::Scale),
            _ => Err(Error::Unknown {
                kind: "preprocessing",
                name: name.to_string(),
            }),
        }
    }
}

impl fmt::Display for PreprocessingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A per-feature affine map applied to every input before the first layer:
///
/// ```text
/// x'ᵢ = (xᵢ − shiftᵢ) · scaleᵢ        for each feature i
/// ```
///
/// Fitted on the training split only ([`standardize`](Self::standardize),
/// [`min_max`](Self::min_max)), it is set on a network (`NeuralNetwork::set_preprocessing`),
/// which then applies it in training, evaluation and prediction alike, and saves it in its
/// model file: a loaded network predicts on raw inputs exactly as the trained one did.
///
/// The map is computed as written, a subtraction then a multiplication, in the inputs'
/// float type; with `shift = 0` it is exactly `x · scale`.
///
/// # Example
/// ```
/// use ndarray::array;
/// use nn_core::Preprocessing;
///
/// // Three samples (columns) of two features.
/// let train = array![[1.0, 2.0, 3.0], [10.0, 10.0, 40.0]];
/// let standardize = Preprocessing::standardize(train.view())?;
/// assert_eq!(standardize.shift(), array![2.0, 20.0]); // the means
/// let x = standardize.apply(array![[2.0], [20.0]].view())?;
/// assert_eq!(x, array![[0.0], [0.0]]);
///
/// let min_max = Preprocessing::min_max(train.view())?;
/// assert_eq!(min_max.apply(train.view())?.row(0), array![0.0, 0.5, 1.0]);
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocessing<F> {
    kind: PreprocessingKind,
    shift: Array1<F>,
    scale: Array1<F>,
}

impl<F: Float> Preprocessing<F> {
    /// Standardisation fitted on `inputs`, `(features, n)` (one sample per column):
    /// `shiftᵢ` is the mean of feature `i` and `scaleᵢ = 1/σᵢ`, with `σᵢ` its population
    /// standard deviation `√(Σⱼ (xᵢⱼ − x̄ᵢ)² / n)`. A constant feature (`σᵢ = 0`) gets
    /// `scaleᵢ = 1`, so that it maps to 0 rather than to a division by zero. The sums are
    /// taken in `f64`.
    ///
    /// # Errors
    /// [`Error::EmptyBatch`] for no sample, [`Error::NonFiniteInput`] naming the first NaN
    /// or infinite input.
    pub fn standardize(inputs: ArrayView2<'_, F>) -> Result<Self> {
        check_fit_inputs(inputs)?;
        let n = inputs.ncols() as f64;
        let (mut shift, mut scale) = (Vec::new(), Vec::new());
        for feature in inputs.rows() {
            let mean = feature.iter().map(|v| v.as_f64()).sum::<f64>() / n;
            let variance = feature
                .iter()
                .map(|v| (v.as_f64() - mean).powi(2))
                .sum::<f64>()
                / n;
            shift.push(F::from_f64(mean));
            scale.push(reciprocal_or_one(variance.sqrt()));
        }
        Self::from_parts(
            PreprocessingKind::Standardize,
            Array1::from(shift),
            Array1::from(scale),
        )
    }

    /// Min–max scaling fitted on `inputs`, `(features, n)`: `shiftᵢ = minᵢ` and
    /// `scaleᵢ = 1/(maxᵢ − minᵢ)`, which maps the training values of each feature onto
    /// `[0, 1]` (later inputs may fall outside it). A constant feature gets `scaleᵢ = 1`.
    ///
    /// # Errors
    /// As [`standardize`](Self::standardize).
    pub fn min_max(inputs: ArrayView2<'_, F>) -> Result<Self> {
        check_fit_inputs(inputs)?;
        let (mut shift, mut scale) = (Vec::new(), Vec::new());
        for feature in inputs.rows() {
            let min = feature.iter().fold(F::infinity(), |m, &v| m.min(v));
            let max = feature.iter().fold(F::neg_infinity(), |m, &v| m.max(v));
            shift.push(min);
            scale.push(reciprocal_or_one(max.as_f64() - min.as_f64()));
        }
        Self::from_parts(
            PreprocessingKind::MinMax,
            Array1::from(shift),
            Array1::from(scale),
        )
    }

    /// Every one of `features` features multiplied by `factor` (`shift = 0`), e.g.
    /// `Preprocessing::scale(784, 1.0 / 255.0)` for MNIST's pixel bytes.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] if `features` is 0 or `factor` is not finite and
    /// non-zero.
    pub fn scale(features: usize, factor: F) -> Result<Self> {
        if features == 0 {
            return Err(Error::InvalidHyperparameter {
                name: "features",
                value: 0.0,
                reason: "a preprocessing step needs at least one feature",
            });
        }
        if !factor.is_finite() || factor == F::zero() {
            return Err(Error::InvalidHyperparameter {
                name: "scale factor",
                value: factor.as_f64(),
                reason: "must be finite and non-zero",
            });
        }
        Self::from_parts(
            PreprocessingKind::Scale,
            Array1::zeros(features),
            Array1::from_elem(features, factor),
        )
    }

    /// A preprocessing step from its parts, as a model file stores them.
    ///
    /// # Errors
    /// - [`Error::ShapeMismatch`] (`what` = `"preprocessing scale"`) unless `shift` and
    ///   `scale` have the same, non-zero length;
    /// - [`Error::NonFiniteInput`] for a NaN or infinite entry;
    /// - [`Error::InvalidHyperparameter`] for a zero scale (which would erase a feature).
    pub fn from_parts(kind: PreprocessingKind, shift: Array1<F>, scale: Array1<F>) -> Result<Self> {
        if shift.is_empty() || scale.len() != shift.len() {
            return Err(Error::ShapeMismatch {
                what: "preprocessing scale".into(),
                expected: (shift.len().max(1), 1),
                actual: (scale.len(), 1),
            });
        }
        tensor::check_finite("preprocessing shift", shift.view().insert_axis(Axis(1)))?;
        tensor::check_finite("preprocessing scale", scale.view().insert_axis(Axis(1)))?;
        if let Some(zero) = scale.iter().position(|&s| s == F::zero()) {
            return Err(Error::InvalidHyperparameter {
                name: "preprocessing scale",
                value: zero as f64,
                reason: "is 0 at this feature index: every scale must be non-zero",
            });
        }
        Ok(Preprocessing { kind, shift, scale })
    }

    /// How the step was made.
    pub fn kind(&self) -> PreprocessingKind {
        self.kind
    }

    /// Number of features it maps.
    pub fn features(&self) -> usize {
        self.shift.len()
    }

    /// What is subtracted from each feature.
    pub fn shift(&self) -> ArrayView1<'_, F> {
        self.shift.view()
    }

    /// What each shifted feature is multiplied by.
    pub fn scale_factors(&self) -> ArrayView1<'_, F> {
        self.scale.view()
    }

    /// The map applied to `x`, `(features, n)`: `x'ᵢⱼ = (xᵢⱼ − shiftᵢ) · scaleᵢ`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] (`what` = `"input"`) if `x` does not have
    /// [`features`](Self::features) rows; [`Error::TooLarge`] if the result cannot be
    /// allocated.
    pub fn apply(&self, x: ArrayView2<'_, F>) -> Result<ndarray::Array2<F>> {
        if x.nrows() != self.features() {
            return Err(Error::ShapeMismatch {
                what: "input".into(),
                expected: (self.features(), x.ncols()),
                actual: x.dim(),
            });
        }
        let mut out = tensor::try_zeros("preprocessed input", x.nrows(), x.ncols())?;
        self.apply_into(x, out.view_mut());
        Ok(out)
    }

    /// The map applied to `x`, written into `out` of the same shape (no allocation).
    ///
    /// # Panics
    /// If `x` or `out` does not have [`features`](Self::features) rows, or their shapes
    /// differ: callers check shapes first.
    pub fn apply_into(&self, x: ArrayView2<'_, F>, mut out: ArrayViewMut2<'_, F>) {
        assert_eq!(x.nrows(), self.features(), "input rows");
        Zip::from(out.rows_mut())
            .and(x.rows())
            .and(&self.shift)
            .and(&self.scale)
            .for_each(|mut out, x, &shift, &scale| {
                Zip::from(&mut out)
                    .and(&x)
                    .for_each(|o, &v| *o = (v - shift) * scale);
            });
    }

    /// The map applied to `x` in place.
    ///
    /// # Panics
    /// If `x` does not have [`features`](Self::features) rows.
    pub fn apply_inplace(&self, mut x: ArrayViewMut2<'_, F>) {
        assert_eq!(x.nrows(), self.features(), "input rows");
        Zip::from(x.rows_mut())
            .and(&self.shift)
            .and(&self.scale)
            .for_each(|mut row, &shift, &scale| row.mapv_inplace(|v| (v - shift) * scale));
    }
}

/// `1/d` as `F`, or 1 where the spread `d` is 0 (a constant feature) or its reciprocal
/// is not finite.
fn reciprocal_or_one<F: Float>(d: f64) -> F {
    // d ≥ 0 (a deviation or a range); d = 0 gives an infinite reciprocal.
    let r = F::from_f64(1.0 / d);
    if r.is_finite() && r != F::zero() {
        r
    } else {
        F::one()
    }
}

/// A fit needs samples, and finite ones.
fn check_fit_inputs<F: Float>(inputs: ArrayView2<'_, F>) -> Result<()> {
    if inputs.ncols() == 0 || inputs.nrows() == 0 {
        return Err(Error::EmptyBatch {
            what: "preprocessing data".into(),
        });
    }
    tensor::check_finite("preprocessing data", inputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use ndarray::{array, Array2};

    #[test]
    fn standardized_training_data_has_mean_0_and_deviation_1() {
        let x = array![
            [1.0, 2.0, 3.0, 6.0],
            [-5.0, 5.0, 15.0, 25.0],
            [7.0, 7.0, 7.0, 7.0]
        ];
        let p = Preprocessing::standardize(x.view()).unwrap();
        assert_eq!(p.kind(), PreprocessingKind::Standardize);
        assert_eq!(p.shift(), array![3.0, 10.0, 7.0]);
        // Population deviation of [1, 2, 3, 6]: √((4 + 1 + 0 + 9)/4) = √3.5.
        assert_abs_diff_eq!(p.scale_factors()[0], 1.0 / 3.5f64.sqrt(), epsilon = 1e-15);
        // The constant feature keeps scale 1.
        assert_eq!(p.scale_factors()[2], 1.0);
        let y = p.apply(x.view()).unwrap();
        let mut inplace = x.clone();
        p.apply_inplace(inplace.view_mut());
        assert_eq!(inplace, y);
        for (i, row) in y.rows().into_iter().enumerate() {
            let mean = row.sum() / 4.0;
            let var = row.mapv(|v| (v - mean).powi(2)).sum() / 4.0;
            assert_abs_diff_eq!(mean, 0.0, epsilon = 1e-12);
            let want = if i == 2 { 0.0 } else { 1.0 };
            assert_abs_diff_eq!(var, want, epsilon = 1e-12);
        }
    }

    #[test]
    fn min_max_maps_the_training_range_onto_0_1() {
        let x = array![[2.0f32, 6.0, 3.0], [-1.0, -1.0, -1.0]];
        let p = Preprocessing::min_max(x.view()).unwrap();
        assert_eq!(p.shift(), array![2.0, -1.0]);
        assert_eq!(p.scale_factors(), array![0.25, 1.0]);
        assert_eq!(
            p.apply(x.view()).unwrap(),
            array![[0.0, 1.0, 0.25], [0.0, 0.0, 0.0]]
        );
        // Later inputs may fall outside [0, 1].
        assert_eq!(
            p.apply(array![[10.0], [0.0]].view()).unwrap(),
            array![[2.0], [1.0]]
        );
    }

    #[test]
    fn a_scale_is_exactly_a_multiplication() {
        let p = Preprocessing::scale(3, 1.0f32 / 255.0).unwrap();
        let x = array![[0.0f32, 255.0], [17.0, 3.0], [128.0, 1.0]];
        let want = x.mapv(|v| v * (1.0 / 255.0));
        assert_eq!(p.apply(x.view()).unwrap(), want);
        let mut inplace = x.clone();
        p.apply_inplace(inplace.view_mut());
        assert_eq!(inplace, want);
        // apply_into works on any layout, e.g. a transposed (rows-as-samples) view.
        let rows = want.t().to_owned();
        let mut out = Array2::zeros((3, 2));
        p.apply_into(x.t().t(), out.view_mut());
        assert_eq!(out.t(), rows);
    }

    #[test]
    fn bad_parts_and_inputs_are_errors() {
        assert!(matches!(
            Preprocessing::<f64>::scale(0, 1.0),
            Err(Error::InvalidHyperparameter {
                name: "features",
                ..
            })
        ));
        for factor in [0.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                Preprocessing::scale(2, factor),
                Err(Error::InvalidHyperparameter {
                    name: "scale factor",
                    ..
                })
            ));
        }
        assert!(matches!(
            Preprocessing::from_parts(PreprocessingKind::Scale, array![0.0, 1.0], array![1.0]),
            Err(Error::ShapeMismatch {
                expected: (2, 1),
                actual: (1, 1),
                ..
            })
        ));
        assert!(matches!(
            Preprocessing::<f64>::from_parts(PreprocessingKind::Scale, array![], array![]),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            Preprocessing::from_parts(
                PreprocessingKind::MinMax,
                array![0.0, f64::NAN],
                array![1.0, 1.0]
            ),
            Err(Error::NonFiniteInput { row: 1, .. })
        ));
        assert!(matches!(
            Preprocessing::from_parts(PreprocessingKind::MinMax, array![0.0, 0.0], array![1.0, 0.0]),
            Err(Error::InvalidHyperparameter { value, .. }) if value == 1.0
        ));
        assert!(matches!(
            Preprocessing::<f64>::standardize(Array2::zeros((3, 0)).view()),
            Err(Error::EmptyBatch { .. })
        ));
        assert!(matches!(
            Preprocessing::min_max(array![[1.0, f64::INFINITY]].view()),
            Err(Error::NonFiniteInput {
                row: 0,
                column: 1,
                ..
            })
        ));
        let p = Preprocessing::scale(2, 2.0).unwrap();
        assert!(matches!(
            p.apply(array![[1.0, 2.0, 3.0]].view()),
            Err(Error::ShapeMismatch {
                expected: (2, 3),
                actual: (1, 3),
                ..
            })
        ));
        // Names read back.
        for kind in [
            PreprocessingKind::Standardize,
            PreprocessingKind::MinMax,
            PreprocessingKind::Scale,
        ] {
            assert_eq!(PreprocessingKind::parse(kind.name()).unwrap(), kind);
            assert_eq!(kind.to_string(), kind.name());
        }
        assert!(matches!(
            PreprocessingKind::parse("zscore"),
            Err(Error::Unknown { .. })
        ));
    }

    #[test]
    fn a_spread_too_small_for_its_reciprocal_keeps_scale_1() {
        assert_eq!(reciprocal_or_one::<f32>(1e-300), 1.0);
        assert_eq!(reciprocal_or_one::<f64>(0.0), 1.0);
        assert_eq!(reciprocal_or_one::<f64>(4.0), 0.25);
    }
}
