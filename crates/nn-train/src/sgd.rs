//! Plain stochastic gradient descent, the original's update rule.

use ndarray::{ArrayView2, ArrayViewMut2};
use nn_core::{Error, Float, Result};

/// Stochastic gradient descent: `θ ← θ - learning_rate · ∇θ`, applied to each parameter
/// matrix with its gradient.
///
/// The step is pure arithmetic on a parameter and its gradient; it holds no state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd<F> {
    learning_rate: F,
}

impl<F: Float> Sgd<F> {
    /// SGD with the given learning rate.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] unless `learning_rate` is finite and positive.
    pub fn new(learning_rate: F) -> Result<Self> {
        check_learning_rate(learning_rate)?;
        Ok(Sgd { learning_rate })
    }

    /// The learning rate.
    pub fn learning_rate(&self) -> F {
        self.learning_rate
    }

    /// One update, `parameter -= learning_rate · gradient`, in place.
    ///
    /// # Shapes
    /// `parameter` and `gradient` have the same shape.
    ///
    /// # Panics
    /// If the shapes differ (a broken invariant of the caller).
    pub fn step(&self, mut parameter: ArrayViewMut2<'_, F>, gradient: ArrayView2<'_, F>) {
        parameter.scaled_add(-self.learning_rate, &gradient);
    }
}

/// Checks that a learning rate is finite and positive.
///
/// # Errors
/// [`Error::InvalidHyperparameter`] naming `learning_rate` otherwise.
pub fn check_learning_rate<F: Float>(learning_rate: F) -> Result<()> {
    if learning_rate.is_finite() && learning_rate > F::zero() {
        Ok(())
    } else {
        Err(Error::InvalidHyperparameter {
            name: "learning_rate",
            value: learning_rate.as_f64(),
            reason: "must be finite and positive",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn step_subtracts_learning_rate_times_gradient() {
        let sgd = Sgd::new(0.5f64).unwrap();
        let mut w = array![[1.0, 2.0]];
        sgd.step(w.view_mut(), array![[2.0, -4.0]].view());
        assert_eq!(w, array![[0.0, 4.0]]);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                Sgd::new(bad),
                Err(Error::InvalidHyperparameter {
                    name: "learning_rate",
                    ..
                })
            ));
        }
    }
}
