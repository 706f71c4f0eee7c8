//! Backpropagation: the forward pass that caches every layer's input and pre-activation,
//! and the reverse loop that turns `dloss` into the gradients of every layer.

use ndarray::{Array2, ArrayView2};
use nn_core::compute::kernels;
use nn_core::{tensor, Error, Float, Loss, Result, Target};
use nn_layers::{Dense, Dropout, SampleUpdate};

use crate::dropout::MaskShare;

/// The gradients of the loss from one backward pass, in the article's terms.
///
/// For a network of `n` layers whose inputs are `xs[0] = x`, `xs[1]`, …, `xs[n]` (the
/// output):
/// - `dxs[i] = ∂L/∂xs[i]` for `i` in `0..=n`: how much each layer's input (and, last, the
///   output) influences the loss; `dxs[n] = dloss(xs[n], t)`;
/// - `dws[i] = ∂L/∂W_i` and `dbs[i] = ∂L/∂b_i` for `i` in `0..n`.
///
/// On a batch, the loss is the mean over samples and so are these gradients.
///
/// # Shapes
/// `dxs[i]` has the shape of `xs[i]`, `(size, batch)`; `dws[i]` is `(outs_i, ins_i)` and
/// `dbs[i]` is `(outs_i, 1)`, the shapes of `W_i` and `b_i`.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradients<F> {
    /// The loss at which the gradients were taken (mean over the batch).
    pub loss: F,
    /// `∂L/∂xs[i]`, `n + 1` entries; the first is empty (shape `(0, 0)`) when the pass was
    /// run for training, which never needs the gradient of the network's input.
    pub dxs: Vec<Array2<F>>,
    /// `∂L/∂W_i`, one per layer.
    #[doc(alias = "dWs")]
    pub dws: Vec<Array2<F>>,
    /// `∂L/∂b_i`, one per layer.
    pub dbs: Vec<Array2<F>>,
}

impl<F: Float> Gradients<F> {
    /// The largest `|g|` over every `dW` and `db`, or [`Error::Diverged`] (at training
    /// step `step`) naming the first gradient, from the last layer back (the order of the
    /// backward pass), that holds NaN or an infinity. One vectorised pass that both
    /// bounds and checks.
    pub(crate) fn check(&self, step: u64) -> Result<F> {
        let mut largest = F::zero();
        for i in (0..self.dws.len()).rev() {
            for (kind, g) in [("weight", &self.dws[i]), ("bias", &self.dbs[i])] {
                let m = tensor::max_abs(g.view());
                if !m.is_finite() {
                    let (_, _, v) = tensor::first_non_finite(g.view())
                        .expect("max_abs is not finite only for a non-finite entry");
                    return Err(Error::Diverged {
                        step,
                        what: format!("the {kind} gradient of layer {i}"),
                        value: v.as_f64(),
                    });
                }
                largest = largest.max(m);
            }
        }
        Ok(largest)
    }

    /// The global norm `‖g‖ = sqrt(Σ over every dW and db of g²)` of finite gradients,
    /// computed without overflow: with `m` the largest `|g|` (`largest`, when the caller
    /// knows it), `‖g‖ = m·sqrt(Σ (g/m)²)`, where every `(g/m)²` is at most 1 (as BLAS's
    /// `nrm2` scales). Squaring directly would turn gradients of 1e200 (f64) or 1e20
    /// (f32) into an infinite norm and the clipping scale into 0.
    pub(crate) fn global_norm(&self, largest: Option<F>) -> F {
        let all = || self.dws.iter().chain(&self.dbs);
        let largest = largest.unwrap_or_else(|| {
            all()
                .flat_map(|g| g.iter())
                .fold(F::zero(), |m, &v| m.max(v.abs()))
        });
        if largest == F::zero() {
            return F::zero();
        }
        let sum = all().flat_map(|g| g.iter()).fold(F::zero(), |s, &v| {
            let r = v / largest;
            s + r * r
        });
        largest * sum.sqrt()
    }
}

/// What a [`Workspace`] is sized for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pass {
    /// The forward pass alone (inference): no buffer of the backward pass, which for a
    /// single sample would cost more to allocate than the pass itself (`dW` has the
    /// weights' size).
    Inference,
    /// Forward and backward, with the input gradient `dxs[0]` (`NeuralNetwork::backprop`).
    Backprop,
    /// A training step: forward and backward without the input gradient.
    Training,
}

