//! The [`Optimizer`] trait: how a parameter moves given its gradient.

use std::fmt;

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, Zip};
#[cfg(target_arch = "x86_64")]
use nn_core::compute::vector_unit::{vector_unit, VectorUnit};
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
    /// The state of `W`, by blocks of `block_rows` rows: `weights[j]` holds the buffers of
    /// rows `j·block_rows..`, so that the blocks can be updated on different threads (an
    /// optimizer's step is elementwise, so the values do not depend on the blocks).
    pub(crate) weights: Vec<Vec<Array2<F>>>,
    /// Rows of `W` per block of `weights`.
    pub(crate) block_rows: usize,
    /// The state of `b`.
    pub(crate) bias: Vec<Array2<F>>,
}

/// Weight matrices smaller than this many entries keep their state in one block: a
/// thread's hand-off (1–3 µs) costs more than their update. At 2^15 the 256→128 layer
/// of 784→256→128→10 (32 768 weights) stayed on one thread while the other waited, which
/// cost Adam, whose step per entry is the dearest, 7–8% of an epoch (Intel Xeon, two
/// cores: 0.455–0.479 s against 0.421–0.428 s at 2^14; SGD with momentum unchanged).
const SPLIT_ABOVE: usize = 1 << 14;

impl<F: Float> LayerState<F> {
    /// Zeros for `buffers` state arrays of a layer `(outs, ins)`, its weights' in up to
    /// `threads` blocks of rows.
    pub(crate) fn zeros(buffers: usize, (outs, ins): (usize, usize), threads: usize) -> Self {
        let blocks = if outs * ins > SPLIT_ABOVE {
            threads.clamp(1, outs.max(1))
        } else {
            1
        };
        let block_rows = outs.div_ceil(blocks).max(1);
        let zeros = |shape: (usize, usize)| (0..buffers).map(|_| Array2::zeros(shape)).collect();
        let weights = (0..outs.div_ceil(block_rows).max(1))
            .map(|j| zeros((block_rows.min(outs - j * block_rows), ins)))
            .collect();
        LayerState {
            weights,
            block_rows,
            bias: zeros((outs, 1)),
        }
    }

    /// The state of each part of the layer: each block of `W`, then `b`.
    pub(crate) fn parts(&self) -> impl Iterator<Item = &[Array2<F>]> {
        (self.weights.iter().map(Vec::as_slice)).chain(std::iter::once(self.bias.as_slice()))
    }

    /// `optimizer`'s step of the layer's weights, block by block, the blocks on up to
    /// `threads` threads.
    pub(crate) fn step_weights(
        &mut self,
        optimizer: &dyn Optimizer<F>,
        weights: ArrayViewMut2<'_, F>,
        gradient: ArrayView2<'_, F>,
        (step, gradient_scale, threads): (u64, F, usize),
    ) {
        step_blocks(
            optimizer,
            weights,
            gradient,
            &mut self.weights,
            self.block_rows,
            (step, gradient_scale, threads),
        );
    }
}

/// The blocks of rows of `parameter` and `gradient` with their states, halved over the
/// threads by nn-core's `team::join`.
fn step_blocks<F: Float>(
    optimizer: &dyn Optimizer<F>,
    parameter: ArrayViewMut2<'_, F>,
    gradient: ArrayView2<'_, F>,
    states: &mut [Vec<Array2<F>>],
    block_rows: usize,
    (step, gradient_scale, threads): (u64, F, usize),
) {
    if states.len() == 1 {
        return optimizer.step(parameter, gradient, &mut states[0], step, gradient_scale);
    }
    let half = states.len() / 2;
    let rows = (half * block_rows).min(parameter.nrows());
    let (p1, p2) = parameter.split_at(Axis(0), rows);
    let (g1, g2) = gradient.split_at(Axis(0), rows);
    let (s1, s2) = states.split_at_mut(half);
    let first = || {
        step_blocks(
            optimizer,
            p1,
            g1,
            s1,
            block_rows,
            (step, gradient_scale, threads / 2),
        )
    };
    let second = || {
        step_blocks(
            optimizer,
            p2,
            g2,
            s2,
            block_rows,
            (step, gradient_scale, threads - threads / 2),
        )
    };
    if threads > 1 {
        nn_core::compute::team::join(first, second);
    } else {
        first();
        second();
    }
}

