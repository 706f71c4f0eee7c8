//! Cross-entropy on logits, numerically stable, with class or probability targets.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip};
use nn_core::{Error, Float, Loss, Result, Target};

/// Cross-entropy on raw network outputs (logits), as PyTorch's `CrossEntropyLoss`.
///
/// For one sample with logits `v` and class `c`:
/// `loss = -v[c] + log(Σ_i e^{v_i})` and `dloss = softmax(v) - onehot(c)`.
///
/// With a [`Target::Values`] column `t` read as a probability distribution (for example a
/// teacher's softened output when distilling):
/// `loss = Σ_i t_i (log(Σ_j e^{v_j}) - v_i)` and `dloss = softmax(v)·Σ_i t_i - t`, which is
/// `softmax(v) - t` when `t` sums to 1.
///
/// On a batch of `B` columns the loss is the mean over samples and `dloss` carries the
/// factor `1/B`.
///
/// Unlike the original, which computes `e^{v_i}` directly and overflows to NaN on raw
/// pixels, it subtracts the column's maximum `m` first:
/// `log(Σ e^{v_i}) = m + log(Σ e^{v_i - m})`, so every exponential is at most 1 and the loss
/// is finite for any finite logits.
///
/// # Shapes
/// `values` is `(classes, B)`; a [`Target::Values`] target too.
#[doc(alias = "CrossEntropyLoss")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrossEntropy;

/// `log(Σ_i e^{v_i})` computed as `m + log(Σ_i e^{v_i - m})` with `m = max(v)`.
pub fn log_sum_exp<F: Float>(v: ArrayView1<'_, F>) -> F {
    let m = v.fold(F::neg_infinity(), |m, &x| m.max(x));
    if !m.is_finite() {
        // All -inf (or a +inf / NaN entry): nothing to stabilise, the answer is m itself.
        return m;
    }
    m + v.fold(F::zero(), |s, &x| s + (x - m).exp()).ln()
}

/// Writes `softmax(v)_i = e^{v_i - m} / Σ_j e^{v_j - m}` (with `m = max(v)`) into `out`.
///
/// # Panics
/// If `v` and `out` have different lengths.
pub fn softmax_into<F: Float>(v: ArrayView1<'_, F>, mut out: ArrayViewMut1<'_, F>) {
    let m = v.fold(F::neg_infinity(), |m, &x| m.max(x));
    Zip::from(&mut out)
        .and(v)
        .for_each(|o, &x| *o = (x - m).exp());
    let total = out.sum();
    out.mapv_inplace(|e| e / total);
}

impl<F: Float> Loss<F> for CrossEntropy {
    fn name(&self) -> String {
        "cross_entropy".into()
    }

    fn clone_box(&self) -> Box<dyn Loss<F>> {
        Box::new(*self)
    }

    /// Value targets must be probability distributions: every entry non-negative and each
    /// column summing to 1 within `√ε` of the float type (3.5e-4 in f32, 1.5e-8 in f64),
    /// which absorbs the rounding of a softmax or a one-hot column written out as floats.
    /// Anything else has no meaning as cross-entropy, and can make the loss negative.
    fn check_target(&self, target: Target<'_, F>) -> Result<()> {
        let Target::Values(t) = target else {
            return Ok(());
        };
        let tolerance = F::epsilon().sqrt();
        for (column, t) in t.axis_iter(Axis(1)).enumerate() {
            if let Some((row, &value)) = t.iter().enumerate().find(|(_, &p)| p < F::zero()) {
                return Err(Error::InvalidTarget {
                    column,
                    reason: format!(
                        "cross-entropy needs a probability distribution, but row {row} is {value}"
                    ),
                });
            }
            let sum = t.sum();
            if (sum - F::one()).abs() > tolerance {
                return Err(Error::InvalidTarget {
                    column,
                    reason: format!(
                        "cross-entropy needs a probability distribution, but the column sums to {sum}, not 1"
                    ),
                });
            }
        }
        Ok(())
    }

    fn evaluate(&self, values: ArrayView2<'_, F>, target: Target<'_, F>) -> F {
        let columns = values.axis_iter(Axis(1));
        let sum = match target {
            Target::Classes(classes) => columns
                .zip(classes)
                .map(|(v, &c)| log_sum_exp(v) - v[c])
                .fold(F::zero(), |s, l| s + l),
            Target::Values(t) => columns
                .zip(t.axis_iter(Axis(1)))
                .map(|(v, t)| {
                    let lse = log_sum_exp(v);
                    Zip::from(v)
                        .and(t)
                        .fold(F::zero(), |s, &v, &t| s + t * (lse - v))
                })
                .fold(F::zero(), |s, l| s + l),
        };
        sum / F::from_f64(values.ncols() as f64)
    }

    fn gradient_into(
        &self,
        values: ArrayView2<'_, F>,
        target: Target<'_, F>,
        mut grad: ArrayViewMut2<'_, F>,
    ) {
        let inv_batch = F::one() / F::from_f64(values.ncols() as f64);
        for (sample, (v, mut g)) in values
            .axis_iter(Axis(1))
            .zip(grad.axis_iter_mut(Axis(1)))
            .enumerate()
        {
            softmax_into(v, g.view_mut());
            match target {
                Target::Classes(classes) => {
                    g.mapv_inplace(|p| p * inv_batch);
                    g[classes[sample]] -= inv_batch;
                }
                Target::Values(t) => {
                    let t = t.column(sample);
                    let mass = t.sum();
                    Zip::from(&mut g)
                        .and(t)
                        .for_each(|g, &t| *g = (*g * mass - t) * inv_batch);
                }
            }
        }
    }
}
