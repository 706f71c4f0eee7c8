//! The trainer: the optimizer and its state per layer, the step counts, gradient
//! clipping and the thread buffers; and one training step, in named stages.

use ndarray::{Array2, ArrayView2};
use nn_core::{tensor, Error, Float, Result, Target};
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::backprop::{Buffers, Deferred, FirstLayer, InputBound, SampleBounds, SampleFailure};
use crate::bounds::MagnitudeBounds;
use crate::dropout::Masks;
use crate::hyperparameter::check_hyperparameter;
use crate::model::Model;
use crate::optimizer::{LayerState, Optimizer};
use crate::shares::{self, share};

/// What trains a [`Model`]: everything a step needs besides the layers and the loss.
#[derive(Clone, Debug)]
pub(crate) struct Trainer<F: Float> {
    optimizer: Box<dyn Optimizer<F>>,
    /// One state per layer; empty until the first step after the optimizer was set.
    state: Vec<LayerState<F>>,
    /// Updates made by the current optimizer (Adam's `t`).
    optimizer_steps: u64,
    /// Training steps taken, whatever the optimizer.
    steps: u64,
    max_gradient_norm: Option<F>,
    /// Buffers of each thread's share of a batch (one share unless the step is split).
    buffers: Vec<Buffers<F>>,
    /// Into how many shares the last step's batch was split.
    last_parts: usize,
    /// Running bounds of the parameters' and states' magnitudes, with which the
    /// finiteness check proves that an update cannot overflow.
    bounds: MagnitudeBounds<F>,
    /// The batch after the model's preprocessing step (empty without one).
    preprocessed: Array2<F>,
    /// The dropout masks of the current step (empty when no layer has dropout).
    masks: Masks<F>,
    /// The generator of the dropout masks, seeded (see `NeuralNetwork::seed_dropout`).
    dropout_rng: SmallRng,
}

impl<F: Float> Trainer<F> {
    /// A trainer with `optimizer`, no clipping, and no step taken.
    pub(crate) fn new(optimizer: Box<dyn Optimizer<F>>) -> Self {
        Trainer {
            optimizer,
            state: Vec::new(),
            optimizer_steps: 0,
            steps: 0,
            max_gradient_norm: None,
            buffers: vec![Buffers::default()],
            last_parts: 1,
            bounds: MagnitudeBounds::default(),
            preprocessed: Array2::zeros((0, 0)),
            masks: Masks::default(),
            dropout_rng: SmallRng::seed_from_u64(0),
        }
    }

    /// Restarts the generator of the dropout masks from `seed`.
    pub(crate) fn seed_dropout(&mut self, seed: u64) {
        self.dropout_rng = SmallRng::seed_from_u64(seed);
    }

    /// Replaces the optimizer and drops its state.
    pub(crate) fn set_optimizer(&mut self, optimizer: Box<dyn Optimizer<F>>) {
        self.optimizer = optimizer;
        self.state.clear();
        self.optimizer_steps = 0;
        self.bounds.forget();
    }

    /// The optimizer.
    pub(crate) fn optimizer(&self) -> &dyn Optimizer<F> {
        self.optimizer.as_ref()
    }

    /// Changes the optimizer's learning rate, keeping its state.
    pub(crate) fn set_learning_rate(&mut self, learning_rate: F) -> Result<()> {
        self.optimizer.set_learning_rate(learning_rate)
    }

