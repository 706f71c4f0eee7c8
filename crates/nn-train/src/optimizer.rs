//! The [`Optimizer`] trait: how a parameter moves given its gradient.

use std::fmt;

use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use nn_core::{Error, Float, Result};

/// An update rule for a parameter matrix given its gradient.
///
/// The step is pure arithmetic on `(parameter, gradient, state)`: the optimizer holds only
/// its hyperparameters, and the state it needs per parameter (a momentum buffer, Adam's two
/// moment estimates) is owned by the network and handed to it, as
/// [`Optimizer::state_buffers`] zero-filled arrays of the parameter's shape.
///
/// The trait is object safe: a network holds a `Box<dyn Optimizer<F>>`.
pub trait Optimizer<F: Float>: fmt::Debug + Send + Sync {
    /// A short description with the hyperparameters, e.g. `"sgd(lr=0.01, momentum=0.9)"`.
    fn name(&self) -> String;

    /// A boxed copy, so that networks holding a `Box<dyn Optimizer<F>>` can be cloned.
    fn clone_box(&self) -> Box<dyn Optimizer<F>>;

    /// The current learning rate.
    fn learning_rate(&self) -> F;

    /// Changes the learning rate (schedules call this between epochs).
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] unless it is finite and positive.
    fn set_learning_rate(&mut self, learning_rate: F) -> Result<()>;

    /// How many state arrays of the parameter's shape a step needs.
    fn state_buffers(&self) -> usize;

    /// One update of `parameter` from `gradient`.
    ///
    /// `gradient_scale` multiplies the gradient first (1 unless gradients are clipped);
    /// `step` counts the updates made with this state, starting at 1 (Adam's bias
    /// correction needs it); `state` holds [`Optimizer::state_buffers`] arrays.
    ///
    /// # Shapes
    /// `gradient` and every array of `state` have the shape of `parameter`.
    ///
    /// # Panics
    /// If a shape differs or `state` has the wrong length (a broken invariant of the
    /// caller, which allocates the state).
    fn step(
        &self,
        parameter: ArrayViewMut2<'_, F>,
        gradient: ArrayView2<'_, F>,
        state: &mut [Array2<F>],
        step: u64,
        gradient_scale: F,
    );

    /// `Some(learning_rate)` when a step is exactly `θ ← θ - learning_rate·g` with no state,
    /// so that the per-sample path may apply it to `W` as the rank-1 update
    /// `W -= learning_rate·delta·xᵀ` without forming the gradient matrix.
    fn plain_learning_rate(&self) -> Option<F> {
        None
    }
}

impl<F: Float> Clone for Box<dyn Optimizer<F>> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// Checks that a learning rate is finite and positive.
///
/// # Errors
/// [`Error::InvalidHyperparameter`] naming `learning_rate` otherwise.
pub fn check_learning_rate<F: Float>(learning_rate: F) -> Result<()> {
    check_range(
        "learning_rate",
        learning_rate,
        |v| v > 0.0,
        "must be finite and positive",
    )
}

/// Checks a hyperparameter: finite and accepted by `valid`.
pub(crate) fn check_range<F: Float>(
    name: &'static str,
    value: F,
    valid: impl Fn(f64) -> bool,
    reason: &'static str,
) -> Result<()> {
    let v = value.as_f64();
    if v.is_finite() && valid(v) {
        Ok(())
    } else {
        Err(Error::InvalidHyperparameter {
            name,
            value: v,
            reason,
        })
    }
}
