//! Checks of hyperparameters (learning rates, momenta, limits), shared by the optimizers,
//! the network's settings and `fit`: each refuses a value with an
//! [`Error::InvalidHyperparameter`] that names it and says what it must be.

use nn_core::{Error, Float, Result};

/// Checks that a learning rate is finite and positive.
///
/// # Errors
/// [`Error::InvalidHyperparameter`] naming `learning_rate` otherwise.
pub fn check_learning_rate<F: Float>(learning_rate: F) -> Result<()> {
    check_hyperparameter(
        "learning_rate",
        learning_rate,
        |v| v > 0.0,
        "must be finite and positive",
    )
}

/// Checks a hyperparameter: finite and accepted by `valid`.
pub(crate) fn check_hyperparameter<F: Float>(
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
