//! Stochastic gradient descent, the original's update rule, with optional momentum,
//! Nesterov momentum and L2 weight decay.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use nn_core::{Float, Result};

use crate::hyperparameter::{check_hyperparameter, check_learning_rate};
use crate::optimizer::{zip2, zip3, Optimizer};

/// Stochastic gradient descent.
///
/// Plain, as the original: `θ ← θ - learning_rate·g`. With weight decay `λ`, momentum `μ`
/// and a velocity `v` kept per parameter (PyTorch's formulation):
///
/// - `g ← g + λ·θ`
/// - `v ← μ·v + g`
/// - `θ ← θ - learning_rate·v`, or with Nesterov momentum `θ ← θ - learning_rate·(g + μ·v)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd<F> {
    learning_rate: F,
    momentum: F,
    nesterov: bool,
    weight_decay: F,
}

impl<F: Float> Sgd<F> {
    /// Plain SGD with the given learning rate.
    ///
    /// # Errors
    /// [`nn_core::Error::InvalidHyperparameter`] unless `learning_rate` is finite and
    /// positive.
    pub fn new(learning_rate: F) -> Result<Self> {
        check_learning_rate(learning_rate)?;
        Ok(Sgd {
            learning_rate,
            momentum: F::zero(),
            nesterov: false,
            weight_decay: F::zero(),
        })
    }

    /// The same optimizer with momentum `μ` in `[0, 1)`.
    ///
    /// # Errors
    /// [`nn_core::Error::InvalidHyperparameter`] for `μ` outside `[0, 1)`.
    pub fn with_momentum(mut self, momentum: F) -> Result<Self> {
        check_hyperparameter(
            "momentum",
            momentum,
            |m| (0.0..1.0).contains(&m),
            "must be in [0, 1)",
        )?;
        self.momentum = momentum;
        Ok(self)
    }

    /// The same optimizer with Nesterov momentum (which needs a non-zero momentum to
    /// matter).
    pub fn with_nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    /// The same optimizer with L2 weight decay `λ ≥ 0` (added to the gradient as `λ·θ`).
    ///
    /// # Errors
    /// [`nn_core::Error::InvalidHyperparameter`] for a negative or non-finite `λ`.
    pub fn with_weight_decay(mut self, weight_decay: F) -> Result<Self> {
        check_hyperparameter(
            "weight_decay",
            weight_decay,
            |w| w >= 0.0,
            "must be finite and non-negative",
        )?;
        self.weight_decay = weight_decay;
        Ok(self)
    }

    /// The momentum `μ` (0 for plain SGD).
    pub fn momentum(&self) -> F {
        self.momentum
    }
}

impl<F: Float> Optimizer<F> for Sgd<F> {
    fn name(&self) -> String {
        let mut name = format!("sgd(lr={}", self.learning_rate);
        if self.momentum > F::zero() {
            name += &format!(", momentum={}", self.momentum);
            if self.nesterov {
                name += ", nesterov";
            }
        }
        if self.weight_decay > F::zero() {
            name += &format!(", weight_decay={}", self.weight_decay);
        }
        name + ")"
    }

    fn clone_box(&self) -> Box<dyn Optimizer<F>> {
        Box::new(*self)
    }

    fn learning_rate(&self) -> F {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, learning_rate: F) -> Result<()> {
        check_learning_rate(learning_rate)?;
        self.learning_rate = learning_rate;
        Ok(())
    }

    fn state_buffers(&self) -> usize {
        usize::from(self.momentum > F::zero())
    }

    fn step(
        &self,
        parameter: ArrayViewMut2<'_, F>,
        gradient: ArrayView2<'_, F>,
        state: &mut [Array2<F>],
        _step: u64,
        gradient_scale: F,
    ) {
        let (lr, decay, mu) = (self.learning_rate, self.weight_decay, self.momentum);
        match state {
            [] => zip2(parameter, gradient, |p, g| {
                let g = g * gradient_scale + decay * *p;
                *p -= lr * g;
            }),
            [velocity] => {
                let nesterov = self.nesterov;
                zip3(parameter, gradient, velocity.view_mut(), |p, g, v| {
                    let g = g * gradient_scale + decay * *p;
                    *v = mu * *v + g;
                    *p -= lr * if nesterov { g + mu * *v } else { *v };
                })
            }
            _ => panic!("SGD takes at most one state buffer"),
        }
    }

    /// With `g ≤ gradient_scale·|g| + λ·|θ|`: plain `|θ'| ≤ |θ| + lr·g`; with momentum
    /// `|v'| ≤ μ·|v| + g` and `|θ'| ≤ |θ| + lr·|v'|` (Nesterov: `lr·(g + μ·|v'|)`).
    fn bound_after_step(
        &self,
        parameter: F,
        gradient: F,
        state: &mut [F],
        _step: u64,
        gradient_scale: F,
    ) -> Option<F> {
        let (lr, mu) = (self.learning_rate, self.momentum);
        let g = gradient * gradient_scale + self.weight_decay * parameter;
        match state {
            [] => Some(parameter + lr * g),
            [velocity] => {
                *velocity = mu * *velocity + g;
                let v = *velocity;
                Some(parameter + lr * if self.nesterov { g + mu * v } else { v })
            }
            _ => None,
        }
    }

