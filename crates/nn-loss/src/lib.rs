//! Loss functions of `nn`: [`Mse`] and [`CrossEntropy`], and [`parse_loss`].
//!
//! # Design
//!
//! A loss implements [`Loss`]: the mean loss over a batch and its gradient
//! with respect to the network's output, `dloss`, in the article's vocabulary. Targets are
//! a [`Target`]: a matrix of values or one class index per sample; both
//! losses accept both (MSE compares with one-hot columns, cross-entropy reads values as
//! probabilities, which is what distilling a teacher needs).
//!
//! # Example
//!
//! ```
//! use ndarray::array;
//! use nn_core::{Loss, Target};
//! use nn_loss::CrossEntropy;
//!
//! // Two samples (columns) of three logits each, of classes 0 and 2.
//! let logits = array![[2.0f32, 1e4], [1.0, -1e4], [0.1, 1e4]];
//! let loss = CrossEntropy.loss(logits.view(), Target::Classes(&[0, 2]))?;
//! assert!(loss.is_finite()); // no overflow, even at ±1e4
//! # Ok::<(), nn_core::Error>(())
//! ```
#![deny(missing_docs)]

mod cross_entropy;
mod mse;

pub use cross_entropy::{log_sum_exp, softmax_into, CrossEntropy};
pub use mse::Mse;
#[doc(no_inline)]
pub use nn_core::ndarray;
/// Re-exported from `nn_core`, so that this crate's users (and its documentation's
/// links, which then resolve within this crate whatever order the crates are documented
/// in) need not name that crate: the types its API takes and returns.
pub use nn_core::{Error, Float, Loss, Result, Target};

