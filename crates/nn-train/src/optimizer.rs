//! The [`Optimizer`] trait: how a parameter moves given its gradient.

use std::fmt;

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Zip};
use nn_core::{Float, Result};

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
    /// [`Error::InvalidHyperparameter`](nn_core::Error::InvalidHyperparameter) unless it
    /// is finite and positive.
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

    /// Magnitude bounds after one step, which let training prove that an update cannot
    /// overflow without a pass over the parameters.
    ///
    /// Given bounds before the step, valid for every entry of a parameter matrix:
    /// `|θ| ≤ parameter`, `|g| ≤ gradient` (before `gradient_scale`) and
    /// `|s_k| ≤ state[k]` for each state buffer `k`, it overwrites `state[k]` with a bound
    /// of `|s_k|` after [`Optimizer::step`] with the same `step` and `gradient_scale`, and
    /// returns a bound of `|θ|` after it. The bounds may be loose; an infinite or NaN one
    /// means "no bound", and training then checks the step's result instead. The
    /// default returns `None`: training copies the parameters and states before every
    /// step and checks the result, which is always right but costs a pass over them.
    fn bound_after_step(
        &self,
        parameter: F,
        gradient: F,
        state: &mut [F],
        step: u64,
        gradient_scale: F,
    ) -> Option<F> {
        let _ = (parameter, gradient, state, step, gradient_scale);
        None
    }

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

/// The optimizer's state of one layer: [`Optimizer::state_buffers`] arrays of `W`'s
/// shape for the weights, and as many of `b`'s shape for the bias (a momentum buffer;
/// Adam's two moments).
#[derive(Clone, Debug)]
pub(crate) struct LayerState<F> {
    /// The state of `W`.
    pub(crate) weights: Vec<Array2<F>>,
    /// The state of `b`.
    pub(crate) bias: Vec<Array2<F>>,
}

// Elementwise loops of the optimizers. Parameters, gradients and states are contiguous
// arrays of one shape, so the loops run over plain slices, which the compiler vectorises
// (ndarray's `Zip` over three or four arrays does not); other layouts fall back to `Zip`.

/// Applies `f(p, g)` to every parameter entry and its gradient.
pub(crate) fn zip2<F: Float>(
    mut p: ArrayViewMut2<'_, F>,
    g: ArrayView2<'_, F>,
    f: impl Fn(&mut F, F),
) {
    if let (Some(ps), Some(gs)) = (p.as_slice_mut(), g.as_slice()) {
        if ps.len() == gs.len() {
            ps.iter_mut().zip(gs).for_each(|(p, &g)| f(p, g));
            return;
        }
    }
    Zip::from(p).and(g).for_each(|p, &g| f(p, g));
}

/// Applies `f(p, g, s)` with one state entry.
pub(crate) fn zip3<F: Float>(
    mut p: ArrayViewMut2<'_, F>,
    g: ArrayView2<'_, F>,
    mut s: ArrayViewMut2<'_, F>,
    f: impl Fn(&mut F, F, &mut F),
) {
    if let (Some(ps), Some(gs), Some(ss)) = (p.as_slice_mut(), g.as_slice(), s.as_slice_mut()) {
        if ps.len() == gs.len() && ps.len() == ss.len() {
            ps.iter_mut()
                .zip(gs)
                .zip(ss)
                .for_each(|((p, &g), s)| f(p, g, s));
            return;
        }
    }
    Zip::from(p).and(g).and(s).for_each(|p, &g, s| f(p, g, s));
}

/// Applies `f(p, g, s, t)` with two state entries.
pub(crate) fn zip4<F: Float>(
    mut p: ArrayViewMut2<'_, F>,
    g: ArrayView2<'_, F>,
    mut s: ArrayViewMut2<'_, F>,
    mut t: ArrayViewMut2<'_, F>,
    f: impl Fn(&mut F, F, &mut F, &mut F),
) {
    if let (Some(ps), Some(gs), Some(ss), Some(ts)) = (
        p.as_slice_mut(),
        g.as_slice(),
        s.as_slice_mut(),
        t.as_slice_mut(),
    ) {
        if ps.len() == gs.len() && ps.len() == ss.len() && ps.len() == ts.len() {
            ps.iter_mut()
                .zip(gs)
                .zip(ss)
                .zip(ts)
                .for_each(|(((p, &g), s), t)| f(p, g, s, t));
            return;
        }
    }
    Zip::from(p)
        .and(g)
        .and(s)
        .and(t)
        .for_each(|p, &g, s, t| f(p, g, s, t));
}