    fn plain_learning_rate(&self) -> Option<F> {
        (self.momentum == F::zero() && self.weight_decay == F::zero()).then_some(self.learning_rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use nn_core::Error;

    #[test]
    fn plain_step_subtracts_learning_rate_times_gradient() {
        let sgd = Sgd::new(0.5f64).unwrap();
        let mut w = array![[1.0, 2.0]];
        sgd.step(w.view_mut(), array![[2.0, -4.0]].view(), &mut [], 1, 1.0);
        assert_eq!(w, array![[0.0, 4.0]]);
        assert_eq!(sgd.plain_learning_rate(), Some(0.5));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                Sgd::new(bad),
                Err(Error::InvalidHyperparameter {
                    name: "learning_rate",
                    ..
                })
            ));
        }
        assert!(Sgd::new(0.1f32).unwrap().with_momentum(1.0).is_err());
        assert!(Sgd::new(0.1f32).unwrap().with_weight_decay(-1.0).is_err());
    }

    #[test]
    fn names_getters_and_state_buffers_say_what_the_optimizer_is() {
        let plain = Sgd::new(0.5f64).unwrap();
        assert_eq!(plain.name(), "sgd(lr=0.5)");
        assert_eq!((plain.momentum(), plain.state_buffers()), (0.0, 0));
        // Nesterov without momentum is plain SGD, and says so.
        assert_eq!(plain.with_nesterov(true).name(), "sgd(lr=0.5)");
        let heavy = plain.with_momentum(0.9).unwrap();
        assert_eq!(heavy.name(), "sgd(lr=0.5, momentum=0.9)");
        assert_eq!((heavy.momentum(), heavy.state_buffers()), (0.9, 1));
        assert_eq!(
            heavy.with_nesterov(true).name(),
            "sgd(lr=0.5, momentum=0.9, nesterov)"
        );
        let decayed = heavy.with_weight_decay(0.01).unwrap();
        assert_eq!(
            decayed.name(),
            "sgd(lr=0.5, momentum=0.9, weight_decay=0.01)"
        );
        let decay_only = plain.with_weight_decay(0.01).unwrap();
        assert_eq!(decay_only.name(), "sgd(lr=0.5, weight_decay=0.01)");
        assert_eq!(decay_only.state_buffers(), 0);
        assert_eq!(decay_only.plain_learning_rate(), None);
    }

    #[test]
    fn bounds_are_exact_while_the_step_moves_away_from_zero() {
        // θ < 0 and g > 0 of constant sign: every step moves θ away from 0 by exactly the
        // bound's increment, and the velocity is its bound.
        for nesterov in [false, true] {
            let sgd = Sgd::new(0.1f64)
                .unwrap()
                .with_momentum(0.5)
                .unwrap()
                .with_nesterov(nesterov);
            let mut p = array![[-1.0]];
            let mut state = [Array2::zeros((1, 1))];
            let (mut bound, mut velocity) = (1.0, [0.0]);
            for t in 1..=3 {
                let g = 2.0 * f64::from(t as u32);
                bound = sgd
                    .bound_after_step(bound, g, &mut velocity, t, 1.0)
                    .unwrap();
                sgd.step(p.view_mut(), array![[g]].view(), &mut state, t, 1.0);
                approx::assert_relative_eq!(velocity[0], state[0][(0, 0)], max_relative = 1e-14);
                approx::assert_relative_eq!(bound, -p[(0, 0)], max_relative = 1e-14);
            }
        }
    }

    #[test]
    fn momentum_matches_pytorch_formulation() {
        // Two steps with g = 1, μ = 0.9, lr = 0.1: v = 1 then 1.9; θ = 1 - 0.1 - 0.19.
        // Nesterov: θ -= lr·(g + μ·v) = 0.1·1.9 then 0.1·2.71.
        for (nesterov, expected) in [(false, 1.0 - 0.1 - 0.19), (true, 1.0 - 0.19 - 0.271)] {
            let sgd = Sgd::new(0.1f64)
                .unwrap()
                .with_momentum(0.9)
                .unwrap()
                .with_nesterov(nesterov);
            assert_eq!(sgd.state_buffers(), 1);
            assert_eq!(sgd.plain_learning_rate(), None);
            let mut p = array![[1.0]];
            let mut state = [Array2::zeros((1, 1))];
            for t in 1..=2 {
                sgd.step(p.view_mut(), array![[1.0]].view(), &mut state, t, 1.0);
            }
            approx::assert_abs_diff_eq!(p[(0, 0)], expected, epsilon = 1e-12);
        }
        // Weight decay adds λ·θ to the gradient; the gradient scale multiplies g only.
        let sgd = Sgd::new(0.1f64).unwrap().with_weight_decay(0.5).unwrap();
        let mut p = array![[2.0]];
        sgd.step(p.view_mut(), array![[4.0]].view(), &mut [], 1, 0.5);
        approx::assert_abs_diff_eq!(p[(0, 0)], 2.0 - 0.1 * (2.0 + 1.0), epsilon = 1e-12);
    }
}
