//! Evaluation: accuracy, the confusion matrix, the mean loss over a data set, predicted
//! classes and class probabilities.

use std::fmt;

use ndarray::{Array2, ArrayView2, Axis};
use nn_core::{tensor, Error, Float, Result, Target};
use nn_loss::softmax_into;

use crate::backprop::Workspace;
use crate::NeuralNetwork;
use nn_core::Samples;

/// The fraction of `predicted` classes equal to `labels` (0 for empty slices).
///
/// # Errors
/// [`Error::ShapeMismatch`] if the slices differ in length, as [`ConfusionMatrix::new`].
pub fn accuracy(predicted: &[usize], labels: &[usize]) -> Result<f64> {
    check_lengths(predicted, labels)?;
    if labels.is_empty() {
        return Ok(0.0);
    }
    let correct = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    Ok(correct as f64 / labels.len() as f64)
}

/// One prediction per label.
fn check_lengths(predicted: &[usize], labels: &[usize]) -> Result<()> {
    if predicted.len() != labels.len() {
        return Err(Error::ShapeMismatch {
            what: "predictions".into(),
            expected: (1, labels.len()),
            actual: (1, predicted.len()),
        });
    }
    Ok(())
}

/// Counts of (true class, predicted class) pairs: `counts[(t, p)]` samples of class `t`
/// were predicted as `p`. The diagonal holds the correct predictions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    counts: Array2<usize>,
}

impl ConfusionMatrix {
    /// The confusion matrix of `predicted` against `labels` over `classes` classes.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the slices differ in length, [`Error::ClassOutOfRange`]
    /// if a class is not below `classes`, [`Error::TooLarge`] if `classes²` counts cannot
    /// be allocated.
    pub fn new(predicted: &[usize], labels: &[usize], classes: usize) -> Result<Self> {
        check_lengths(predicted, labels)?;
        // `classes` is the caller's number: a size that does not fit is an error, not an
        // abort of the process or a panic inside ndarray.
        let too_large = || Error::TooLarge {
            what: "confusion matrix".into(),
            rows: classes,
            columns: classes,
        };
        let entries = classes.checked_mul(classes).ok_or_else(too_large)?;
        let mut zeros = nn_core::tensor::try_vec(entries).ok_or_else(too_large)?;
        zeros.resize(entries, 0);
        let mut counts =
            Array2::from_shape_vec((classes, classes), zeros).expect("classes² entries");
        for (sample, (&p, &t)) in predicted.iter().zip(labels).enumerate() {
            let class = p.max(t);
            if class >= classes {
                return Err(Error::ClassOutOfRange {
                    sample,
                    class,
                    classes,
                });
            }
            counts[(t, p)] += 1;
        }
        Ok(ConfusionMatrix { counts })
    }

    /// The counts, `(classes, classes)`, rows indexed by true class.
    pub fn counts(&self) -> ArrayView2<'_, usize> {
        self.counts.view()
    }

    /// Overall accuracy: the diagonal's sum over the total.
    pub fn accuracy(&self) -> f64 {
        let total = self.counts.sum();
        if total == 0 {
            return 0.0;
        }
        self.counts.diag().sum() as f64 / total as f64
    }

    /// Recall of each class `c`: its correct predictions over its samples,
    /// `counts[(c, c)] / Σ_p counts[(c, p)]` (NaN for a class with no sample).
    pub fn recall(&self) -> Vec<f64> {
        self.per_class(Axis(0))
    }

    /// Precision of each class `c`: its correct predictions over the samples predicted as
    /// `c`, `counts[(c, c)] / Σ_t counts[(t, c)]` (NaN for a class never predicted).
    pub fn precision(&self) -> Vec<f64> {
        self.per_class(Axis(1))
    }

    /// F1 score of each class: the harmonic mean of its precision `P` and recall `R`,
    /// `2·P·R / (P + R)` (0 when both are 0; NaN when either is undefined).
    pub fn f1(&self) -> Vec<f64> {
        (self.precision().into_iter().zip(self.recall()))
            .map(|(p, r)| {
                if p + r == 0.0 {
                    0.0
                } else {
                    2.0 * p * r / (p + r)
                }
            })
            .collect()
    }

    /// The macro averages `(precision, recall, F1)`: each score's mean over the classes,
    /// an undefined score (NaN above) counting as 0, as scikit-learn's default
    /// `zero_division` does (0 for no class).
    pub fn macro_averages(&self) -> (f64, f64, f64) {
        let mean = |scores: Vec<f64>| {
            let n = scores.len().max(1) as f64;
            scores
                .iter()
                .map(|s| if s.is_nan() { 0.0 } else { *s })
                .sum::<f64>()
                / n
        };
        (mean(self.precision()), mean(self.recall()), mean(self.f1()))
    }

    /// The diagonal over the sums along `axis` (rows: recall; columns: precision).
    fn per_class(&self, axis: Axis) -> Vec<f64> {
        (self.counts.axis_iter(axis).enumerate())
            .map(|(c, lane)| lane[c] as f64 / lane.sum() as f64)
            .collect()
    }
}