// Elementwise loops of the optimizers. Parameters, gradients and states are contiguous
// arrays of one shape, so the loops run over plain slices, which the compiler vectorises
// (ndarray's `Zip` over three or four arrays does not); other layouts fall back to `Zip`.
// The slice loops are compiled for the widest vector unit the processor has (`widest`).

/// Runs `body` compiled for the widest vector unit the processor has: AVX-512, else AVX2,
/// else the build's baseline (SSE2 on x86-64), so that its elementwise loops run 16 or 8
/// lanes of `f32` at a time instead of 4 (Adam's square root and division most of all).
///
/// Every entry is computed on its own and no multiply-add is contracted (Rust never fuses
/// `a * b + c`), so every path gives the same bits; only the width changes.
///
/// The choice is nn-core's `vector_unit()`, so the `portable` feature of nn-core forces
/// the baseline here too.
#[inline(always)]
fn widest<R>(body: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    match vector_unit() {
        // SAFETY: the processor has AVX-512F (`vector_unit`).
        VectorUnit::Avx512 => return unsafe { with_avx512(body) },
        // SAFETY: the processor has AVX2 (`vector_unit`).
        VectorUnit::Avx2 => return unsafe { with_avx2(body) },
        VectorUnit::Baseline => {}
    }
    body()
}

/// `body`, inlined into a function compiled with AVX-512F.
///
/// # Safety
/// The processor must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn with_avx512<R>(body: impl FnOnce() -> R) -> R {
    body()
}

/// `body`, inlined into a function compiled with AVX2.
///
/// # Safety
/// The processor must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn with_avx2<R>(body: impl FnOnce() -> R) -> R {
    body()
}