/// Buffers for one forward and backward pass of a given batch size, reused from step to
/// step so that training allocates nothing once they are sized.
#[derive(Clone, Debug)]
pub(crate) struct Workspace<F> {
    batch: usize,
    pass: Pass,
    /// The inputs after dropout `x̃_i = m_i ⊙ xs[i]`, `(ins_i, batch)`, for the layers
    /// with dropout (empty for the others, and for inference); a backward pass may run
    /// under masks (training does; `backprop`'s gradients are those of inference).
    dropped: Vec<Array2<F>>,
    /// Pre-activations `y_i = W_i·xs[i] + b_i`, `(outs_i, batch)`.
    ys: Vec<Array2<F>>,
    /// Outputs `xs[i + 1] = f_i(y_i)`, `(outs_i, batch)`.
    outputs: Vec<Array2<F>>,
    /// `delta_i = ∂L/∂y_i = df_i(y_i) ⊙ dxs[i + 1]`, `(outs_i, batch)`.
    deltas: Vec<Array2<F>>,
    pub(crate) gradients: Gradients<F>,
    /// A contiguous copy of a one-sample input whose column is strided in memory.
    input: Array2<F>,
}

/// The workspaces of one thread's share of the batches: one for the current batch size
/// and a spare for a second, so that epochs whose last batch is smaller do not reallocate
/// twice per epoch.
#[derive(Clone, Debug)]
pub(crate) struct Buffers<F> {
    current: Workspace<F>,
    spare: Workspace<F>,
}

impl<F: Float> Default for Buffers<F> {
    fn default() -> Self {
        Buffers {
            current: Workspace::empty(),
            spare: Workspace::empty(),
        }
    }
}

impl<F: Float> Buffers<F> {
    /// The workspace sized for `batch` training steps (no input gradient).
    ///
    /// # Errors
    /// [`Error::TooLarge`] if the buffers cannot be allocated.
    pub(crate) fn for_batch(
        &mut self,
        layers: &[Dense<F>],
        batch: usize,
    ) -> Result<&mut Workspace<F>> {
        if self.current.batch != batch {
            std::mem::swap(&mut self.current, &mut self.spare);
        }
        self.current.size_for(layers, batch, Pass::Training)?;
        Ok(&mut self.current)
    }

    /// The workspace of the last step.
    pub(crate) fn current(&self) -> &Workspace<F> {
        &self.current
    }

    /// The workspace of the last step, mutably.
    pub(crate) fn current_mut(&mut self) -> &mut Workspace<F> {
        &mut self.current
    }
}

impl<F: Float> Workspace<F> {
    /// An unsized workspace; [`Workspace::size_for`] sizes it before use.
    pub(crate) fn empty() -> Self {
        Workspace {
            batch: 0,
            pass: Pass::Inference,
            dropped: Vec::new(),
            ys: Vec::new(),
            outputs: Vec::new(),
            deltas: Vec::new(),
            gradients: Gradients {
                loss: F::zero(),
                dxs: Vec::new(),
                dws: Vec::new(),
                dbs: Vec::new(),
            },
            input: Array2::zeros((0, 0)),
        }
    }