impl fmt::Display for ConfusionMatrix {
    /// A table: one row per true class, one column per predicted class.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .counts
            .iter()
            .max()
            .map_or(1, |m| m.to_string().len())
            .max(3);
        write!(f, "true\\pred")?;
        for p in 0..self.counts.ncols() {
            write!(f, " {p:>width$}")?;
        }
        writeln!(f)?;
        for (t, row) in self.counts.axis_iter(Axis(0)).enumerate() {
            write!(f, "{t:>9}")?;
            for c in row {
                write!(f, " {c:>width$}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// The result of [`NeuralNetwork::evaluate`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean loss over the samples.
    pub loss: f64,
    /// Fraction of samples whose predicted class (largest output) is the target class, for
    /// class targets; `None` for value targets.
    pub accuracy: Option<f64>,
    /// For value targets (regression), the mean absolute error over every output of every
    /// sample: `MAE = (1/(n·m)) Σ_j Σ_i |y_ij - t_ij|` for `m` outputs and `n` samples;
    /// `None` for class targets.
    pub mean_absolute_error: Option<f64>,
    /// For value targets, the mean squared error over every output of every sample:
    /// `MSE = (1/(n·m)) Σ_j Σ_i (y_ij - t_ij)²` (the loss itself when it is `Mse`, whatever
    /// the loss); `None` for class targets.
    pub mean_squared_error: Option<f64>,
    /// For value targets, the coefficient of determination averaged over the outputs:
    /// `R² = (1/m) Σ_i (1 - Σ_j (t_ij - y_ij)² / Σ_j (t_ij - t̄_i)²)`, 1 for a perfect fit
    /// and 0 for predicting each output's mean (scikit-learn's `r2_score`; an output whose
    /// targets are all equal counts 1 if predicted exactly, else 0). `None` for class
    /// targets.
    pub r_squared: Option<f64>,
    /// Number of samples evaluated.
    pub samples: usize,
}

impl<F: Float> NeuralNetwork<F> {
    /// The mean loss, and the accuracy for class targets, over a data set, computed in
    /// batches of `batch_size` samples with buffers allocated once per call.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] for `batch_size = 0`; the errors of
    /// [`NeuralNetwork::forward_pass`] (a non-finite output among them) and
    /// [`Target::check`] for data that does not fit; [`Error::NonFiniteLoss`] when a
    /// batch's loss overflows.
    pub fn evaluate(&self, data: Samples<'_, F>, batch_size: usize) -> Result<Evaluation> {
        if batch_size == 0 {
            return Err(Error::InvalidHyperparameter {
                name: "batch_size",
                value: 0.0,
                reason: "must be at least 1",
            });
        }
        let (x, target) = (data.inputs(), data.targets());
        self.check_sample(x, target)?;
        let n = x.ncols();
        let mut workspace = Workspace::empty();
        let mut buffer = Array2::zeros((0, 0));
        let (mut loss_sum, mut correct) = (0.0, 0usize);
        let mut regression = match target {
            Target::Values(t) => Some(Regression::new(t)),
            Target::Classes(_) => None,
        };
        for start in (0..n).step_by(batch_size) {
            let end = (start + batch_size).min(n);
            let part = data.range(start, end).expect("start < end ≤ n");
            let (xb, tb) = (part.inputs(), part.targets());
            let output = self.model().forward_into(xb, &mut workspace, &mut buffer)?;
            let loss = nn_core::finite_loss(self.loss_function().evaluate(output, tb))?;
            loss_sum += loss.as_f64() * (end - start) as f64;
            match (tb, regression.as_mut()) {
                (Target::Classes(classes), _) => correct += tensor::count_correct(output, classes),
                (Target::Values(t), Some(sums)) => sums.add(output, t),
                (Target::Values(_), None) => unreachable!("value targets have their sums"),
            }
        }
        Ok(Evaluation {
            loss: loss_sum / n as f64,
            accuracy: matches!(target, Target::Classes(_)).then(|| correct as f64 / n as f64),
            mean_absolute_error: regression.as_ref().map(Regression::mean_absolute_error),
            mean_squared_error: regression.as_ref().map(Regression::mean_squared_error),
            r_squared: regression.as_ref().map(Regression::r_squared),
            samples: n,
        })
    }

    /// Class probabilities: the softmax of each output column,
    /// `p_i = e^{v_i} / Σ_j e^{v_j}` (for networks whose outputs are logits, as with
    /// cross-entropy).
    ///
    /// # Shapes
    /// `x` is `(ins, batch)`; the result is `(outs, batch)`, each column summing to 1.
    ///
    /// # Errors
    /// As [`NeuralNetwork::forward_pass`].
    pub fn predict_probabilities(&self, x: ArrayView2<'_, F>) -> Result<Array2<F>> {
        let logits = self.forward_pass(x)?;
        let mut probabilities = Array2::zeros(logits.dim());
        for (v, p) in logits
            .columns()
            .into_iter()
            .zip(probabilities.columns_mut())
        {
            softmax_into(v, p);
        }
        Ok(probabilities)
    }
}

/// The sums behind [`Evaluation::mean_absolute_error`] and [`Evaluation::r_squared`],
/// accumulated batch by batch, in f64.
struct Regression {
    /// `t̄_i`: the mean target of each output over the whole data set.
    means: Vec<f64>,
    /// `Σ |y - t|` over every entry.
    absolute: f64,
    /// `Σ_j (t_ij - y_ij)²` per output.
    residual: Vec<f64>,
    /// `Σ_j (t_ij - t̄_i)²` per output.
    total: Vec<f64>,
    /// Entries added so far.
    entries: usize,
}

impl Regression {
    /// Empty sums for the targets `(outs, n)` of the whole data set (whose means they need
    /// first: one pass over the targets, which are in memory).
    fn new<F: Float>(targets: ArrayView2<'_, F>) -> Self {
        let n = targets.ncols() as f64;
        let means = (targets.rows().into_iter())
            .map(|row| row.iter().map(|v| v.as_f64()).sum::<f64>() / n)
            .collect();
        let outs = targets.nrows();
        Regression {
            means,
            absolute: 0.0,
            residual: vec![0.0; outs],
            total: vec![0.0; outs],
            entries: 0,
        }
    }

    /// Adds a batch's outputs and targets, both `(outs, batch)`.
    fn add<F: Float>(&mut self, output: ArrayView2<'_, F>, targets: ArrayView2<'_, F>) {
        for (i, (y, t)) in output.rows().into_iter().zip(targets.rows()).enumerate() {
            for (&y, &t) in y.iter().zip(&t) {
                let (y, t) = (y.as_f64(), t.as_f64());
                let (error, deviation) = (t - y, t - self.means[i]);
                self.absolute += error.abs();
                self.residual[i] += error * error;
                self.total[i] += deviation * deviation;
            }
        }
        self.entries += output.len();
    }

    fn mean_absolute_error(&self) -> f64 {
        self.absolute / self.entries as f64
    }

    fn mean_squared_error(&self) -> f64 {
        self.residual.iter().sum::<f64>() / self.entries as f64
    }

    fn r_squared(&self) -> f64 {
        let per_output = self.residual.iter().zip(&self.total).map(|(&res, &tot)| {
            if tot > 0.0 {
                1.0 - res / tot
            } else if res == 0.0 {
                1.0
            } else {
                0.0
            }
        });
        per_output.sum::<f64>() / self.residual.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_matrix_counts_pairs() {
        let m = ConfusionMatrix::new(&[0, 1, 1, 2], &[0, 1, 2, 2], 3).unwrap();
        assert_eq!(m.counts()[(2, 1)], 1);
        assert_eq!(m.counts().diag().sum(), 3);
        assert_eq!(m.accuracy(), 0.75);
        assert_eq!(m.recall(), vec![1.0, 1.0, 0.5]);
        assert_eq!(accuracy(&[0, 1, 1, 2], &[0, 1, 2, 2]).unwrap(), 0.75);
        assert_eq!(accuracy(&[], &[]).unwrap(), 0.0);
        // Mismatched lengths: the same error from both.
        for result in [
            accuracy(&[0, 1], &[0, 1, 2]).map(|_| ()),
            ConfusionMatrix::new(&[0, 1], &[0, 1, 2], 3).map(|_| ()),
        ] {
            assert!(matches!(
                result,
                Err(Error::ShapeMismatch {
                    expected: (1, 3),
                    actual: (1, 2),
                    ..
                })
            ));
        }
        assert!(m.to_string().lines().count() == 4);
        assert!(matches!(
            ConfusionMatrix::new(&[3], &[0], 3),
            Err(Error::ClassOutOfRange { class: 3, .. })
        ));
        // usize::MAX classes panicked inside ndarray; 2^29 asked for 2^61 bytes (an abort).
        for classes in [usize::MAX, 1 << 29, 1 << 40] {
            assert!(matches!(
                ConfusionMatrix::new(&[0], &[0], classes),
                Err(Error::TooLarge { rows, .. }) if rows == classes
            ));
        }
    }

    #[test]
    fn precision_recall_and_f1_per_class_and_macro() {
        // True:      0 0 0 0 1 1 2 2 2 2
        // Predicted: 0 0 1 2 1 1 2 2 0 0
        let labels = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2];
        let predicted = [0, 0, 1, 2, 1, 1, 2, 2, 0, 0];
        let m = ConfusionMatrix::new(&predicted, &labels, 4).unwrap();
        // Class 0: 2 of 4 found, 2 of 4 predictions right; class 1: 2 of 2, 2 of 3;
        // class 2: 2 of 4, 2 of 3; class 3: no sample, never predicted.
        let (precision, recall, f1) = (m.precision(), m.recall(), m.f1());
        assert_eq!(precision[..3], [0.5, 2.0 / 3.0, 2.0 / 3.0]);
        assert_eq!(recall[..3], [0.5, 1.0, 0.5]);
        assert!(precision[3].is_nan() && recall[3].is_nan() && f1[3].is_nan());
        let harmonic = |p: f64, r: f64| 2.0 * p * r / (p + r);
        assert_eq!(
            f1[..3],
            [0.5, harmonic(2.0 / 3.0, 1.0), harmonic(2.0 / 3.0, 0.5)]
        );
        let (mp, mr, mf) = m.macro_averages();
        approx::assert_relative_eq!(mp, (0.5 + 4.0 / 3.0) / 4.0, max_relative = 1e-15);
        approx::assert_relative_eq!(mr, 2.0 / 4.0, max_relative = 1e-15);
        approx::assert_relative_eq!(mf, (f1[0] + f1[1] + f1[2]) / 4.0, max_relative = 1e-15);
        // Class 1 predicted but always wrongly: precision 0. Class 0 never predicted
        // (precision undefined) and never found: recall 0.
        let m = ConfusionMatrix::new(&[1, 1], &[0, 0], 2).unwrap();
        let (precision, recall) = (m.precision(), m.recall());
        assert!(precision[0].is_nan() && precision[1] == 0.0);
        assert!(recall[0] == 0.0 && recall[1].is_nan());
        // Both 0: F1 0, not 0/0.
        let m = ConfusionMatrix::new(&[1, 0], &[0, 1], 2).unwrap();
        assert_eq!(m.f1(), [0.0, 0.0]);
        assert_eq!(m.macro_averages(), (0.0, 0.0, 0.0));
    }
}
