//! [`NeuralNetwork`]: layers, a loss and a learning rate, trained one step at a time.

use ndarray::{Array2, ArrayView2};
use nn_core::compute::kernels;
use nn_core::{tensor, Error, Float, Loss, Result, Target};
use nn_layers::Dense;

use crate::backprop::{Buffers, Gradients, SampleFailure, Workspace};
use crate::bounds::MagnitudeBounds;
use crate::hyperparameter::check_hyperparameter;
use crate::metrics::count_correct;
use crate::optimizer::Optimizer;
use crate::sgd::Sgd;
use crate::shares::{self, share};
use ndarray::s;
use rayon::prelude::*;

/// The original framework's `NeuralNetwork`: a stack of dense layers, a loss function and
/// a learning rate, trained by backpropagation and stochastic gradient descent.
///
/// # Shapes
/// An input `x` is `(ins, batch)`: a single sample is a column `(ins, 1)`, a mini-batch
/// has one column per sample. The output is `(outs, batch)`. A target is a
/// [`Target`]: values of the output's shape, or one class index per sample.
///
/// # Example
/// ```
/// use ndarray::array;
/// use nn_core::{Init, Target};
/// use nn_layers::{Dense, LeakyRelu};
/// use nn_loss::Mse;
/// use nn_train::NeuralNetwork;
/// use rand::{rngs::StdRng, SeedableRng};
///
/// let mut rng = StdRng::seed_from_u64(0);
/// let layers = vec![
///     Dense::new(2, 4, LeakyRelu::default(), Init::HeNormal, &mut rng)?,
///     Dense::new(4, 3, LeakyRelu::default(), Init::HeNormal, &mut rng)?,
/// ];
/// let mut net = NeuralNetwork::new(layers, Mse, 0.01)?;
/// let x = array![[0.5], [-1.0]];
/// let zeros = array![[0.0], [0.0], [0.0]];
/// let before = net.train(x.view(), Target::Values(zeros.view()))?;
/// let after = net.loss(net.forward_pass(x.view())?.view(), Target::Values(zeros.view()))?;
/// assert!(after < before);
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct NeuralNetwork<F: Float> {
    layers: Vec<Dense<F>>,
    loss: Box<dyn Loss<F>>,
    optimizer: Box<dyn Optimizer<F>>,
    /// The optimizer's state of each parameter: `2·i` for `W_i`, `2·i + 1` for `b_i`;
    /// allocated at the first step.
    optimizer_state: Vec<Vec<Array2<F>>>,
    /// Updates made by the current optimizer (Adam's `t`).
    optimizer_steps: u64,
    steps: u64,
    max_gradient_norm: Option<F>,
    check_finite: bool,
    threads: usize,
    /// Buffers of each thread's share of a batch (one share unless the step is split).
    buffers: Vec<Buffers<F>>,
    /// Into how many shares the last training step was split.
    last_parts: usize,
    /// Running bounds of the parameters' and states' magnitudes, with which the
    /// finiteness check proves that an update cannot overflow.
    bounds: MagnitudeBounds<F>,
}