/// Applies `f(p, g)` to every parameter entry and its gradient.
pub(crate) fn zip2<F: Float>(
    mut p: ArrayViewMut2<'_, F>,
    g: ArrayView2<'_, F>,
    f: impl Fn(&mut F, F),
) {
    if let (Some(ps), Some(gs)) = (p.as_slice_mut(), g.as_slice()) {
        if ps.len() == gs.len() {
            widest(|| ps.iter_mut().zip(gs).for_each(|(p, &g)| f(p, g)));
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
            widest(|| {
                ps.iter_mut()
                    .zip(gs)
                    .zip(ss)
                    .for_each(|((p, &g), s)| f(p, g, s))
            });
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
            widest(|| {
                ps.iter_mut()
                    .zip(gs)
                    .zip(ss)
                    .zip(ts)
                    .for_each(|(((p, &g), s), t)| f(p, g, s, t))
            });
            return;
        }
    }
    Zip::from(p)
        .and(g)
        .and(s)
        .and(t)
        .for_each(|p, &g, s, t| f(p, g, s, t));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Adam, Sgd};
    use ndarray::ShapeBuilder;

    /// The state kept in blocks of rows, updated on several threads, gives the bits of
    /// one step over the whole matrix, for every optimizer and block count.
    #[test]
    fn blocks_of_rows_on_threads_step_as_the_whole_matrix() {
        let optimizers: Vec<Box<dyn Optimizer<f32>>> = vec![
            Box::new(Sgd::new(0.1).unwrap().with_momentum(0.9).unwrap()),
            Box::new(Adam::new(1e-3).unwrap()),
        ];
        let shape = (301, 200);
        let start = Array2::from_shape_fn(shape, |(i, j)| ((i * 200 + j) as f32 * 0.37).sin());
        for optimizer in &optimizers {
            let buffers = optimizer.state_buffers();
            let mut whole = start.clone();
            let mut whole_state: Vec<Array2<f32>> =
                (0..buffers).map(|_| Array2::zeros(shape)).collect();
            let mut blocked: Vec<Array2<f32>> = vec![start.clone(); 3];
            let mut states: Vec<LayerState<f32>> = [1, 2, 3]
                .map(|t| LayerState::zeros(buffers, shape, t))
                .into();
            assert_eq!(states[2].weights.len(), 3, "three blocks for three threads");
            for step in 1..=4u64 {
                let gradient = Array2::from_shape_fn(shape, |(i, j)| {
                    ((i + 3 * j + step as usize) as f32).cos()
                });
                optimizer.step(
                    whole.view_mut(),
                    gradient.view(),
                    &mut whole_state,
                    step,
                    0.5,
                );
                for (k, (p, state)) in blocked.iter_mut().zip(&mut states).enumerate() {
                    let settings = (step, 0.5, k + 1);
                    state.step_weights(optimizer.as_ref(), p.view_mut(), gradient.view(), settings);
                    assert_eq!(*p, whole, "{optimizer:?}, {} blocks, step {step}", k + 1);
                }
            }
        }
    }

    /// `values` as a row-major array and as a column-major one: the first takes the slice
    /// loops (compiled for the widest vector unit by `widest`), the second `Zip` (the
    /// build's baseline).
    fn both_layouts<F: Float>(values: &[f64], shape: (usize, usize)) -> (Array2<F>, Array2<F>) {
        let c = Array2::from_shape_fn(shape, |(i, j)| F::from_f64(values[i * shape.1 + j]));
        let mut f = Array2::zeros(shape.f());
        f.assign(&c);
        assert!(c.as_slice().is_some() && f.as_slice().is_none());
        (c, f)
    }

    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 4.0
            })
            .collect()
    }

    /// Ten steps of `optimizer` on both layouts give the same bits: the wide loops compute
    /// what the baseline ones do.
    fn same_bits_on_every_path<F: Float>(optimizer: &dyn Optimizer<F>) {
        let shape = (37, 29); // no multiple of any vector width: the loops' tails run too
        let n = shape.0 * shape.1;
        let (mut p_c, mut p_f) = both_layouts::<F>(&values(n, 1), shape);
        let mut state_c: Vec<Array2<F>> = (0..optimizer.state_buffers())
            .map(|_| Array2::zeros(shape))
            .collect();
        let mut state_f: Vec<Array2<F>> = (0..optimizer.state_buffers())
            .map(|_| Array2::zeros(shape.f()))
            .collect();
        for step in 1..=10 {
            let (g_c, g_f) = both_layouts::<F>(&values(n, 100 + step), shape);
            optimizer.step(
                p_c.view_mut(),
                g_c.view(),
                &mut state_c,
                step,
                F::from_f64(0.5),
            );
            optimizer.step(
                p_f.view_mut(),
                g_f.view(),
                &mut state_f,
                step,
                F::from_f64(0.5),
            );
        }
        let bits = |a: &Array2<F>| a.iter().map(|v| v.as_f64().to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&p_c), bits(&p_f), "{}", optimizer.name());
        for (c, f) in state_c.iter().zip(&state_f) {
            assert_eq!(bits(c), bits(f), "{}", optimizer.name());
        }
        assert_ne!(bits(&p_c), bits(&both_layouts::<F>(&values(n, 1), shape).0));
    }

    #[test]
    fn the_wide_loops_give_the_bits_of_the_baseline_ones() {
        fn all<F: Float>() -> Vec<Box<dyn Optimizer<F>>> {
            let rate = F::from_f64(0.01);
            vec![
                Box::new(Sgd::new(rate).unwrap()),
                Box::new(
                    Sgd::new(rate)
                        .unwrap()
                        .with_weight_decay(F::from_f64(0.1))
                        .unwrap(),
                ),
                Box::new(
                    Sgd::new(rate)
                        .unwrap()
                        .with_momentum(F::from_f64(0.9))
                        .unwrap(),
                ),
                Box::new(
                    (Sgd::new(rate)
                        .unwrap()
                        .with_momentum(F::from_f64(0.9))
                        .unwrap())
                    .with_nesterov(true),
                ),
                Box::new(Adam::new(rate).unwrap()),
                Box::new(
                    Adam::new(rate)
                        .unwrap()
                        .with_weight_decay(F::from_f64(0.01))
                        .unwrap(),
                ),
            ]
        }
        for optimizer in all::<f32>() {
            same_bits_on_every_path(optimizer.as_ref());
        }
        for optimizer in all::<f64>() {
            same_bits_on_every_path(optimizer.as_ref());
        }
    }
}