    /// See `NeuralNetwork::set_max_gradient_norm`.
    pub(crate) fn set_max_gradient_norm(&mut self, max_norm: Option<F>) -> Result<()> {
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

    /// Training steps taken so far.
    pub(crate) fn steps(&self) -> u64 {
        self.steps
    }

    /// Marks the magnitude bounds as unknown: the parameters were written from outside.
    pub(crate) fn parameters_changed(&mut self) {
        self.bounds.forget();
    }

    /// One training step of `model` on `(x, target)`: see `NeuralNetwork::train`. Scans
    /// `x` for non-finite values only if `scan_input` (`fit` checks its data set once).
    ///
    /// The stages are the article's: check, (preprocess,) forward and backward, (clip,)
    /// update.
    pub(crate) fn step(
        &mut self,
        model: &mut Model<F>,
        x: ArrayView2<'_, F>,
        target: Target<'_, F>,
        scan_input: bool,
        deferred: Option<&mut Deferred<F>>,
    ) -> Result<F> {
        // Taken out for the step, so that the preprocessed view into it does not borrow
        // `self`; moving an array copies no element.
        let mut buffer = std::mem::take(&mut self.preprocessed);
        let result = self.step_with(model, x, target, scan_input, &mut buffer, deferred);
        self.preprocessed = buffer;
        result
    }

    /// [`Trainer::step`], with `buffer` for the preprocessed batch. With `deferred`, a
    /// fused one-sample step leaves its first-layer update there (applying the one
    /// already there with its forward product); any other step applies it first.
    fn step_with(
        &mut self,
        model: &mut Model<F>,
        x: ArrayView2<'_, F>,
        target: Target<'_, F>,
        scan_input: bool,
        buffer: &mut Array2<F>,
        mut deferred: Option<&mut Deferred<F>>,
    ) -> Result<F> {
        let mut input_max = self.check(model, x, target, scan_input)?;
        let (raw, x) = (x, model.preprocessed(x, buffer)?);
        // With a preprocessing step, the bound the fused path needs is on what the first
        // layer sees, and that one scan stands for the raw input's.
        if let Some(max) = model.scan_preprocessed(raw, x)? {
            input_max = Some(max);
        }
        // The fast path for one sample with plain SGD: the same update as the stages
        // below, without forming dW. `None` when it could not prove its update finite,
        // having changed nothing: the stages below then check it.
        if let Some(rate) = self.fused_rate(model, x.ncols()) {
            let input = match input_max {
                Some(max) => Some(InputBound::Known(max)),
                None => model.check_finite.then_some(InputBound::ScanAfterForward),
            };
            let fused = (rate, input);
            let first = match deferred.as_deref_mut() {
                Some(deferred) => FirstLayer::Deferred(deferred),
                None => FirstLayer::Now,
            };
            if let Some(loss) = self.sgd_sample_fused(model, x, target, fused, first)? {
                return Ok(loss);
            }
        }
        if let Some(deferred) = deferred {
            deferred.apply(model.layers_mut());
        }
        let (loss, gradient_max) = self.forward_backward(model, x, target)?;
        let scale = self.clip_scale(gradient_max)?;
        self.update(model, scale, gradient_max)?;
        Ok(loss)
    }

    /// Stage 1: `x` and `target` fit the model; with the finiteness check on (and no
    /// preprocessing step, after which the step's output is scanned instead), `x` is
    /// finite. Returns `max |x|` when it was scanned (never for the fused path, which
    /// scans its input after its forward pass).
    ///
    /// # Errors
    /// The input and target errors of `NeuralNetwork::backprop`.
    fn check(
        &self,
        model: &Model<F>,
        x: ArrayView2<'_, F>,
        target: Target<'_, F>,
        scan_input: bool,
    ) -> Result<Option<F>> {
        model.check_input(x, false)?;
        // With a preprocessing step, the preprocessed input is scanned instead.
        // The fused one-sample path scans its input itself, after its forward pass, when
        // the first layer's product has brought it into the cache.
        let scan = model.check_finite
            && model.preprocessing().is_none()
            && scan_input
            && self.fused_rate(model, x.ncols()).is_none();
        let input_max = scan
            .then(|| tensor::finite_max_abs("input", x))
            .transpose()?;
        model.check_target(target, x.ncols())?;
        Ok(input_max)
    }

    /// The learning rate of the fused one-sample path, when it applies: one sample, no
    /// clipping, no dropout, and an optimizer whose step is plain
    /// `θ ← θ - learning_rate·g`.
    fn fused_rate(&self, model: &Model<F>, batch: usize) -> Option<F> {
        match (batch, self.max_gradient_norm) {
            (1, None) if !model.has_dropout() => self.optimizer.plain_learning_rate(),
            _ => None,
        }
    }

    /// Stage 2: the forward and backward passes (the article's loop, in
    /// [`crate::backprop`]), leaving the gradients of the mean loss in `buffers[0]`. A
    /// small network's large batch is cut into one share per thread (see
    /// [`shares::forward_backward`]); a larger network's layers cut their rows over the
    /// threads instead (see `shares::shares_for`).
    /// Returns the loss and, with the finiteness check on, the largest `|g|`.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if the buffers cannot be allocated; [`Error::Diverged`] for a
    /// non-finite loss or (with the check on) gradient.
    fn forward_backward(
        &mut self,
        model: &Model<F>,
        x: ArrayView2<'_, F>,
        target: Target<'_, F>,
    ) -> Result<(F, Option<F>)> {
        let batch = x.ncols();
        let parts = model.shares_for(batch);
        if self.buffers.len() < parts {
            self.buffers.resize_with(parts, Buffers::default);
        }
        let (layers, loss) = (model.layers(), model.loss());
        // Sized here, where a failure can be returned, before any thread runs.
        for (p, buffers) in self.buffers[..parts].iter_mut().enumerate() {
            let (start, end) = share(batch, parts, p);
            buffers.for_batch(layers, end - start)?;
        }
        self.last_parts = parts;
        let masks = if model.has_dropout() {
            self.masks.draw(layers, batch, &mut self.dropout_rng)?;
            Some(&self.masks)
        } else {
            None
        };
        // The backward pass finds `max |g|` as it computes each block of the gradients,
        // and with shares, the pass that sums them.
        let (value, summed_max) = if parts == 1 {
            let workspace = self.buffers[0].current_mut();
            let share = masks.map(|m| m.share(0, batch));
            workspace.forward(layers, x, model.threads, share);
            workspace.backward(layers, loss, x, target, model.threads, share)
        } else {
            let buffers = &mut self.buffers[..parts];
            let (value, max) = shares::forward_backward(buffers, layers, loss, x, target, masks);
            (value, Some(max))
        };
        if !value.is_finite() {
            return Err(Error::Diverged {
                step: self.steps,
                what: "the loss".into(),
                value: value.as_f64(),
            });
        }
        if !model.check_finite {
            return Ok((value, None));
        }
        let gradient_max = match summed_max {
            Some(max) if max.is_finite() => max,
            // The full check names the first gradient at fault (the sum only knows that
            // one is).
            _ => self.buffers[0].current().gradients.check(self.steps)?,
        };
        Ok((value, Some(gradient_max)))
    }

    /// Stage 3: the factor every gradient is multiplied by, `max_norm/‖g‖` when gradient
    /// clipping is on and the global norm `‖g‖` exceeds `max_norm`, else 1.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] when that factor underflows to 0.
    fn clip_scale(&self, gradient_max: Option<F>) -> Result<F> {
        let Some(max_norm) = self.max_gradient_norm else {
            return Ok(F::one());
        };
        let norm = self.buffers[0]
            .current()
            .gradients
            .global_norm(gradient_max);
        if norm <= max_norm {
            return Ok(F::one());
        }
        let scale = max_norm / norm;
        // Only a limit below the smallest float times the norm gets here (e.g. 1e-8
        // against a norm of 1e38 in f32): a step of zero would be silent.
        if scale == F::zero() {
            return Err(Error::InvalidHyperparameter {
                name: "max_gradient_norm",
                value: max_norm.as_f64(),
                reason: "is so small next to the gradient norm that the clipping scale \
                         max_gradient_norm/norm underflows to 0",
            });
        }
        Ok(scale)
    }

    /// Stage 4: the optimizer's update of every `W_i` and `b_i` from the gradients in
    /// `buffers[0]` times `scale`. With the finiteness check on (`gradient_max` known),
    /// the update is applied directly when the magnitude bounds prove it finite, and
    /// checked otherwise.
    ///
    /// # Errors
    /// [`Error::Diverged`] (nothing changed) when a checked update overflowed.
    fn update(&mut self, model: &mut Model<F>, scale: F, gradient_max: Option<F>) -> Result<()> {
        self.allocate_state(model);
        let t = self.optimizer_steps + 1;
        match gradient_max {
            Some(g) if !self.update_is_bounded(model, g, scale, t) => {
                self.checked_update(model, scale, t)?
            }
            _ => self.apply_update(model, scale, t),
        }
        self.optimizer_steps = t;
        self.steps += 1;
        Ok(())
    }

    /// The fused one-sample SGD step, [`crate::backprop::Workspace::train_sample_sgd`]:
    /// equal to stages 2 to 4 with plain SGD (the test
    /// `the_fused_per_sample_path_equals_the_general_path` compares them). `input` is
    /// `max |x|`, or that it is to be scanned, when the finiteness check is on. `Ok(None)`
    /// when, with the check on, the magnitude bounds cannot prove that its update stays
    /// finite; nothing was changed then.
    ///
    /// # Errors
    /// [`Error::TooLarge`] for buffers that cannot be allocated; [`Error::Diverged`] for a
    /// non-finite loss or update.
    fn sgd_sample_fused(
        &mut self,
        model: &mut Model<F>,
        x: ArrayView2<'_, F>,
        target: Target<'_, F>,
        (rate, input): (F, Option<InputBound<F>>),
        mut first: FirstLayer<'_, F>,
    ) -> Result<Option<F>> {
        let bounds = match input {
            Some(input) => {
                if !self.bounds.is_known() {
                    // The bound is measured on the parameters as they are.
                    match &mut first {
                        FirstLayer::Deferred(deferred) => deferred.apply(model.layers_mut()),
                        // W_0 is the block's to update: it cannot be measured here.
                        FirstLayer::Product(_) => return Ok(None),
                        FirstLayer::Now => {}
                    }
                    self.bounds.measure(model.layers(), &self.state);
                }
                Some(SampleBounds {
                    parameters: self.bounds.parameters(),
                    input,
                })
            }
            None => None,
        };
        let workspace = self.buffers[0].for_batch(model.layers(), 1)?;
        let (layers, loss) = model.layers_mut_and_loss();
        let (value, increment) =
            match workspace.train_sample_sgd(layers, loss, x, target, (rate, bounds), first) {
                Ok(done) => done,
                Err(SampleFailure::MayOverflow) => return Ok(None),
                Err(SampleFailure::NonFiniteInput) => {
                    return Err(tensor::finite_max_abs("input", x)
                        .expect_err("the step found a non-finite entry"))
                }
                Err(SampleFailure::NonFinite { what, value }) => {
                    return Err(Error::Diverged {
                        step: self.steps,
                        what,
                        value: value.as_f64(),
                    })
                }
            };
        if input.is_some() {
            self.bounds.grow(increment);
        }
        self.last_parts = 1;
        self.optimizer_steps += 1;
        self.steps += 1;
        Ok(Some(value))
    }

    /// One step of a block of per-sample steps (see `crate::sample_block`): the fused
    /// one-sample SGD step with the first layer's product `W_0·x` given, which updates
    /// every parameter but `W_0` and leaves `delta_0` in [`Trainer::first_delta`] for the
    /// caller to update `W_0` with, at the learning rate returned. `input_max` is
    /// `max |x|` when the finiteness check is on. `Ok(None)` when the step cannot be taken so (not a plain SGD step on one
    /// sample, magnitude bounds unknown, or not provably finite); nothing changed then.
    ///
    /// # Errors
    /// As [`Trainer::step`] for a non-finite loss or update.
    pub(crate) fn block_step(
        &mut self,
        model: &mut Model<F>,
        x: ArrayView2<'_, F>,
        target: Target<'_, F>,
        input_max: Option<F>,
        product: &[F],
    ) -> Result<Option<F>> {
        let Some(rate) = self.fused_rate(model, 1) else {
            return Ok(None);
        };
        let input = input_max.map(InputBound::Known);
        let first = FirstLayer::Product(product);
        let step = self.sgd_sample_fused(model, x, target, (rate, input), first)?;
        Ok(step.map(|_| rate))
    }

    /// Whether a one-sample step of `model` would take the fused SGD path, so that a block
    /// of such steps can be computed together.
    pub(crate) fn takes_fused_steps(&self, model: &Model<F>) -> bool {
        self.fused_rate(model, 1).is_some() && model.preprocessing().is_none()
    }

    /// Measures the magnitude bounds if they are unknown (before a block of steps starts,
    /// while the parameters are all where they can be measured).
    pub(crate) fn know_bounds(&mut self, model: &Model<F>) {
        if !self.bounds.is_known() {
            self.bounds.measure(model.layers(), &self.state);
        }
    }

    /// The first layer's `delta` of the last one-sample step.
    pub(crate) fn first_delta(&self) -> &[F] {
        self.buffers[0].current().first_delta()
    }

    /// Allocates the optimizer's state (zeros) at the first step after it was set.
    fn allocate_state(&mut self, model: &Model<F>) {
        if !self.state.is_empty() {
            return;
        }
        let buffers = self.optimizer.state_buffers();
        self.state = (model.layers().iter())
            .map(|l| LayerState::zeros(buffers, (l.outs(), l.ins()), model.threads))
            .collect();
        self.bounds.forget();
    }

    /// Whether the magnitude bounds prove that an update from gradients bounded by
    /// `gradient_max` leaves every parameter and state entry finite (advancing the bounds
    /// past it); measures the bounds exactly first when the running ones are too loose.
    fn update_is_bounded(
        &mut self,
        model: &Model<F>,
        gradient_max: F,
        scale: F,
        step: u64,
    ) -> bool {
        let optimizer = self.optimizer.as_ref();
        if self.bounds.advance(optimizer, gradient_max, step, scale) {
            return true;
        }
        self.bounds.measure(model.layers(), &self.state);
        self.bounds.advance(optimizer, gradient_max, step, scale)
    }

    /// The optimizer's step on every `W_i` and `b_i`, from the gradients of the last
    /// backward pass scaled by `scale`; `step` is the optimizer's step count.
    fn apply_update(&mut self, model: &mut Model<F>, scale: F, step: u64) {
        let gradients = &self.buffers[0].current().gradients;
        let optimizer = self.optimizer.as_ref();
        let threads = model.threads;
        for (i, (layer, state)) in model
            .layers_mut()
            .iter_mut()
            .zip(&mut self.state)
            .enumerate()
        {
            let (weights, bias) = layer.parameters_mut();
            let gradient = gradients.dws[i].view();
            state.step_weights(optimizer, weights, gradient, (step, scale, threads));
            optimizer.step(bias, gradients.dbs[i].view(), &mut state.bias, step, scale);
        }
    }

    /// [`Trainer::apply_update`] for when no bound proves it finite: the parameters and
    /// states are copied first, the result checked, and restored if an entry overflowed.
    ///
    /// # Errors
    /// [`Error::Diverged`] naming the first parameter or state, by layer, that the update
    /// made non-finite; nothing is changed then.
    fn checked_update(&mut self, model: &mut Model<F>, scale: F, step: u64) -> Result<()> {
        let parameters = model.snapshot();
        let states = self.state.clone();
        self.apply_update(model, scale, step);
        let Some((what, value)) = self.first_non_finite_parameter(model) else {
            self.bounds.measure(model.layers(), &self.state);
            return Ok(());
        };
        model.restore(&parameters);
        self.state = states;
        Err(Error::Diverged {
            step: self.steps,
            what,
            value: value.as_f64(),
        })
    }

    /// The first parameter or optimizer state entry, by layer, that is not finite.
    fn first_non_finite_parameter(&self, model: &Model<F>) -> Option<(String, F)> {
        for (i, (layer, state)) in model.layers().iter().zip(&self.state).enumerate() {
            // The weights' state lies in blocks of rows; the states of each part in turn.
            let (mut weight_states, mut bias_states) =
                (state.weights.iter().flatten(), state.bias.iter());
            let parts: [(_, _, &mut dyn Iterator<Item = &Array2<F>>); 2] = [
                ("weight", layer.weights(), &mut weight_states),
                ("bias", layer.bias(), &mut bias_states),
            ];
            for (kind, parameter, states) in parts {
                if let Some((_, _, v)) = tensor::first_non_finite(parameter) {
                    return Some((format!("a {kind} of layer {i} after the update"), v));
                }
                for s in states {
                    if let Some((_, _, v)) = tensor::first_non_finite(s.view()) {
                        let what = format!("the optimizer state of a {kind} of layer {i}");
                        return Some((what, v));
                    }
                }
            }
        }
        None
    }

    /// Number of columns of the last step's output whose largest entry is at the given
    /// class (the step's correct predictions, before its update).
    pub(crate) fn count_correct_last(&self, classes: &[usize]) -> usize {
        let batch = classes.len();
        (0..self.last_parts)
            .map(|p| {
                let (start, end) = share(batch, self.last_parts, p);
                let output = self.buffers[p].current().output();
                tensor::count_correct(output, &classes[start..end])
            })
            .sum()
    }
}