impl<F: Float> NeuralNetwork<F> {
    /// A network of `layers` trained on `loss` with plain SGD at `learning_rate`.
    ///
    /// # Errors
    /// [`Error::EmptyNetwork`] for no layers; [`Error::LayerMismatch`] naming the first pair
    /// of consecutive layers where `outs` of one differs from `ins` of the next;
    /// [`Error::InvalidHyperparameter`] unless `learning_rate` is finite and positive.
    pub fn new<L: Loss<F> + 'static>(
        layers: Vec<Dense<F>>,
        loss: L,
        learning_rate: F,
    ) -> Result<Self> {
        Self::with_boxed_loss(layers, Box::new(loss), learning_rate)
    }

    /// As [`NeuralNetwork::new`], with a loss chosen at run time (e.g. by
    /// `nn_loss::parse_loss`).
    ///
    /// # Errors
    /// As [`NeuralNetwork::new`].
    pub fn with_boxed_loss(
        layers: Vec<Dense<F>>,
        loss: Box<dyn Loss<F>>,
        learning_rate: F,
    ) -> Result<Self> {
        if layers.is_empty() {
            return Err(Error::EmptyNetwork);
        }
        if let Some(index) = layers.windows(2).position(|p| p[0].outs() != p[1].ins()) {
            return Err(Error::LayerMismatch {
                index,
                outs: layers[index].outs(),
                ins: layers[index + 1].ins(),
            });
        }
        Ok(NeuralNetwork {
            layers,
            loss,
            optimizer: Box::new(Sgd::new(learning_rate)?),
            optimizer_state: Vec::new(),
            optimizer_steps: 0,
            steps: 0,
            max_gradient_norm: None,
            check_finite: true,
            threads: default_threads(),
            buffers: vec![Buffers::default()],
            last_parts: 1,
            bounds: MagnitudeBounds::default(),
        })
    }

    /// Replaces the optimizer (plain SGD at the constructor's learning rate by default) and
    /// resets its state, e.g. `net.set_optimizer(Adam::new(1e-3)?)`.
    pub fn set_optimizer<O: Optimizer<F> + 'static>(&mut self, optimizer: O) {
        self.set_boxed_optimizer(Box::new(optimizer));
    }

    /// As [`NeuralNetwork::set_optimizer`], for an optimizer chosen at run time.
    pub fn set_boxed_optimizer(&mut self, optimizer: Box<dyn Optimizer<F>>) {
        self.optimizer = optimizer;
        self.optimizer_state.clear();
        self.optimizer_steps = 0;
        self.bounds.forget();
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &dyn Optimizer<F> {
        self.optimizer.as_ref()
    }

    /// Clips gradients by their global norm before each update: when
    /// `‖g‖ = sqrt(Σ over every dW and db of g²)` exceeds `max_norm`, every gradient is
    /// scaled by `max_norm/‖g‖`. `None` (the default) turns clipping off.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] unless `max_norm` is finite and positive.
    pub fn set_max_gradient_norm(&mut self, max_norm: Option<F>) -> Result<()> {
        if let Some(m) = max_norm {
            check_hyperparameter(
                "max_gradient_norm",
                m,
                |m| m > 0.0,
                "must be finite and positive",
            )?;
        }
        self.max_gradient_norm = max_norm;
        Ok(())
    }

    /// Sets how many threads a batched step may use for its matrix products (at least 1;
    /// the default is the number of cores, as `std::thread::available_parallelism` sees
    /// them). Products are cut into independent blocks, so results do not depend on it.
    /// One sample is always computed on the calling thread: its products are too small to
    /// share.
    ///
    /// The threads are those of rayon's global pool, whose size `RAYON_NUM_THREADS` sets.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] for 0.
    pub fn set_threads(&mut self, threads: usize) -> Result<()> {
        if threads == 0 {
            return Err(Error::InvalidHyperparameter {
                name: "threads",
                value: 0.0,
                reason: "must be at least 1",
            });
        }
        self.threads = threads;
        Ok(())
    }

    /// The number of threads a batched step may use.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Turns the check of inputs, outputs and gradients for NaN and infinities on (the
    /// default) or off. With it on, every entry point rejects non-finite inputs;
    /// [`NeuralNetwork::train`] stops with [`Error::Diverged`], before any update, when a
    /// gradient is not finite; and inference ([`NeuralNetwork::forward_pass`],
    /// [`NeuralNetwork::predict`], [`NeuralNetwork::evaluate`], …) fails with
    /// [`Error::NonFiniteOutput`] naming the layer whose output overflowed. The loss is
    /// checked either way. Turning it off saves a pass over the inputs, the layers' outputs
    /// and the gradients per step (see the `finite_check` bench).
    pub fn set_check_finite(&mut self, check: bool) {
        self.check_finite = check;
    }

    /// Whether the finiteness check is on (see [`NeuralNetwork::set_check_finite`]).
    pub fn check_finite(&self) -> bool {
        self.check_finite
    }

    /// The layers, first to last.
    pub fn layers(&self) -> &[Dense<F>] {
        &self.layers
    }

    /// Mutable views of the weights and bias of layer `index`, or `None` past the last
    /// layer. Views keep the shapes fixed, so the network stays consistent.
    pub fn parameters_mut(
        &mut self,
        index: usize,
    ) -> Option<(ndarray::ArrayViewMut2<'_, F>, ndarray::ArrayViewMut2<'_, F>)> {
        // Whatever the caller writes, the running bounds no longer hold.
        self.bounds.forget();
        self.layers.get_mut(index).map(Dense::parameters_mut)
    }

    /// The loss function.
    pub fn loss_function(&self) -> &dyn Loss<F> {
        self.loss.as_ref()
    }

    /// The optimizer's learning rate.
    pub fn learning_rate(&self) -> F {
        self.optimizer.learning_rate()
    }

    /// Changes the optimizer's learning rate (for schedules); its state is kept.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] unless it is finite and positive.
    pub fn set_learning_rate(&mut self, learning_rate: F) -> Result<()> {
        self.optimizer.set_learning_rate(learning_rate)
    }

    /// Number of inputs of the first layer.
    pub fn ins(&self) -> usize {
        self.layers[0].ins()
    }

    /// Number of outputs of the last layer.
    pub fn outs(&self) -> usize {
        self.layers[self.layers.len() - 1].outs()
    }

    /// Number of training steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        self.layers.iter().map(Dense::parameter_count).sum()
    }

    /// The network's output for `x`: `xs[i+1] = f_i(W_i·xs[i] + b_i)` through every layer.
    ///
    /// # Shapes
    /// `x` is `(ins, batch)`; the result is `(outs, batch)`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `x` does not have `ins` rows, [`Error::EmptyBatch`] for
    /// no column, [`Error::NonFiniteInput`] for NaN or infinite inputs, and
    /// [`Error::NonFiniteOutput`] naming the first layer whose output is not finite
    /// (weights or values too large for the float type). The last two only with the
    /// finiteness check on (the default; see [`NeuralNetwork::set_check_finite`]).
    pub fn forward_pass(&self, x: ArrayView2<'_, F>) -> Result<Array2<F>> {
        self.check_input(x)?;
        let mut workspace = Workspace::empty();
        workspace.size_for(&self.layers, x.ncols(), false)?;
        workspace.forward(&self.layers, x, self.threads);
        if self.check_finite {
            workspace.check_outputs()?;
        }
        Ok(workspace.output().to_owned())
    }

    /// The predicted class of each sample: the index of the largest output of each column.
    ///
    /// # Errors
    /// As [`NeuralNetwork::forward_pass`].
    pub fn predict(&self, x: ArrayView2<'_, F>) -> Result<Vec<usize>> {
        Ok(tensor::argmax_columns(self.forward_pass(x)?.view()))
    }

    /// The loss of output `values` against `target` (mean over the batch).
    ///
    /// # Errors
    /// As [`Loss::loss`]: among them [`Error::NonFiniteInput`] for non-finite values and
    /// [`Error::NonFiniteLoss`] when the loss of finite values overflows.
    pub fn loss(&self, values: ArrayView2<'_, F>, target: Target<'_, F>) -> Result<F> {
        self.loss.loss(values, target)
    }

    /// Backpropagation without an update: the gradients of the loss at `(x, target)` with
    /// respect to every layer's input, weights and bias (see [`Gradients`]).
    ///
    /// The backward step for layer `i`, with `y = W_i·xs[i] + b_i` cached by the forward
    /// pass and `dx = dxs[i+1]`:
    /// `delta = df_i(y) ⊙ dx` (the article's `db`), `dxs[i] = W_iᵀ·delta`,
    /// `dW = delta·xs[i]ᵀ` and `db = delta·1`, both summed over the batch.
    ///
    /// # Errors
    /// As [`NeuralNetwork::forward_pass`], plus the errors of [`Target::check`] and
    /// [`Loss::check_target`]; with the finiteness check on, [`Error::NonFiniteLoss`] for a
    /// loss that overflows and [`Error::Diverged`] naming the first gradient (from the last
    /// layer back) that is not finite.
    pub fn backprop(&self, x: ArrayView2<'_, F>, target: Target<'_, F>) -> Result<Gradients<F>> {
        self.check_sample(x, target)?;
        let mut workspace = Workspace::empty();
        workspace.size_for(&self.layers, x.ncols(), true)?;
        workspace.forward(&self.layers, x, self.threads);
        if self.check_finite {
            workspace.check_outputs()?;
        }
        let loss = workspace.backward(&self.layers, self.loss.as_ref(), x, target, self.threads);
        if self.check_finite {
            nn_core::finite_loss(loss)?;
            self.check_gradients(&workspace.gradients)?;
        }
        Ok(workspace.gradients)
    }

    /// One training step on `x` (one sample, or a mini-batch whose gradient is the mean of
    /// its samples'): backpropagate, then let the optimizer update every `W_i` and `b_i`.
    /// With the default plain SGD this is exactly the original's `train`:
    /// `W_i -= learning_rate·dW_i`, `b_i -= learning_rate·db_i`. Every gradient is computed
    /// before any update, so `dx` is propagated through `W_i` as it was in the forward pass.
    ///
    /// Returns the loss before the step. Buffers are kept from step to step (for two batch
    /// sizes at a time), so a run of one-sample steps allocates nothing after the first; a
    /// batch step allocates only the packing buffers the `gemm` crate takes for each matrix
    /// product. On one sample with plain SGD, the step takes a fused path that applies
    /// `dW = delta·xᵀ` as a rank-1 update without forming it; it computes the same update
    /// as the general path.
    ///
    /// # Errors
    /// The input and target errors of [`NeuralNetwork::backprop`]; [`Error::Diverged`] if
    /// the loss or (with the finiteness check on) a gradient is not finite; and
    /// [`Error::InvalidHyperparameter`] if gradient clipping's scale
    /// `max_gradient_norm/‖g‖` underflows to 0 (a limit too small for the float type). In
    /// every case no parameter is changed.
    pub fn train(&mut self, x: ArrayView2<'_, F>, target: Target<'_, F>) -> Result<F> {
        self.train_step(x, target, true)
    }

    /// [`NeuralNetwork::train`], scanning `x` for non-finite values only if `scan_input`:
    /// `fit` checks its whole data set once and so skips the scan of each batch it copies
    /// from it.
    pub(crate) fn train_step(
        &mut self,
        x: ArrayView2<'_, F>,
        target: Target<'_, F>,
        scan_input: bool,
    ) -> Result<F> {
        let batch = x.ncols();
        let fused_rate = match (batch, self.max_gradient_norm) {
            (1, None) => self.optimizer.plain_learning_rate(),
            _ => None,
        };
        // The fused path checks the input's finiteness itself, in the pass that also
        // bounds its gradients.
        self.check_shapes(
            x,
            target,
            scan_input && fused_rate.is_none() && self.check_finite,
        )?;
        if let Some(rate) = fused_rate {
            if let Some(loss) = self.train_sample_fused(x, target, rate)? {
                return Ok(loss);
            }
            // The update could not be proven finite: take the general path, which
            // checks it.
        }
        let loss = self.backprop_shares(x, target)?;
        if !loss.is_finite() {
            return Err(Error::Diverged {
                step: self.steps,
                what: "the loss".into(),
                value: loss.as_f64(),
            });
        }
        let gradients = &self.buffers[0].current().gradients;
        let gradient_max = if self.check_finite {
            Some(self.check_gradients(gradients)?)
        } else {
            None
        };
        let scale = match self.max_gradient_norm {
            Some(max_norm) => {
                let norm = global_norm(gradients, gradient_max);
                if norm > max_norm {
                    let scale = max_norm / norm;
                    // Only a limit below the smallest float times the norm gets here (e.g.
                    // 1e-8 against a norm of 1e38 in f32): a step of zero would be silent.
                    if scale == F::zero() {
                        return Err(Error::InvalidHyperparameter {
                            name: "max_gradient_norm",
                            value: max_norm.as_f64(),
                            reason: "is so small next to the gradient norm that the clipping \
                                     scale max_gradient_norm/norm underflows to 0",
                        });
                    }
                    scale
                } else {
                    F::one()
                }
            }
            None => F::one(),
        };
        self.allocate_optimizer_state();
        let t = self.optimizer_steps + 1;
        match gradient_max {
            Some(g) if !self.update_is_bounded(g, scale, t) => self.checked_update(scale, t)?,
            _ => self.update(scale, t),
        }
        self.optimizer_steps = t;
        self.steps += 1;
        Ok(loss)
    }

    /// The fused one-sample SGD step (see [`Workspace::train_sample_sgd`]); `Ok(None)`
    /// when, with the finiteness check on, the magnitude bounds cannot prove that its
    /// update stays finite, in which case nothing was changed.
    fn train_sample_fused(
        &mut self,
        x: ArrayView2<'_, F>,
        target: Target<'_, F>,
        rate: F,
    ) -> Result<Option<F>> {
        let parameter_bound = if self.check_finite {
            if !self.bounds.is_known() {
                self.bounds.measure(&self.layers, &self.optimizer_state);
            }
            Some(self.bounds.parameters())
        } else {
            None
        };
        let workspace = self.buffers[0].for_batch(&self.layers, 1)?;
        let result = workspace.train_sample_sgd(
            &mut self.layers,
            self.loss.as_ref(),
            x,
            target,
            rate,
            parameter_bound,
        );
        let (loss, increment) = match result {
            Ok(done) => done,
            Err(SampleFailure::MayOverflow) => return Ok(None),
            Err(SampleFailure::Input) => {
                return Err(
                    tensor::check_finite("input", x).expect_err("max_abs found a non-finite input")
                )
            }
            Err(SampleFailure::NonFinite { what, value }) => {
                return Err(Error::Diverged {
                    step: self.steps,
                    what,
                    value: value.as_f64(),
                })
            }
        };
        if self.check_finite {
            self.bounds.grow(increment);
        }
        self.last_parts = 1;
        self.optimizer_steps += 1;
        self.steps += 1;
        Ok(Some(loss))
    }

    /// Allocates the optimizer's state (zeros) at the first step after it was set.
    fn allocate_optimizer_state(&mut self) {
        if !self.optimizer_state.is_empty() {
            return;
        }
        let buffers = self.optimizer.state_buffers();
        self.optimizer_state = self
            .layers
            .iter()
            .flat_map(|l| [(l.outs(), l.ins()), (l.outs(), 1)])
            .map(|shape| (0..buffers).map(|_| Array2::zeros(shape)).collect())
            .collect();
        self.bounds.forget();
    }

    /// Whether the magnitude bounds prove that an update from gradients bounded by
    /// `gradient_max` leaves every parameter and state entry finite (advancing the bounds
    /// past it); measures the bounds exactly first when the running ones are too loose.
    fn update_is_bounded(&mut self, gradient_max: F, scale: F, step: u64) -> bool {
        let optimizer = self.optimizer.as_ref();
        if self.bounds.advance(optimizer, gradient_max, step, scale) {
            return true;
        }
        self.bounds.measure(&self.layers, &self.optimizer_state);
        self.bounds.advance(optimizer, gradient_max, step, scale)
    }

    /// The optimizer's update of every `W_i` and `b_i` from the gradients of the last
    /// backward pass, scaled by `scale`; `step` is the optimizer's step count.
    fn update(&mut self, scale: F, step: u64) {
        let gradients = &self.buffers[0].current().gradients;
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let (weights, bias) = layer.parameters_mut();
            let (w_state, b_state) = self.optimizer_state[2 * i..2 * i + 2].split_at_mut(1);
            self.optimizer.step(
                weights,
                gradients.dws[i].view(),
                &mut w_state[0],
                step,
                scale,
            );
            self.optimizer
                .step(bias, gradients.dbs[i].view(), &mut b_state[0], step, scale);
        }
    }

    /// [`NeuralNetwork::update`] for when no bound proves it finite: the parameters and
    /// states are copied first, the result checked, and restored if an entry overflowed.
    ///
    /// # Errors
    /// [`Error::Diverged`] naming the first parameter or state, by layer, that the update
    /// made non-finite; nothing is changed then.
    fn checked_update(&mut self, scale: F, step: u64) -> Result<()> {
        let parameters: Vec<_> = (self.layers.iter())
            .map(|l| (l.weights().to_owned(), l.bias().to_owned()))
            .collect();
        let states = self.optimizer_state.clone();
        self.update(scale, step);
        let Some((what, value)) = self.first_non_finite_parameter() else {
            self.bounds.measure(&self.layers, &self.optimizer_state);
            return Ok(());
        };
        for (layer, (w, b)) in self.layers.iter_mut().zip(parameters) {
            let (mut weights, mut bias) = layer.parameters_mut();
            weights.assign(&w);
            bias.assign(&b);
        }
        self.optimizer_state = states;
        Err(Error::Diverged {
            step: self.steps,
            what,
            value: value.as_f64(),
        })
    }

    /// The first parameter or optimizer state entry, by layer, that is not finite.
    fn first_non_finite_parameter(&self) -> Option<(String, F)> {
        for (i, layer) in self.layers.iter().enumerate() {
            let states = &self.optimizer_state[2 * i..2 * i + 2];
            for (kind, parameter, state) in [
                ("weight", layer.weights(), &states[0]),
                ("bias", layer.bias(), &states[1]),
            ] {
                if let Some((_, _, v)) = tensor::first_non_finite(parameter) {
                    return Some((format!("a {kind} of layer {i} after the update"), v));
                }
                for s in state {
                    if let Some((_, _, v)) = tensor::first_non_finite(s.view()) {
                        let what = format!("the optimizer state of a {kind} of layer {i}");
                        return Some((what, v));
                    }
                }
            }
        }
        None
    }

    /// Forward and backward passes of a batch, leaving the gradients of the mean loss in
    /// `self.buffers[0]` and returning the loss.
    ///
    /// A large enough batch is cut into one share of columns per thread; each thread runs
    /// the whole forward and backward pass on its share with its own buffers, and the
    /// shares' gradients are then averaged, weighted by their sizes:
    /// `g = Σ_p (B_p/B)·g_p`. One hand-off per step instead of one per matrix product keeps
    /// both cores busy, where waking a thread for each small product costs a fifth of the
    /// time. Results are deterministic for a given number of threads.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if the buffers of a share cannot be allocated.
    fn backprop_shares(&mut self, x: ArrayView2<'_, F>, target: Target<'_, F>) -> Result<F> {
        let batch = x.ncols();
        let parts = self.shares_for(batch);
        if self.buffers.len() < parts {
            self.buffers.resize_with(parts, Buffers::default);
        }
        let (layers, loss) = (&self.layers, self.loss.as_ref());
        // Sized here, where a failure can be returned, before the threads run.
        for (p, buffers) in self.buffers[..parts].iter_mut().enumerate() {
            let (start, end) = share(batch, parts, p);
            buffers.for_batch(layers, end - start)?;
        }
        self.last_parts = parts;
        if parts == 1 {
            let threads = self.threads;
            let workspace = self.buffers[0].current_mut();
            workspace.forward(layers, x, threads);
            return Ok(workspace.backward(layers, loss, x, target, threads));
        }
        self.buffers[..parts]
            .par_iter_mut()
            .enumerate()
            .for_each(|(p, buffers)| {
                let (start, end) = share(batch, parts, p);
                let xs = x.slice(s![.., start..end]);
                let workspace = buffers.current_mut();
                workspace.forward(layers, xs, 1);
                workspace.backward(layers, loss, xs, target.samples(start, end), 1);
            });
        let (first, rest) = self.buffers[..parts].split_at_mut(1);
        let total = first[0].current_mut();
        let weight = |p: usize| {
            let (start, end) = share(batch, parts, p);
            F::from_f64((end - start) as f64 / batch as f64)
        };
        let mut loss_sum = total.gradients.loss * weight(0);
        for (i, (dw, db)) in total
            .gradients
            .dws
            .iter_mut()
            .zip(total.gradients.dbs.iter_mut())
            .enumerate()
        {
            let w0 = weight(0);
            dw.mapv_inplace(|g| g * w0);
            db.mapv_inplace(|g| g * w0);
            for (p, other) in rest.iter().enumerate() {
                let g = &other.current().gradients;
                dw.scaled_add(weight(p + 1), &g.dws[i]);
                db.scaled_add(weight(p + 1), &g.dbs[i]);
            }
        }
        for (p, other) in rest.iter().enumerate() {
            loss_sum += other.current().gradients.loss * weight(p + 1);
        }
        total.gradients.loss = loss_sum;
        Ok(loss_sum)
    }

    /// Into how many shares to cut a batch on this network (see [`shares::shares_for`]).
    fn shares_for(&self, batch: usize) -> usize {
        shares::shares_for(self.threads, batch, self.parameter_count())
    }

    /// Number of columns of the last training step's output whose largest entry is at the
    /// given class (the step's correct predictions, before its update).
    pub(crate) fn count_correct_last(&self, classes: &[usize]) -> usize {
        let batch = classes.len();
        (0..self.last_parts)
            .map(|p| {
                let (start, end) = share(batch, self.last_parts, p);
                count_correct(self.buffers[p].current().output(), &classes[start..end])
            })
            .sum()
    }

    /// The largest `|g|` over every gradient, or [`Error::Diverged`] naming the first
    /// gradient, from the last layer back (the order of the backward pass), that holds NaN
    /// or an infinity. One vectorised pass that both bounds and checks.
    fn check_gradients(&self, gradients: &Gradients<F>) -> Result<F> {
        let mut largest = F::zero();
        for i in (0..self.layers.len()).rev() {
            for (kind, g) in [("weight", &gradients.dws[i]), ("bias", &gradients.dbs[i])] {
                let m = max_abs(g.view());
                if !m.is_finite() {
                    let (_, _, v) = tensor::first_non_finite(g.view())
                        .expect("max_abs is not finite only for a non-finite entry");
                    return Err(Error::Diverged {
                        step: self.steps,
                        what: format!("the {kind} gradient of layer {i}"),
                        value: v.as_f64(),
                    });
                }
                largest = largest.max(m);
            }
        }
        Ok(largest)
    }

    fn check_input(&self, x: ArrayView2<'_, F>) -> Result<()> {
        self.check_input_shape(x, self.check_finite)
    }

    fn check_input_shape(&self, x: ArrayView2<'_, F>, finite: bool) -> Result<()> {
        tensor::check_batch("input", x, self.ins())?;
        if finite {
            tensor::check_finite("input", x)?;
        }
        Ok(())
    }

    pub(crate) fn check_sample(&self, x: ArrayView2<'_, F>, target: Target<'_, F>) -> Result<()> {
        self.check_shapes(x, target, self.check_finite)
    }

    fn check_shapes(
        &self,
        x: ArrayView2<'_, F>,
        target: Target<'_, F>,
        finite: bool,
    ) -> Result<()> {
        self.check_input_shape(x, finite)?;
        target.check(self.outs(), x.ncols())?;
        self.loss.check_target(target)
    }
}