    /// Sizes the buffers for `layers`, `batch` and `pass`; allocates only when the batch
    /// size or the pass changed since the last call.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if a buffer of `outs × batch` entries cannot be allocated (a
    /// wide layer on a long batch), in which case the workspace is left unsized.
    pub(crate) fn size_for(&mut self, layers: &[Dense<F>], batch: usize, pass: Pass) -> Result<()> {
        if self.batch == batch && self.pass == pass && self.ys.len() == layers.len() {
            return Ok(());
        }
        let backward = pass != Pass::Inference;
        let empty = || Array2::zeros((0, 0));
        // Unsized until every buffer is allocated, so a failure leaves nothing half-sized.
        self.ys.clear();
        type Zeros<F> = fn(&str, usize, usize) -> Result<Array2<F>>;
        let per_layer_in = |what: &str, zeros: Zeros<F>| {
            layers
                .iter()
                .map(|l| zeros(what, l.outs(), batch))
                .collect::<Result<Vec<_>>>()
        };
        let per_layer = || per_layer_in("training buffers", tensor::try_zeros);
        // A batch's inference (`Dense::infer_into`) keeps no pre-activation, and its
        // outputs are column-major, which its matrix products compute faster.
        let batch_inference = pass == Pass::Inference && batch > 1;
        let ys = if batch_inference {
            layers.iter().map(|_| empty()).collect()
        } else {
            per_layer()?
        };
        self.outputs = if batch_inference {
            per_layer_in("layer outputs", tensor::try_zeros_column_major)?
        } else {
            per_layer()?
        };
        if backward {
            self.deltas = per_layer()?;
            let first = if pass == Pass::Backprop {
                tensor::try_zeros("input gradient", layers[0].ins(), batch)?
            } else {
                empty()
            };
            self.gradients.dxs = std::iter::once(first).chain(per_layer()?).collect();
            self.gradients.dws = (layers.iter())
                .map(|l| tensor::try_zeros("gradients", l.outs(), l.ins()))
                .collect::<Result<_>>()?;
            self.gradients.dbs = (layers.iter())
                .map(|l| Array2::zeros((l.outs(), 1)))
                .collect();
        } else {
            self.deltas.clear();
            self.gradients.dxs.clear();
            self.gradients.dws.clear();
            self.gradients.dbs.clear();
        }
        self.dropped = layers
            .iter()
            .map(|l| match l.dropout() {
                Some(_) if backward => tensor::try_zeros("dropout buffers", l.ins(), batch),
                _ => Ok(empty()),
            })
            .collect::<Result<_>>()?;
        self.batch = batch;
        self.pass = pass;
        self.input = Array2::zeros((layers[0].ins(), 1));
        self.ys = ys;
        Ok(())
    }