/// Rebuilds a loss from the name its [`Loss::name`] gives: `"mse"` or `"cross_entropy"`.
///
/// # Errors
/// [`Error::Unknown`] for any other name.
pub fn parse_loss<F: Float>(name: &str) -> Result<Box<dyn Loss<F>>> {
    match name.trim() {
        "mse" => Ok(Box::new(Mse)),
        "cross_entropy" => Ok(Box::new(CrossEntropy)),
        other => Err(Error::Unknown {
            kind: "loss",
            name: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use ndarray::{array, Array2};
    use nn_core::{Init, Target};
    use rand::{rngs::StdRng, SeedableRng};

    /// Checks `dloss` against central finite differences of `loss`, entry by entry, in f64.
    /// It calls the unchecked `evaluate` and `gradient_into`, so that the formulas are also
    /// proven on targets that the checked entry points refuse (cross-entropy on columns
    /// that do not sum to 1).
    fn check_gradient(loss: &dyn Loss<f64>, values: &Array2<f64>, target: Target<'_, f64>) {
        let mut grad = Array2::zeros(values.dim());
        loss.gradient_into(values.view(), target, grad.view_mut());
        let h = 1e-6;
        for ((i, j), &g) in grad.indexed_iter() {
            let (mut plus, mut minus) = (values.clone(), values.clone());
            plus[(i, j)] += h;
            minus[(i, j)] -= h;
            let numeric = (loss.evaluate(plus.view(), target)
                - loss.evaluate(minus.view(), target))
                / (2.0 * h);
            assert_relative_eq!(g, numeric, epsilon = 1e-9, max_relative = 1e-6);
        }
    }

    fn random(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
        Init::HeNormal
            .weights(rows, cols, &mut StdRng::seed_from_u64(seed))
            .unwrap()
            * 3.0
    }

    #[test]
    fn dloss_matches_finite_differences() {
        let values = random(4, 3, 1);
        let targets = random(4, 3, 2);
        let mut probabilities = targets.mapv(f64::exp);
        for mut column in probabilities.columns_mut() {
            let total = column.sum();
            column /= total;
        }
        let classes = [3, 0, 2];
        for loss in [&Mse as &dyn Loss<f64>, &CrossEntropy] {
            // The checked gradient is the unchecked one.
            let checked = loss
                .dloss(values.view(), Target::Classes(&classes))
                .unwrap();
            let mut unchecked = Array2::zeros(values.dim());
            loss.gradient_into(
                values.view(),
                Target::Classes(&classes),
                unchecked.view_mut(),
            );
            assert_eq!(checked, unchecked);
            check_gradient(loss, &values, Target::Classes(&classes));
            check_gradient(loss, &values, Target::Values(probabilities.view()));
            // Unnormalised targets too: the gradient formula must not assume Σt = 1.
            check_gradient(loss, &values, Target::Values(targets.view()));
        }
    }

    #[test]
    fn mse_is_the_original_mean_of_squares() {
        let v = array![[1.0], [2.0], [3.0]];
        let t = array![[1.0], [0.0], [0.0]];
        // ((0)² + 2² + 3²)/3 and 2(v - t)/3.
        assert_relative_eq!(
            Mse.loss(v.view(), Target::Values(t.view())).unwrap(),
            13.0 / 3.0
        );
        let g = Mse.dloss(v.view(), Target::Values(t.view())).unwrap();
        assert_relative_eq!(g, array![[0.0], [4.0 / 3.0], [2.0]], epsilon = 1e-12);
        // A class target is its one-hot column.
        assert_relative_eq!(
            Mse.loss(v.view(), Target::Classes(&[0])).unwrap(),
            13.0 / 3.0
        );
    }

    #[test]
    fn cross_entropy_matches_reference_values() {
        // Reference, from Python's math module in f64:
        // v = [2.0, 1.0, 0.1]; math.log(sum(math.exp(x) for x in v)) - v[0]
        // = 0.4170300162778333 (PyTorch's f32 cross_entropy gives 0.41703).
        let v = array![[2.0], [1.0], [0.1]];
        let l = CrossEntropy.loss(v.view(), Target::Classes(&[0])).unwrap();
        assert_relative_eq!(l, 0.4170300162778333, epsilon = 1e-14);
    }

    #[test]
    fn cross_entropy_is_stable_for_huge_logits_in_f32() {
        let v = array![[1e4f32, -1e4], [-1e4, 1e4], [0.0, 1e4]];
        let target = Target::Classes(&[1, 0]);
        let l = CrossEntropy.loss(v.view(), target).unwrap();
        assert!(l.is_finite());
        // Column 0 is class 1 at -1e4 against 1e4: loss 2e4; column 1 has two equal
        // maxima of 1e4 and class 0 at -1e4: loss 2e4 + ln 2.
        assert_relative_eq!(l, (2e4 + 2e4 + 2f32.ln()) / 2.0, max_relative = 1e-6);
        let g = CrossEntropy.dloss(v.view(), target).unwrap();
        assert!(g.iter().all(|x| x.is_finite()));
        let p = array![[0.5f32, 0.0], [0.5, 0.0], [0.0, 1.0]];
        assert!(CrossEntropy
            .loss(v.view(), Target::Values(p.view()))
            .unwrap()
            .is_finite());
    }

    #[test]
    fn checked_entry_points_reject_bad_targets() {
        let v = array![[1.0f64], [2.0]];
        assert!(matches!(
            CrossEntropy.loss(v.view(), Target::Classes(&[2])),
            Err(Error::ClassOutOfRange {
                class: 2,
                classes: 2,
                ..
            })
        ));
        assert!(matches!(
            Mse.dloss(v.view(), Target::Classes(&[0, 1])),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            Mse.loss(Array2::<f64>::zeros((2, 0)).view(), Target::Classes(&[])),
            Err(Error::EmptyBatch { .. })
        ));
        assert!(parse_loss::<f32>("hinge").is_err());
        assert_eq!(parse_loss::<f32>("mse").unwrap().name(), "mse");
        assert_eq!(
            parse_loss::<f64>("cross_entropy").unwrap().name(),
            "cross_entropy"
        );
    }

    #[test]
    fn cross_entropy_value_targets_sum_to_one_within_the_square_root_of_epsilon() {
        // In f64 the tolerance √ε = 2^-26 is exact, and so are these sums.
        let check = |rows: &[f64]| {
            let t = Array2::from_shape_vec((rows.len(), 1), rows.to_vec()).unwrap();
            CrossEntropy.check_target(Target::Values(t.view()))
        };
        let tolerance = 2f64.powi(-26);
        for ok in [
            [1.0, 0.0],
            [0.25, 0.75],
            [1.0, tolerance],
            [1.0 - tolerance, 0.0],
        ] {
            assert!(check(&ok).is_ok(), "{ok:?}");
        }
        for bad in [[1.0, 2.0 * tolerance], [0.5, 0.0], [1.5, -0.5], [0.0, 0.0]] {
            assert!(
                matches!(check(&bad), Err(Error::InvalidTarget { column: 0, .. })),
                "{bad:?}"
            );
        }
        // Classes are checked elsewhere (Target::check): nothing to refuse here.
        assert!(CrossEntropy
            .check_target(Target::<f64>::Classes(&[7]))
            .is_ok());
    }
}
