//! The activation functions: LeakyReLU, ReLU, Sigmoid, Tanh and Identity, as unit-like
//! structs implementing [`Activation`], and [`parse_activation`] to rebuild one from its
//! name.

use nn_core::{Activation, Error, Float, Result};

/// Leaky rectified linear unit with the original's slope `alpha = 0.1`, the series'
/// default activation: a value like [`Relu`], e.g. `.dense(16, LeakyRelu)`.
///
/// `f(y) = max(y, 0.1·y)` and `df(y) = 1 if y > 0 else 0.1`. At `y = 0` the derivative
/// is taken as `alpha`, as the original does. For another slope,
/// [`LeakyRelu::with_alpha`] gives a [`LeakyReluWithAlpha`].
#[doc(alias = "LeakyReLU")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeakyRelu;

impl LeakyRelu {
    /// The slope of [`LeakyRelu`] for negative inputs, the original's `leaky_param`
    /// default.
    pub const ALPHA: f64 = 0.1;

    /// LeakyReLU with slope `alpha` for negative inputs, in the network's float type.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] unless `0 ≤ alpha < 1` (with `alpha ≥ 1` the
    /// function is no longer `max(y, alpha·y)` of the article).
    pub fn with_alpha<F: Float>(alpha: F) -> Result<LeakyReluWithAlpha<F>> {
        if !(alpha >= F::zero() && alpha < F::one()) {
            return Err(Error::InvalidHyperparameter {
                name: "alpha",
                value: alpha.as_f64(),
                reason: "LeakyReLU's slope must be in [0, 1)",
            });
        }
        Ok(LeakyReluWithAlpha { alpha })
    }
}

impl<F: Float> Activation<F> for LeakyRelu {
    #[inline(always)]
    fn f(&self, y: F) -> F {
        leaky_relu(y, F::from_f64(Self::ALPHA))
    }

    #[inline(always)]
    fn df(&self, y: F) -> F {
        leaky_relu_df(y, F::from_f64(Self::ALPHA))
    }

    fn name(&self) -> String {
        format!("leaky_relu({})", F::from_f64(Self::ALPHA))
    }

    fn clone_box(&self) -> Box<dyn Activation<F>> {
        Box::new(*self)
    }
}

/// Leaky rectified linear unit with a slope of one's own, made by
/// [`LeakyRelu::with_alpha`].
///
/// `f(y) = max(y, alpha·y)` and `df(y) = 1 if y > 0 else alpha`, for `0 ≤ alpha < 1`.
/// At `y = 0` the derivative is taken as `alpha`, as the original does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyReluWithAlpha<F> {
    alpha: F,
}

impl<F: Float> LeakyReluWithAlpha<F> {
    /// The slope for negative inputs.
    pub fn alpha(&self) -> F {
        self.alpha
    }
}

impl<F: Float> Activation<F> for LeakyReluWithAlpha<F> {
    #[inline(always)]
    fn f(&self, y: F) -> F {
        leaky_relu(y, self.alpha)
    }

    #[inline(always)]
    fn df(&self, y: F) -> F {
        leaky_relu_df(y, self.alpha)
    }

    fn name(&self) -> String {
        format!("leaky_relu({})", self.alpha)
    }

    fn clone_box(&self) -> Box<dyn Activation<F>> {
        Box::new(*self)
    }
}

/// `max(y, alpha·y)` for `0 ≤ alpha < 1`, written as the original's branch.
#[inline(always)]
fn leaky_relu<F: Float>(y: F, alpha: F) -> F {
    if y > F::zero() {
        y
    } else {
        alpha * y
    }
}

/// `1 if y > 0 else alpha`.
#[inline(always)]
fn leaky_relu_df<F: Float>(y: F, alpha: F) -> F {
    if y > F::zero() {
        F::one()
    } else {
        alpha
    }
}

/// Rectified linear unit: `f(y) = max(y, 0)`, `df(y) = 1 if y > 0 else 0`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relu;

impl<F: Float> Activation<F> for Relu {
    #[inline(always)]
    fn f(&self, y: F) -> F {
        if y > F::zero() {
            y
        } else {
            F::zero()
        }
    }