    /// The network's output `xs[n]` from the last forward pass.
    pub(crate) fn output(&self) -> ArrayView2<'_, F> {
        self.outputs.last().expect("fit sized the buffers").view()
    }

    /// The first layer's `delta` of the last one-sample step.
    pub(crate) fn first_delta(&self) -> &[F] {
        slice(&self.deltas[0])
    }

    /// [`Error::NonFiniteOutput`] naming the first layer whose output `xs[i + 1]` holds NaN
    /// or an infinity after the last forward pass. Callers check the input first, so the
    /// first such layer is the one that made it: its weights, or the values reaching it,
    /// are too large for the float type. A pass over each layer's output, which is small
    /// next to the matrix product that produced it.
    pub(crate) fn check_outputs(&self) -> Result<()> {
        for (layer, output) in self.outputs.iter().enumerate() {
            if let Some((row, column, value)) = tensor::first_non_finite(output.view()) {
                return Err(Error::NonFiniteOutput {
                    layer,
                    row,
                    column,
                    value: value.as_f64(),
                });
            }
        }
        Ok(())
    }

    /// The forward pass of inference (the workspace sized for `Pass::Inference`): each
    /// layer's output only, through [`Dense::infer_into`] on a batch (one pass over each
    /// output for the bias, the activation and its finiteness) and the one-sample kernels
    /// on one sample. Reports what was not finite, for the caller to name it.
    pub(crate) fn infer(
        &mut self,
        layers: &[Dense<F>],
        x: ArrayView2<'_, F>,
        threads: usize,
    ) -> Inferred {
        if self.batch == 1 {
            self.forward(layers, x, threads, None);
            let finite = |a: &Array2<F>| kernels::max_abs(slice(a)).is_finite();
            return Inferred {
                first_pre_activations: finite(&self.ys[0]),
                outputs: self.outputs.iter().all(finite),
            };
        }
        let mut inferred = Inferred {
            first_pre_activations: true,
            outputs: true,
        };
        for (i, layer) in layers.iter().enumerate() {
            let (before, rest) = self.outputs.split_at_mut(i);
            let input = if i == 0 { x } else { before[i - 1].view() };
            let (pre, out) = layer.infer_into(input, rest[0].view_mut(), threads);
            if i == 0 {
                inferred.first_pre_activations = pre;
            }
            inferred.outputs &= out;
        }
        inferred
    }

    /// Step 1 of the article's algorithm: the forward pass, keeping every layer's input
    /// `xs[i]` and pre-activation `y_i` for the backward pass. One sample goes through
    /// matrix-vector kernels, a batch through matrix products split over `threads`.
    ///
    /// With `masks` (a training step; the workspace sized with dropout), a layer with
    /// dropout reads its input through its mask, `x̃_i = m_i ⊙ xs[i]`, kept for the
    /// backward pass.
    pub(crate) fn forward(
        &mut self,
        layers: &[Dense<F>],
        x: ArrayView2<'_, F>,
        threads: usize,
        masks: Option<MaskShare<'_, F>>,
    ) {
        let mask = |i: usize| masks.and_then(|m| m.layer(i));
        if self.batch == 1 {
            let x = self.contiguous_input(x);
            for (i, layer) in layers.iter().enumerate() {
                let (before, rest) = self.outputs.split_at_mut(i);
                let mut input = if i == 0 {
                    x.view()
                } else {
                    before[i - 1].view()
                };
                if let Some(mask) = mask(i) {
                    Dropout::forward_into(mask, input, self.dropped[i].view_mut());
                    input = self.dropped[i].view();
                }
                let input = input.to_slice().expect("workspace buffers are contiguous");
                layer.forward_sample(input, slice_mut(&mut self.ys[i]), slice_mut(&mut rest[0]));
            }
            self.input = x;
            return;
        }
        for (i, layer) in layers.iter().enumerate() {
            let (before, rest) = self.outputs.split_at_mut(i);
            let mut input = if i == 0 { x } else { before[i - 1].view() };
            if let Some(mask) = mask(i) {
                Dropout::forward_into(mask, input, self.dropped[i].view_mut());
                input = self.dropped[i].view();
            }
            layer.forward_into(input, self.ys[i].view_mut(), rest[0].view_mut(), threads);
        }
    }

    /// The workspace's input buffer holding `x` (one column), taken out of the workspace
    /// so that it can be read while the other buffers are written; the caller puts it
    /// back.
    fn contiguous_input(&mut self, x: ArrayView2<'_, F>) -> Array2<F> {
        let mut input = std::mem::take(&mut self.input);
        input.assign(&x);
        input
    }

    /// Steps 2 and 3: `dxs[n] = dloss(xs[n], t)`, then for each layer from last to first,
    /// `delta = df(y) ⊙ dx`, `dx = Wᵀ·delta`, `dW = delta·xᵀ`, `db = Σ delta` over the
    /// batch (see [`Dense::backward_into`]).
    /// Parameters are not touched, so every `W` used is the one of the forward pass.
    ///
    /// With the `masks` of the forward pass, a layer with dropout has `dW = delta·x̃ᵀ` and
    /// `dx = m ⊙ (Wᵀ·delta)` (see [`Dropout`]).
    ///
    /// Returns the loss at `xs[n]`, and `max |g|` over every `dW` and `db` (NaN if an
    /// entry is not finite), found while each block of them was in cache; `None` on one
    /// sample, whose pass does not scan.
    pub(crate) fn backward(
        &mut self,
        layers: &[Dense<F>],
        loss: &dyn Loss<F>,
        x: ArrayView2<'_, F>,
        target: Target<'_, F>,
        threads: usize,
        masks: Option<MaskShare<'_, F>>,
    ) -> (F, Option<F>) {
        let mask = |i: usize| masks.and_then(|m| m.layer(i));
        let n = layers.len();
        let output = self.outputs[n - 1].view();
        let value = loss.evaluate(output, target);
        loss.gradient_into(output, target, self.gradients.dxs[n].view_mut());
        self.gradients.loss = value;
        if self.batch == 1 {
            self.backward_sample(layers, masks);
            return (value, None);
        }
        let mut largest = F::zero();
        for i in (0..n).rev() {
            let input = match mask(i) {
                Some(_) => self.dropped[i].view(),
                None if i == 0 => x,
                None => self.outputs[i - 1].view(),
            };
            let (dx_below, dx_above) = self.gradients.dxs.split_at_mut(i + 1);
            let wants_dx = i > 0 || self.pass == Pass::Backprop;
            let dx = wants_dx.then(|| dx_below[i].view_mut());
            let layer_max = layers[i].backward_into(
                input,
                self.ys[i].view(),
                self.outputs[i].view(),
                dx_above[0].view(),
                self.deltas[i].view_mut(),
                self.gradients.dws[i].view_mut(),
                self.gradients.dbs[i].view_mut(),
                dx,
                threads,
            );
            largest = tensor::max_abs_of_both(largest, layer_max);
            if let (Some(mask), true) = (mask(i), wants_dx) {
                Dropout::backward_in_place(mask, dx_below[i].view_mut());
            }
        }
        (value, Some(largest))
    }

    /// The backward loop on one sample (input in `self.input`, as `forward` left it), with
    /// matrix-vector kernels: `dW = delta·xᵀ` is formed as an outer product.
    fn backward_sample(&mut self, layers: &[Dense<F>], masks: Option<MaskShare<'_, F>>) {
        self.deltas_sample(layers, masks);
        for i in (0..layers.len()).rev() {
            let input = match masks.and_then(|m| m.layer(i)) {
                Some(_) => slice(&self.dropped[i]),
                None if i == 0 => slice(&self.input),
                None => slice(&self.outputs[i - 1]),
            };
            let mut dw = self.gradients.dws[i].view_mut();
            dw.fill(F::zero());
            kernels::rank1_update(dw, F::one(), slice(&self.deltas[i]), input);
            self.gradients.dbs[i].assign(&self.deltas[i]);
        }
    }
}

