//! Dropout: in training, each input of a layer is dropped (set to 0) with probability
//! `rate` and the others are scaled by `1/(1 - rate)`, so that no unit can rely on
//! another being there; in inference nothing is dropped and nothing is scaled.

use ndarray::{ArrayView2, ArrayViewMut2, Zip};
use nn_core::{Error, Float, Result};
use rand::distr::{Bernoulli, Distribution};
use rand::Rng;

/// Inverted dropout on a layer's inputs, with the probability `rate` of dropping each.
///
/// In a training step a mask `m` is drawn with one entry per input and sample:
/// `m = 1/(1 - rate)` with probability `1 - rate` and `m = 0` otherwise, so that
/// `E[m] = 1`. The layer then computes `y = W·(m ⊙ x) + b`:
///
/// - forward: `x̃ = m ⊙ x`, and the layer goes on with `x̃`;
/// - backward: `dW = delta·x̃ᵀ` (the dropped inputs took no part), and
///   `dx = m ⊙ (Wᵀ·delta)`, since `∂x̃/∂x = m` entry by entry.
///
/// Because the kept inputs are scaled in training ("inverted" dropout), inference uses the
/// layer as it is: `forward_pass`, `predict` and `evaluate` never drop. On the first
/// layer this is input dropout (0.2 in the dropout paper); on another, it drops units of
/// the layer before, as PyTorch's `Sequential(…, Dropout(rate), Linear(…))` does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    rate: f64,
    keep: Bernoulli,
}

impl Dropout {
    /// Dropout with probability `rate` of dropping each input.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] unless `0 ≤ rate < 1` (with `rate = 1` every
    /// input would be dropped and the scale `1/(1 - rate)` infinite).
    pub fn new(rate: f64) -> Result<Self> {
        let invalid = || Error::InvalidHyperparameter {
            name: "dropout",
            value: rate,
            reason: "the probability of dropping an input must be in [0, 1)",
        };
        if !(0.0..1.0).contains(&rate) {
            return Err(invalid());
        }
        let keep = Bernoulli::new(1.0 - rate).map_err(|_| invalid())?;
        Ok(Dropout { rate, keep })
    }

    /// The probability of dropping each input.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The factor the kept inputs are multiplied by in training, `1/(1 - rate)`.
    pub fn scale<F: Float>(&self) -> F {
        F::one() / (F::one() - F::from_f64(self.rate))
    }

    /// Draws a mask into `mask`: each entry [`Dropout::scale`] with probability
    /// `1 - rate`, else 0, entry by entry in row-major order from `rng`.
    ///
    /// # Shapes
    /// `mask` is `(ins, batch)`, one column per sample.
    pub fn draw_mask<F: Float, R: Rng + ?Sized>(&self, mask: ArrayViewMut2<'_, F>, rng: &mut R) {
        let scale = self.scale::<F>();
        let mut mask = mask;
        for m in mask.iter_mut() {
            *m = if self.keep.sample(rng) {
                scale
            } else {
                F::zero()
            };
        }
    }

    /// Forward: `x̃ = m ⊙ x` into `dropped`.
    ///
    /// # Shapes
    /// `mask`, `x` and `dropped` are `(ins, batch)`.
    ///
    /// # Panics
    /// If the shapes differ (a broken invariant of the caller, which sizes the buffers).
    pub fn forward_into<F: Float>(
        mask: ArrayView2<'_, F>,
        x: ArrayView2<'_, F>,
        dropped: ArrayViewMut2<'_, F>,
    ) {
        Zip::from(dropped)
            .and(mask)
            .and(x)
            .for_each(|d, &m, &x| *d = m * x);
    }

    /// Backward: `dx = m ⊙ dx̃`, in place, from `dx̃ = Wᵀ·delta`, the gradient with
    /// respect to the dropped input.
    ///
    /// # Shapes
    /// `mask` and `dx` are `(ins, batch)`.
    ///
    /// # Panics
    /// If the shapes differ.
    pub fn backward_in_place<F: Float>(mask: ArrayView2<'_, F>, dx: ArrayViewMut2<'_, F>) {
        Zip::from(dx).and(mask).for_each(|dx, &m| *dx *= m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn the_rate_must_be_a_probability_below_1() {
        for rate in [1.0, 1.5, -0.1, f64::NAN, f64::INFINITY] {
            assert!(
                matches!(
                    Dropout::new(rate),
                    Err(Error::InvalidHyperparameter {
                        name: "dropout",
                        ..
                    })
                ),
                "{rate}"
            );
        }
        let dropout = Dropout::new(0.75).unwrap();
        assert_eq!(dropout.rate(), 0.75);
        assert_eq!(dropout.scale::<f64>(), 4.0);
        assert_eq!(Dropout::new(0.0).unwrap().scale::<f32>(), 1.0);
    }

    #[test]
    fn a_mask_keeps_one_minus_rate_scaled_by_its_inverse() {
        let dropout = Dropout::new(0.3).unwrap();
        let mut mask = Array2::<f64>::zeros((100, 200));
        dropout.draw_mask(mask.view_mut(), &mut StdRng::seed_from_u64(7));
        let scale = 1.0 / 0.7;
        assert!(mask.iter().all(|&m| m == 0.0 || m == scale));
        let kept = mask.iter().filter(|&&m| m != 0.0).count() as f64 / 20_000.0;
        // 20 000 draws: the standard deviation of the fraction is 0.0032.
        assert!((kept - 0.7).abs() < 0.015, "kept {kept}");
        // E[m] = 1: the mean of the mask is 1 within the same error, scaled.
        assert!((mask.mean().unwrap() - 1.0).abs() < 0.015 * scale);
        // The same generator state draws the same mask.
        let mut again = Array2::<f64>::zeros((100, 200));
        dropout.draw_mask(again.view_mut(), &mut StdRng::seed_from_u64(7));
        assert_eq!(mask, again);
        // No dropout keeps everything, unscaled.
        let mut none = Array2::<f32>::zeros((3, 4));
        Dropout::new(0.0)
            .unwrap()
            .draw_mask(none.view_mut(), &mut StdRng::seed_from_u64(1));
        assert!(none.iter().all(|&m| m == 1.0));
    }

    #[test]
    fn forward_and_backward_multiply_by_the_mask() {
        let mask = array![[2.0, 0.0], [0.0, 2.0]];
        let x = array![[1.5, -3.0], [4.0, 0.25]];
        let mut dropped = Array2::zeros((2, 2));
        Dropout::forward_into(mask.view(), x.view(), dropped.view_mut());
        assert_eq!(dropped, array![[3.0, 0.0], [0.0, 0.5]]);
        let mut dx = array![[1.0, 1.0], [-2.0, 5.0]];
        Dropout::backward_in_place(mask.view(), dx.view_mut());
        assert_eq!(dx, array![[2.0, 0.0], [0.0, 10.0]]);
    }
}
