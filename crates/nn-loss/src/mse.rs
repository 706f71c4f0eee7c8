//! Mean squared error.

use ndarray::{ArrayView2, ArrayViewMut2, Axis, Zip};
use nn_core::{Float, Loss, Target};

/// Mean squared error, the original's loss: the mean of `(v - t)²` over every entry.
///
/// For one sample with `n` outputs, `loss = mean((v - t)²)` and `dloss = 2(v - t)/n`. On a
/// batch of `B` columns the mean runs over all `n·B` entries, which is the mean over samples
/// of the per-sample loss, so `dloss = 2(v - t)/(n·B)`.
///
/// With [`Target::Classes`] the target of a sample of class `c` is the one-hot column
/// `e_c`, as in the first MNIST article.
///
/// # Shapes
/// `values` is `(n, B)`; a [`Target::Values`] target too.
#[doc(alias = "MSELoss")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mse;

impl<F: Float> Loss<F> for Mse {
    fn name(&self) -> String {
        "mse".into()
    }

    fn clone_box(&self) -> Box<dyn Loss<F>> {
        Box::new(*self)
    }

    fn evaluate(&self, values: ArrayView2<'_, F>, target: Target<'_, F>) -> F {
        let sum = match target {
            Target::Values(t) => Zip::from(values)
                .and(t)
                .fold(F::zero(), |s, &v, &t| s + (v - t) * (v - t)),
            Target::Classes(classes) => values
                .axis_iter(Axis(1))
                .zip(classes)
                .map(|(column, &c)| {
                    let squares = column.fold(F::zero(), |s, &v| s + v * v);
                    // Swap the class entry's v² for (v - 1)².
                    squares - column[c] * column[c] + (column[c] - F::one()).powi(2)
                })
                .fold(F::zero(), |s, v| s + v),
        };
        sum / F::from_f64(values.len() as f64)
    }

    fn gradient_into(
        &self,
        values: ArrayView2<'_, F>,
        target: Target<'_, F>,
        mut grad: ArrayViewMut2<'_, F>,
    ) {
        let scale = F::from_f64(2.0 / values.len() as f64);
        match target {
            Target::Values(t) => {
                Zip::from(&mut grad)
                    .and(values)
                    .and(t)
                    .for_each(|g, &v, &t| *g = scale * (v - t));
            }
            Target::Classes(classes) => {
                Zip::from(&mut grad)
                    .and(values)
                    .for_each(|g, &v| *g = scale * v);
                for (sample, &c) in classes.iter().enumerate() {
                    grad[(c, sample)] -= scale;
                }
            }
        }
    }
}