impl<F: Float> Workspace<F> {
    /// The reverse loop on one sample, from `dxs[n]`: `delta_i = df(y_i) ⊙ dxs[i+1]` and
    /// `dxs[i] = W_iᵀ·delta_i` (for `i = 0` only when the input gradient is wanted), times
    /// the layer's dropout mask if `masks` gives one.
    fn deltas_sample(&mut self, layers: &[Dense<F>], masks: Option<MaskShare<'_, F>>) {
        for i in (0..layers.len()).rev() {
            let (dx_below, dx_above) = self.gradients.dxs.split_at_mut(i + 1);
            let wants_dx = i > 0 || self.pass == Pass::Backprop;
            let dx = wants_dx.then(|| slice_mut(&mut dx_below[i]));
            layers[i].backward_sample(
                slice(&self.ys[i]),
                slice(&self.outputs[i]),
                slice(&dx_above[0]),
                slice_mut(&mut self.deltas[i]),
                dx,
            );
            if let (Some(mask), true) = (masks.and_then(|m| m.layer(i)), wants_dx) {
                Dropout::backward_in_place(mask, dx_below[i].view_mut());
            }
        }
    }

    /// The original algorithm on one sample with plain SGD, fused: forward with
    /// matrix-vector products, backward computing every `delta` (and `dx` for all but the
    /// first layer, whose input gradient training never needs), then the updates
    /// `W -= learning_rate·delta·xᵀ` as rank-1 updates, with no `dW` matrix formed.
    ///
    /// Every `delta` is computed before any parameter changes, so `dx` uses `W` as it was
    /// in the forward pass, and a non-finite loss or gradient leaves the parameters as
    /// they were: the returned error names what was not finite.
    ///
    /// `step` is `(learning_rate, bounds)`. With `bounds = Some(..)` (the finiteness check
    /// on, `parameters ≥ max |θ|` and `input` the bound of `max |x|`, known or to be
    /// scanned here), every update is checked: the update of `W_i` is
    /// `learning_rate·delta_i·x_iᵀ`, each of whose entries is at most
    /// `learning_rate·max|delta_i|·max|x_i|`, so every parameter stays below
    /// `parameters + increment` with `increment` the largest such bound (the bias's is
    /// `learning_rate·max|delta_i|`). When that is not provably below half the float
    /// maximum, it returns [`SampleFailure::MayOverflow`] without updating.
    /// Returns the loss and `increment` (0 without bounds).
    ///
    /// An input left to scan ([`InputBound::ScanAfterForward`]) is scanned after the
    /// forward pass, from the cache where the first layer's product brought it: read
    /// first by the scan, each new sample's wait on memory was not hidden behind any
    /// other work (streaming Fashion-MNIST on an Intel Xeon, 6–8% of a step). A
    /// non-finite input returns [`SampleFailure::NonFiniteInput`], nothing of the step
    /// having changed.
    ///
    /// With `deferred` (a `SampleStream`'s), the first layer's updates of the steps
    /// before, left there, are seen or applied in this step's forward product, and this
    /// step's is left there in turn; a failure after the forward pass keeps any applied,
    /// as the steps before would have.
    ///
    /// The workspace must be sized for `batch = 1` without the input gradient.
    pub(crate) fn train_sample_sgd(
        &mut self,
        layers: &mut [Dense<F>],
        loss: &dyn Loss<F>,
        x: ArrayView2<'_, F>,
        target: Target<'_, F>,
        step: (F, Option<SampleBounds<F>>),
        first: FirstLayer<'_, F>,
    ) -> Result<(F, F), SampleFailure<F>> {
        if let Some(x) = x.as_slice() {
            return self.train_slice_sgd(layers, loss, x, target, step, first);
        }
        // A strided column is copied into the input buffer, taken out of the workspace
        // while the other buffers are written.
        let input = self.contiguous_input(x);
        let result = self.train_slice_sgd(layers, loss, slice(&input), target, step, first);
        self.input = input;
        result
    }

