//! The [`Activation`] trait: an elementwise function `f` and its derivative `df`.

use std::fmt;

use ndarray::{ArrayView2, ArrayViewMut2, Zip};

use crate::Float;

/// An elementwise activation function, in the article's vocabulary: `f(y)` and its
/// derivative `df(y)`, both taking the pre-activation `y = W·x + b`.
///
/// Implementors write the scalar `f` and `df`; the batched methods have default
/// implementations that loop over arrays with `Zip`, and because default methods are
/// compiled for each implementor, the scalar calls inside them are static and inlined.
/// Only the call of a batched method goes through the vtable, once per layer.
///
/// The trait is object safe, so a layer holds a `Box<dyn Activation<F>>`.
#[doc(alias = "ActivationFunction")]
pub trait Activation<F: Float>: fmt::Debug + Send + Sync {
    /// The activation `f(y)`.
    fn f(&self, y: F) -> F;

    /// The derivative `df(y) = f'(y)`.
    fn df(&self, y: F) -> F;

    /// The derivative given both the pre-activation `y` and the output `a = f(y)`.
    ///
    /// The backward pass has both at hand, and some derivatives are cheaper from the
    /// output: sigmoid's is `a(1-a)` with no exponential. The default returns `df(y)`.
    #[inline(always)]
    fn df_given_output(&self, y: F, a: F) -> F {
        let _ = a;
        self.df(y)
    }

    /// The name under which the activation is saved and parsed, with its parameters,
    /// e.g. `"sigmoid"` or `"leaky_relu(0.1)"`.
    fn name(&self) -> String;

    /// A boxed copy, so that layers holding a `Box<dyn Activation<F>>` can be cloned.
    fn clone_box(&self) -> Box<dyn Activation<F>>;

    /// Batched forward: `a = f(y)` entry by entry.
    ///
    /// # Shapes
    /// `y` and `a` are `(outs, batch)`.
    ///
    /// # Panics
    /// If the shapes differ (a broken invariant of the caller, which sizes both buffers).
    fn forward_into(&self, y: ArrayView2<'_, F>, mut a: ArrayViewMut2<'_, F>) {
        // Contiguous buffers of one shape (what layers pass) as plain slices: a `Zip` costs
        // more to set up than the whole loop on one sample's 16 entries.
        if y.dim() == a.dim() {
            if let (Some(ys), Some(as_)) = (y.as_slice(), a.as_slice_mut()) {
                as_.iter_mut().zip(ys).for_each(|(a, &y)| *a = self.f(y));
                return;
            }
        }
        Zip::from(a).and(y).for_each(|a, &y| *a = self.f(y));
    }

    /// Inference's forward through the activation, in place: `values` holds the
    /// pre-activations `y` and receives `a = f(y)`, keeping no `y` (only training needs
    /// it). Returns whether every pre-activation, and every output, was finite: one pass
    /// does the work and the finiteness check of both.
    ///
    /// Implementors that override [`Activation::forward_into`] (one call per batch rather
    /// than `f` per entry) should override this too; the default calls `f` per entry.
    ///
    /// # Shapes
    /// `values` is `(outs, batch)`.
    fn forward_in_place(&self, mut values: ArrayViewMut2<'_, F>) -> (bool, bool) {
        // Flags OR-ed without a branch: an integer reduction, which the compiler
        // vectorises (a sum of floats it may not reorder would chain every entry).
        let (mut pre, mut out) = (false, false);
        let mut step = |v: &mut F| {
            let y = *v;
            let a = self.f(y);
            pre |= !y.is_finite();
            out |= !a.is_finite();
            *v = a;
        };
        // Entry by entry, so in whatever order the entries lie in memory (inference's
        // outputs are column-major).
        match values.as_slice_memory_order_mut() {
            Some(values) => values.iter_mut().for_each(&mut step),
            None => values.iter_mut().for_each(&mut step),
        }
        (!pre, !out)
    }

    /// Batched backward through the activation: `delta = df(y) ⊙ upstream`, where
    /// `upstream = ∂L/∂a` and `delta = ∂L/∂y` (the article's `db` before it is summed over
    /// the batch).
    ///
    /// # Shapes
    /// All four arrays are `(outs, batch)`.
    ///
    /// # Panics
    /// If the shapes differ.
    fn backward_into(
        &self,
        y: ArrayView2<'_, F>,
        a: ArrayView2<'_, F>,
        upstream: ArrayView2<'_, F>,
        mut delta: ArrayViewMut2<'_, F>,
    ) {
        let dim = delta.dim();
        if y.dim() == dim && a.dim() == dim && upstream.dim() == dim {
            if let (Some(ys), Some(as_), Some(us), Some(ds)) = (
                y.as_slice(),
                a.as_slice(),
                upstream.as_slice(),
                delta.as_slice_mut(),
            ) {
                for (((d, &y), &a), &u) in ds.iter_mut().zip(ys).zip(as_).zip(us) {
                    *d = self.df_given_output(y, a) * u;
                }
                return;
            }
        }
        Zip::from(delta)
            .and(y)
            .and(a)
            .and(upstream)
            .for_each(|d, &y, &a, &u| *d = self.df_given_output(y, a) * u);
    }
}

impl<F: Float> Clone for Box<dyn Activation<F>> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}