/// The global norm `‖g‖ = sqrt(Σ over every dW and db of g²)` of finite gradients, computed
/// without overflow: with `m` the largest `|g|` (`largest`, when the caller knows it),
/// `‖g‖ = m·sqrt(Σ (g/m)²)`, where every `(g/m)²` is at most 1 (as BLAS's `nrm2` scales).
/// Squaring directly would turn gradients of 1e200 (f64) or 1e20 (f32) into an infinite
/// norm and the clipping scale into 0.
fn global_norm<F: Float>(gradients: &Gradients<F>, largest: Option<F>) -> F {
    let all = || gradients.dws.iter().chain(&gradients.dbs);
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

/// `max |a|` over a matrix, NaN if an entry is not finite (see [`kernels::max_abs`]).
pub(crate) fn max_abs<F: Float>(a: ArrayView2<'_, F>) -> F {
    match a.as_slice_memory_order() {
        Some(values) => kernels::max_abs(values),
        None => a.iter().fold(F::zero(), |m, &v| {
            if v.is_finite() {
                m.max(v.abs())
            } else {
                F::nan()
            }
        }),
    }
}

/// The number of cores, or 1 if it cannot be told.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_core::Init;
    use nn_layers::Tanh;
    use nn_loss::Mse;
    use rand::{rngs::StdRng, SeedableRng};

    /// A network of `sizes` on `threads` threads.
    fn network(sizes: &[usize], threads: usize) -> NeuralNetwork<f64> {
        let mut rng = StdRng::seed_from_u64(0);
        let layers = sizes
            .windows(2)
            .map(|p| Dense::new(p[0], p[1], Tanh, Init::XavierNormal, &mut rng).unwrap())
            .collect();
        let mut net = NeuralNetwork::new(layers, Mse, 0.1).unwrap();
        net.set_threads(threads).unwrap();
        net
    }

    #[test]
    fn a_network_shares_its_batches_by_its_parameter_count_and_threads() {
        // 100 → 100 → 10: 11 110 parameters, so 94 columns make 1 044 340 < 2^20 and 95
        // make 1 055 450 ≥ 2^20; 95 columns are two shares of 32, 96 three. The
        // thread-share tests rely on these splits.
        let wide = network(&[100, 100, 10], 3);
        assert_eq!(wide.parameter_count(), 11_110);
        for (batch, parts) in [(1, 1), (94, 1), (95, 2), (96, 3), (97, 3), (130, 3)] {
            assert_eq!(wide.shares_for(batch), parts, "batch {batch}");
        }
        // A new network uses every core, and one thread never shares.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut rng = StdRng::seed_from_u64(0);
        let layer = Dense::new(2, 2, Tanh, Init::XavierNormal, &mut rng).unwrap();
        assert_eq!(
            NeuralNetwork::new(vec![layer], Mse, 0.1).unwrap().threads(),
            cores
        );
        assert_eq!(network(&[100, 100, 10], 1).shares_for(500), 1);
        assert_eq!(network(&[100, 100, 10], 2).shares_for(500), 2);
    }
}