    /// [`Workspace::train_sample_sgd`] on a contiguous sample.
    pub(crate) fn train_slice_sgd(
        &mut self,
        layers: &mut [Dense<F>],
        loss: &dyn Loss<F>,
        x: &[F],
        target: Target<'_, F>,
        (learning_rate, bounds): (F, Option<SampleBounds<F>>),
        mut first: FirstLayer<'_, F>,
    ) -> Result<(F, F), SampleFailure<F>> {
        let n = layers.len();
        for (i, layer) in layers.iter_mut().enumerate() {
            let (before, rest) = self.outputs.split_at_mut(i);
            let (y, a) = (slice_mut(&mut self.ys[i]), slice_mut(&mut rest[0]));
            if i > 0 {
                layer.forward_sample(slice(&before[i - 1]), y, a);
                continue;
            }
            // The earlier steps' deferred first-layer updates, seen or applied in the
            // same pass over W as this product.
            match &mut first {
                FirstLayer::Deferred(deferred) if deferred.is_full(layer) => {
                    deferred.with_updates(|updates| {
                        layer.sgd_update_and_forward_sample(updates, x, y, a)
                    });
                    deferred.clear();
                }
                FirstLayer::Deferred(deferred) if deferred.is_pending() => {
                    deferred.with_updates(|updates| layer.forward_sample_after(updates, x, y, a))
                }
                FirstLayer::Product(product) => layer.forward_sample_from_product(product, y, a),
                _ => layer.forward_sample(x, y, a),
            }
        }
        let bounds = match bounds {
            Some(SampleBounds {
                parameters,
                input: InputBound::ScanAfterForward,
            }) => {
                let input = kernels::max_abs(x);
                if !input.is_finite() {
                    return Err(SampleFailure::NonFiniteInput);
                }
                Some((parameters, input))
            }
            Some(SampleBounds {
                parameters,
                input: InputBound::Known(input),
            }) => Some((parameters, input)),
            None => None,
        };
        let output = self.outputs[n - 1].view();
        let value = loss.evaluate(output, target);
        if !value.is_finite() {
            return Err(SampleFailure::NonFinite {
                what: "the loss".into(),
                value,
            });
        }
        loss.gradient_into(output, target, self.gradients.dxs[n].view_mut());
        self.deltas_sample(layers, None);
        let mut increment = F::zero();
        if let Some((parameters, input)) = bounds {
            // The update of W_i is `-learning_rate·delta_i·x_iᵀ`: every entry is finite
            // when `learning_rate·max|delta_i|·max|x_i|` is, which costs one pass over
            // each (short) delta and input instead of one over each weight matrix.
            for i in (0..n).rev() {
                let input_max = if i == 0 {
                    input
                } else {
                    kernels::max_abs(slice(&self.outputs[i - 1]))
                };
                let delta_max = kernels::max_abs(slice(&self.deltas[i]));
                let bound = learning_rate * delta_max * input_max;
                if !bound.is_finite() {
                    return Err(SampleFailure::NonFinite {
                        what: format!("a weight of layer {i} after the update"),
                        value: bound,
                    });
                }
                increment = increment.max(bound).max(learning_rate * delta_max);
            }
            // Both terms are finite and non-negative: their sum is a number, maybe +inf.
            if parameters + increment > F::max_value() / F::from_f64(2.0) {
                return Err(SampleFailure::MayOverflow);
            }
        }
        for (i, layer) in layers.iter_mut().enumerate() {
            let delta = slice(&self.deltas[i]);
            match (i, &mut first) {
                // Left for the next step's forward product, which reads W_0 anyway.
                (0, FirstLayer::Deferred(deferred)) => deferred.defer(x, delta, learning_rate),
                // The caller applies the weights' part with its block's.
                (0, FirstLayer::Product(_)) => layer.sgd_update_bias_sample(delta, learning_rate),
                (0, FirstLayer::Now) => layer.sgd_update_sample(x, delta, learning_rate),
                _ => layer.sgd_update_sample(slice(&self.outputs[i - 1]), delta, learning_rate),
            }
        }
        self.gradients.loss = value;
        Ok((value, increment))
    }
}

