//! The [`Loss`] trait and the [`Target`] a loss compares the network's output with.

use std::fmt;

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use crate::{Error, Float, Result};

/// What the network's output is compared with.
///
/// In `nn` a batch has one column per sample, so a target gives either one column of
/// values per sample or one class index per sample.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a, F> {
    /// Target values, with the shape of the output: `(outs, batch)`. MSE compares with them
    /// entry by entry; cross-entropy reads each column as a probability distribution.
    Values(ArrayView2<'a, F>),
    /// One class index per sample, each in `0..outs`. Cross-entropy uses it as PyTorch's
    /// `CrossEntropyLoss` does; MSE compares with the one-hot vector of the class, as the
    /// first MNIST article does.
    Classes(&'a [usize]),
}

impl<'a, F: Float> Target<'a, F> {
    /// Number of samples the target describes.
    pub fn batch_size(&self) -> usize {
        match self {
            Target::Values(v) => v.ncols(),
            Target::Classes(c) => c.len(),
        }
    }

    /// The targets of samples `start..end` (a view, no copy).
    ///
    /// # Panics
    /// If `start > end` or `end` exceeds [`Target::batch_size`].
    pub fn samples(&self, start: usize, end: usize) -> Target<'a, F> {
        match *self {
            Target::Values(v) => Target::Values(v.slice_move(ndarray::s![.., start..end])),
            Target::Classes(c) => Target::Classes(&c[start..end]),
        }
    }

    /// Checks that the target fits an output of shape `(outs, batch)`: same shape for
    /// values, one class in `0..outs` per sample for classes, and finite values.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`], [`Error::ClassOutOfRange`] or [`Error::NonFiniteInput`].
    pub fn check(&self, outs: usize, batch: usize) -> Result<()> {
        match self {
            Target::Values(v) => {
                if v.dim() != (outs, batch) {
                    return Err(Error::ShapeMismatch {
                        what: "target".into(),
                        expected: (outs, batch),
                        actual: v.dim(),
                    });
                }
                crate::tensor::check_finite("target", *v)
            }
            Target::Classes(classes) => {
                if classes.len() != batch {
                    return Err(Error::ShapeMismatch {
                        what: "target classes".into(),
                        expected: (1, batch),
                        actual: (1, classes.len()),
                    });
                }
                match classes.iter().position(|&c| c >= outs) {
                    Some(sample) => Err(Error::ClassOutOfRange {
                        sample,
                        class: classes[sample],
                        classes: outs,
                    }),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A loss function: `loss(values, target)` and its gradient `dloss(values, target)` with
/// respect to the network's output `values`.
///
/// On a batch the loss is the **mean over samples** of the per-sample loss, so `dloss` of a
/// batch of `B` samples is `1/B` times the per-sample gradients, and summing weight
/// gradients over the batch gives the gradient of the mean.
///
/// Implementors write [`Loss::evaluate`] and [`Loss::gradient_into`], which may assume that
/// the target fits (the checked [`Loss::loss`] and [`Loss::dloss`] make sure of it once).
/// The trait is object safe, so a network holds a `Box<dyn Loss<F>>`.
///
/// # Shapes
/// `values` is `(outs, batch)`, one column per sample.
#[doc(alias = "LossFunction")]
pub trait Loss<F: Float>: fmt::Debug + Send + Sync {
    /// The name under which the loss is saved and parsed, e.g. `"mse"`.
    fn name(&self) -> String;

    /// A boxed copy, so that networks holding a `Box<dyn Loss<F>>` can be cloned.
    fn clone_box(&self) -> Box<dyn Loss<F>>;

    /// The mean loss over the batch, assuming `target.check(values.dim())` passed.
    ///
    /// # Panics
    /// May panic if the target does not fit the values.
    fn evaluate(&self, values: ArrayView2<'_, F>, target: Target<'_, F>) -> F;

    /// Writes `∂L/∂values` of the mean batch loss into `grad`, assuming the target fits.
    ///
    /// # Panics
    /// May panic if the target or `grad` does not fit the values.
    fn gradient_into(
        &self,
        values: ArrayView2<'_, F>,
        target: Target<'_, F>,
        grad: ArrayViewMut2<'_, F>,
    );

    /// Checks what this loss needs of a target beyond fitting the values' shape (for
    /// cross-entropy: value targets must be probability distributions). Called by the
    /// checked entry points after [`Target::check`]; the default accepts every target.
    ///
    /// # Errors
    /// [`Error::InvalidTarget`] naming the first offending column.
    fn check_target(&self, target: Target<'_, F>) -> Result<()> {
        let _ = target;
        Ok(())
    }

    /// The mean loss over the batch (checked).
    ///
    /// # Errors
    /// [`Error::EmptyBatch`] for a batch of zero samples, [`Error::NonFiniteInput`] for NaN
    /// or infinite values, the errors of [`Target::check`] and [`Loss::check_target`] when
    /// the target does not fit `values`, and [`Error::NonFiniteLoss`] when the loss of
    /// finite values overflows.
    fn loss(&self, values: ArrayView2<'_, F>, target: Target<'_, F>) -> Result<F> {
        check_values(values, target)?;
        self.check_target(target)?;
        crate::tensor::check_finite("values", values)?;
        finite_loss(self.evaluate(values, target))
    }

    /// The gradient of the mean batch loss with respect to `values` (checked).
    ///
    /// # Shapes
    /// The result has the shape of `values`.
    ///
    /// # Errors
    /// As [`Loss::loss`].
    fn dloss(&self, values: ArrayView2<'_, F>, target: Target<'_, F>) -> Result<Array2<F>> {
        check_values(values, target)?;
        self.check_target(target)?;
        crate::tensor::check_finite("values", values)?;
        let mut grad = Array2::zeros(values.dim());
        self.gradient_into(values, target, grad.view_mut());
        Ok(grad)
    }
}

/// `Ok(loss)` if the loss is finite, else [`Error::NonFiniteLoss`]: for callers that
/// computed a loss of checked, finite values and targets, a non-finite result means the
/// values are too large for the float type.
///
/// # Errors
/// [`Error::NonFiniteLoss`] for NaN or an infinity.
pub fn finite_loss<F: Float>(loss: F) -> Result<F> {
    if loss.is_finite() {
        Ok(loss)
    } else {
        Err(Error::NonFiniteLoss {
            value: loss.as_f64(),
        })
    }
}

fn check_values<F: Float>(values: ArrayView2<'_, F>, target: Target<'_, F>) -> Result<()> {
    if values.ncols() == 0 {
        return Err(Error::EmptyBatch {
            what: "values".into(),
        });
    }
    target.check(values.nrows(), values.ncols())
}

impl<F: Float> Clone for Box<dyn Loss<F>> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn check_reports_shape_and_class_problems() {
        let v = array![[1.0f64, 2.0], [3.0, 4.0]];
        assert!(Target::Values(v.view()).check(2, 2).is_ok());
        assert!(matches!(
            Target::Values(v.view()).check(3, 2),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(Target::<f64>::Classes(&[0, 1]).check(2, 2).is_ok());
        assert!(matches!(
            Target::<f64>::Classes(&[0, 2]).check(2, 2),
            Err(Error::ClassOutOfRange {
                sample: 1,
                class: 2,
                classes: 2
            })
        ));
        let bad = array![[1.0f64, f64::NAN]];
        assert!(matches!(
            Target::Values(bad.view()).check(1, 2),
            Err(Error::NonFiniteInput {
                row: 0,
                column: 1,
                ..
            })
        ));
    }
}