    #[inline(always)]
    fn df(&self, y: F) -> F {
        if y > F::zero() {
            F::one()
        } else {
            F::zero()
        }
    }

    fn name(&self) -> String {
        "relu".into()
    }

    fn clone_box(&self) -> Box<dyn Activation<F>> {
        Box::new(*self)
    }
}

/// The logistic sigmoid: `f(y) = 1/(1+e^-y)`, `df(y) = f(y)(1-f(y))`.
///
/// Evaluated without overflow for any `y`: for `y < 0` it uses the equal form
/// `e^y/(1+e^y)`, so the exponential never exceeds 1. The backward pass takes the
/// derivative from the cached output, `a(1-a)`, with no exponential at all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sigmoid;

impl<F: Float> Activation<F> for Sigmoid {
    #[inline(always)]
    fn f(&self, y: F) -> F {
        if y >= F::zero() {
            F::one() / (F::one() + (-y).exp())
        } else {
            let e = y.exp();
            e / (F::one() + e)
        }
    }

    #[inline(always)]
    fn df(&self, y: F) -> F {
        let a = self.f(y);
        a * (F::one() - a)
    }

    #[inline(always)]
    fn df_given_output(&self, _y: F, a: F) -> F {
        a * (F::one() - a)
    }

    fn name(&self) -> String {
        "sigmoid".into()
    }

    fn clone_box(&self) -> Box<dyn Activation<F>> {
        Box::new(*self)
    }
}

/// Hyperbolic tangent: `f(y) = tanh(y)`, `df(y) = 1 - tanh(y)²`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tanh;

impl<F: Float> Activation<F> for Tanh {
    #[inline(always)]
    fn f(&self, y: F) -> F {
        y.tanh()
    }

    #[inline(always)]
    fn df(&self, y: F) -> F {
        let a = y.tanh();
        F::one() - a * a
    }

    #[inline(always)]
    fn df_given_output(&self, _y: F, a: F) -> F {
        F::one() - a * a
    }

    fn name(&self) -> String {
        "tanh".into()
    }

    fn clone_box(&self) -> Box<dyn Activation<F>> {
        Box::new(*self)
    }
}

/// The identity: `f(y) = y`, `df(y) = 1`. For output layers that feed raw values (logits)
/// to a loss, such as cross-entropy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Identity;

impl<F: Float> Activation<F> for Identity {
    #[inline(always)]
    fn f(&self, y: F) -> F {
        y
    }

    #[inline(always)]
    fn df(&self, _y: F) -> F {
        F::one()
    }

    fn name(&self) -> String {
        "identity".into()
    }

    fn clone_box(&self) -> Box<dyn Activation<F>> {
        Box::new(*self)
    }
}