/// How a fused per-sample step takes its first layer's product and update.
pub(crate) enum FirstLayer<'a, F> {
    /// Both now, as `NeuralNetwork::train`.
    Now,
    /// A `SampleStream`'s held updates: the product is taken through them, and this
    /// step's update joins them.
    Deferred(&'a mut Deferred<F>),
    /// The product `W_0·x` is given (a block's, see `crate::sample_block`); the step
    /// updates the bias and leaves `W_0`'s update, `learning_rate·delta_0·xᵀ`, to the
    /// caller, who reads `delta_0` in [`Workspace::first_delta`].
    Product(&'a [F]),
}

/// What [`Workspace::infer`] found not finite.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Inferred {
    /// Whether every pre-activation of the first layer was finite: false whenever the
    /// input held NaN or an infinity, which makes its whole column's non-finite.
    pub(crate) first_pre_activations: bool,
    /// Whether every layer's output was finite.
    pub(crate) outputs: bool,
}

/// The first layer's SGD updates of the last per-sample steps (up to [`DEFERRED_STEPS`]),
/// left to be applied with a later step's forward product (see `crate::SampleStream`):
/// each step's input and first-layer `delta`, so that `W_0 -= learning_rate·delta·xᵀ` and
/// `b_0 -= learning_rate·delta` can be applied later, bit for bit as the steps would have.
///
/// A step with fewer pending updates takes its product through them without storing
/// (`Dense::forward_sample_after`); a step that finds the buffer full applies them all
/// with one store of `W` (`Dense::sgd_update_and_forward_sample`).
#[derive(Clone, Debug)]
pub(crate) struct Deferred<F> {
    x: [Vec<F>; DEFERRED_STEPS],
    delta: [Vec<F>; DEFERRED_STEPS],
    learning_rate: [F; DEFERRED_STEPS],
    pending: usize,
}

/// The most steps' first-layer updates a `SampleStream` holds before applying them.
pub(crate) const DEFERRED_STEPS: usize = 2;

/// From this size of `W_0` on, a `SampleStream` holds two steps' updates, not one: the
/// weights then come from L2 and go back to it, and storing them every other step saves
/// more than the second update's work costs in every pass. On an Intel Xeon with AVX-512
/// (48 KB of L1), streaming Fashion-MNIST through 784→16→16→10, three alternations: `f64`
/// (98 KB) 2.59–2.67 → 2.37–2.49 µs a step; `f32` (49 KB) 1.39–1.40 → 1.44–1.53 µs, so
/// `f32` keeps one.
const HOLD_TWO_FROM_BYTES: usize = 64 * 1024;

impl<F: Float> Default for Deferred<F> {
    fn default() -> Self {
        Self {
            x: Default::default(),
            delta: Default::default(),
            learning_rate: [F::zero(); DEFERRED_STEPS],
            pending: 0,
        }
    }
}

impl<F: Float> Deferred<F> {
    /// Records an update (the buffers are reused from step to step).
    ///
    /// # Panics
    /// If the buffer is full: the step's forward pass empties a full one.
    fn defer(&mut self, x: &[F], delta: &[F], learning_rate: F) {
        assert!(
            self.pending < DEFERRED_STEPS,
            "a full Deferred is applied before the next step"
        );
        let k = self.pending;
        self.x[k].clear();
        self.x[k].extend_from_slice(x);
        self.delta[k].clear();
        self.delta[k].extend_from_slice(delta);
        self.learning_rate[k] = learning_rate;
        self.pending += 1;
    }