/// Rebuilds an activation from the name its [`Activation::name`] gives: `"relu"`,
/// `"sigmoid"`, `"tanh"`, `"identity"`, `"leaky_relu"` (alpha 0.1) or
/// `"leaky_relu(ALPHA)"`.
///
/// # Errors
/// [`Error::Unknown`] for any other name, and LeakyReLU's error for an invalid alpha.
pub fn parse_activation<F: Float>(name: &str) -> Result<Box<dyn Activation<F>>> {
    let unknown = || Error::Unknown {
        kind: "activation",
        name: name.to_string(),
    };
    Ok(match name.trim() {
        "relu" => Box::new(Relu),
        "sigmoid" => Box::new(Sigmoid),
        "tanh" => Box::new(Tanh),
        "identity" => Box::new(Identity),
        "leaky_relu" => Box::new(LeakyRelu),
        other => {
            let alpha = other
                .strip_prefix("leaky_relu(")
                .and_then(|rest| rest.strip_suffix(')'))
                .and_then(|a| F::from_str_radix(a.trim(), 10).ok())
                .ok_or_else(unknown)?;
            // Parsed in F itself: an f32 slope read through f64 could round twice.
            Box::new(LeakyRelu::with_alpha(alpha)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    /// Central finite difference of `f` at `y`, in f64.
    fn numeric_df(act: &dyn Activation<f64>, y: f64) -> f64 {
        let h = 1e-6;
        (act.f(y + h) - act.f(y - h)) / (2.0 * h)
    }

    fn all() -> Vec<Box<dyn Activation<f64>>> {
        vec![
            Box::new(LeakyRelu),
            Box::new(LeakyRelu::with_alpha(0.3).unwrap()),
            Box::new(Relu),
            Box::new(Sigmoid),
            Box::new(Tanh),
            Box::new(Identity),
        ]
    }

    #[test]
    fn df_matches_finite_differences() {
        // Points away from the kink at 0, where ReLU-likes have no derivative.
        let points = [-7.5, -2.0, -0.3, -1e-3, 1e-3, 0.25, 1.0, 3.7, 12.0];
        for act in all() {
            for &y in &points {
                let numeric = numeric_df(act.as_ref(), y);
                assert_relative_eq!(act.df(y), numeric, epsilon = 1e-8, max_relative = 1e-6);
                assert_relative_eq!(
                    act.df_given_output(y, act.f(y)),
                    numeric,
                    epsilon = 1e-8,
                    max_relative = 1e-6
                );
            }
        }
    }

    #[test]
    fn leaky_relu_is_the_articles() {
        let act: &dyn Activation<f64> = &LeakyRelu;
        assert_eq!(act.f(2.0), 2.0);
        assert_eq!(act.f(-2.0), -0.2);
        assert_eq!(act.df(0.0), 0.1);
        assert_eq!(act.df(1e-300), 1.0);
        assert_eq!(act.name(), "leaky_relu(0.1)");
        // In f32 the slope is 0.1f32 and its name the same as in f64, as files expect.
        assert_eq!(Activation::<f32>::f(&LeakyRelu, -1.0), -0.1f32);
        assert_eq!(Activation::<f32>::name(&LeakyRelu), "leaky_relu(0.1)");
        assert!(LeakyRelu::with_alpha(1.5f64).is_err());
        assert!(LeakyRelu::with_alpha(1.0f64).is_err());
        assert!(LeakyRelu::with_alpha(-0.1f64).is_err());
        assert!(LeakyRelu::with_alpha(f64::NAN).is_err());
        let custom = LeakyRelu::with_alpha(0.25f64).unwrap();
        assert_eq!(custom.alpha(), 0.25);
        assert_eq!(
            (custom.f(-2.0), custom.df(-2.0), custom.df(0.0)),
            (-0.5, 0.25, 0.25)
        );
        assert_eq!((custom.f(3.0), custom.df(3.0)), (3.0, 1.0));
        assert_eq!(LeakyRelu::with_alpha(0.0f32).unwrap().f(-5.0), 0.0);
    }

    #[test]
    fn relu_takes_the_derivative_0_at_its_kink() {
        // PyTorch's convention: df(0) = 0, so a unit at exactly 0 passes no gradient.
        assert_eq!(Activation::<f64>::df(&Relu, 0.0), 0.0);
        assert_eq!(Activation::<f64>::df(&Relu, 1e-300), 1.0);
        assert_eq!(Activation::<f64>::f(&Relu, -3.0), 0.0);
    }

    #[test]
    fn sigmoid_does_not_overflow() {
        for y in [-1e4f32, -100.0, 100.0, 1e4, f32::MAX, f32::MIN] {
            let a = Sigmoid.f(y);
            assert!(a.is_finite() && (0.0..=1.0).contains(&a), "f({y}) = {a}");
            assert!(Activation::<f32>::df(&Sigmoid, y).is_finite());
        }
        assert_eq!(Activation::<f64>::f(&Sigmoid, 0.0), 0.5);
    }

    #[test]
    fn names_round_trip_through_parse() {
        for act in all() {
            let parsed = parse_activation::<f64>(&act.name()).unwrap();
            assert_eq!(parsed.name(), act.name());
            for y in [-1.5, 0.7] {
                assert_eq!(parsed.f(y), act.f(y));
            }
        }
        assert!(matches!(
            parse_activation::<f32>("softplus"),
            Err(Error::Unknown { .. })
        ));
        assert!(parse_activation::<f32>("leaky_relu(2)").is_err());
    }
}