    /// `f` of the pending updates, oldest first.
    fn with_updates<R>(&self, f: impl FnOnce(&[SampleUpdate<'_, F>]) -> R) -> R {
        let update = |k: usize| SampleUpdate {
            x: &self.x[k],
            delta: &self.delta[k],
            learning_rate: self.learning_rate[k],
        };
        let updates: [SampleUpdate<'_, F>; DEFERRED_STEPS] = std::array::from_fn(update);
        f(&updates[..self.pending])
    }

    /// Forgets the pending updates, which their taker applied.
    fn clear(&mut self) {
        self.pending = 0;
    }

    /// Applies the pending updates, if any, to the first of `layers`, oldest first.
    pub(crate) fn apply(&mut self, layers: &mut [Dense<F>]) {
        if let Some(first) = layers.first_mut() {
            self.with_updates(|updates| {
                for update in updates {
                    first.sgd_update_sample(update.x, update.delta, update.learning_rate);
                }
            });
        }
        self.clear();
    }

    /// How many updates wait to be applied.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// Whether an update waits to be applied.
    pub(crate) fn is_pending(&self) -> bool {
        self.pending > 0
    }

    /// Whether the next step must apply the pending updates to `first`, the first layer:
    /// whether as many are pending as it holds (see [`HOLD_TWO_FROM_BYTES`]).
    fn is_full(&self, first: &Dense<F>) -> bool {
        let bytes = first.weights().len() * std::mem::size_of::<F>();
        let holds = if bytes >= HOLD_TWO_FROM_BYTES {
            DEFERRED_STEPS
        } else {
            1
        };
        self.pending >= holds
    }
}

/// What the fused per-sample step's proof that its update stays finite starts from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SampleBounds<F> {
    /// A bound of `|θ|` over every parameter.
    pub(crate) parameters: F,
    /// `max |x|` over the input.
    pub(crate) input: InputBound<F>,
}

/// `max |x|` of a fused per-sample step's input.
#[derive(Clone, Copy, Debug)]
pub(crate) enum InputBound<F> {
    /// Scanned already (the input is finite).
    Known(F),
    /// To be scanned by the step, after its forward pass; the step refuses a
    /// non-finite input.
    ScanAfterForward,
}

/// Why a fused per-sample step stopped before changing any parameter.
pub(crate) enum SampleFailure<F> {
    /// The update could not be proven to keep every parameter finite.
    MayOverflow,
    /// The input holds a NaN or an infinity ([`InputBound::ScanAfterForward`]).
    NonFiniteInput,
    /// A loss or gradient is not finite.
    NonFinite {
        /// What, e.g. "the loss".
        what: String,
        /// The offending value (or a bound of it).
        value: F,
    },
}

fn slice<F>(a: &Array2<F>) -> &[F] {
    a.as_slice().expect("workspace buffers are contiguous")
}

fn slice_mut<F>(a: &mut Array2<F>) -> &mut [F] {
    a.as_slice_mut().expect("workspace buffers are contiguous")
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_layers::{Identity, Tanh};
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn a_batch_s_inference_outputs_are_column_major_and_training_s_row_major() {
        let mut rng = StdRng::seed_from_u64(0);
        let layers = [
            Dense::<f32>::new(5, 4, Tanh, nn_core::Init::XavierNormal, &mut rng).unwrap(),
            Dense::new(4, 3, Identity, nn_core::Init::XavierNormal, &mut rng).unwrap(),
        ];
        let mut workspace = Workspace::empty();
        for (pass, batch, by_columns) in [
            (Pass::Inference, 7, true),
            (Pass::Training, 7, false),
            (Pass::Backprop, 7, false),
        ] {
            workspace.size_for(&layers, batch, pass).unwrap();
            for (output, layer) in workspace.outputs.iter().zip(&layers) {
                assert_eq!(output.dim(), (layer.outs(), batch));
                let layout = (output.t().is_standard_layout(), output.is_standard_layout());
                assert_eq!(layout, (by_columns, !by_columns), "{pass:?}");
            }
        }
    }
}
