//! [`NeuralNetwork`]: layers, a loss and a learning rate, trained one step at a time.
//!
//! The article's one object, composed of two: the model (`model.rs`: the layers and the
//! loss, what is saved and what predicts) and the trainer (`trainer.rs`: the optimizer
//! and its state, step counts, clipping, thread buffers). This file holds the public API
//! and hands each call to the one of the two it belongs to.

use ndarray::{Array2, ArrayView2};
use nn_core::compute::rows;
use nn_core::{tensor, Error, Float, Loss, Preprocessing, Result, Target};
use nn_layers::Dense;

use crate::backprop::{Deferred, Gradients};
use crate::model::{Model, Snapshot};
use crate::optimizer::Optimizer;
use crate::sgd::Sgd;
use crate::trainer::Trainer;

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
///     Dense::new(2, 4, LeakyRelu, Init::HeNormal, &mut rng)?,
///     Dense::new(4, 3, LeakyRelu, Init::HeNormal, &mut rng)?,
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
    /// The layers and the loss: what is saved, and what predicts.
    model: Model<F>,
    /// The optimizer, its state, and what else a training step needs.
    trainer: Trainer<F>,
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
        Ok(NeuralNetwork {
            model: Model::new(layers, loss)?,
            trainer: Trainer::new(Box::new(Sgd::new(learning_rate)?)),
        })
    }

    /// Replaces the optimizer (plain SGD at the constructor's learning rate by default) and
    /// resets its state, e.g. `net.set_optimizer(Adam::new(1e-3)?)`.
    pub fn set_optimizer<O: Optimizer<F> + 'static>(&mut self, optimizer: O) {
        self.set_boxed_optimizer(Box::new(optimizer));
    }

    /// As [`NeuralNetwork::set_optimizer`], for an optimizer chosen at run time.
    pub fn set_boxed_optimizer(&mut self, optimizer: Box<dyn Optimizer<F>>) {
        self.trainer.set_optimizer(optimizer);
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &dyn Optimizer<F> {
        self.trainer.optimizer()
    }

    /// Clips gradients by their global norm before each update: when
    /// `‖g‖ = sqrt(Σ over every dW and db of g²)` exceeds `max_norm`, every gradient is
    /// scaled by `max_norm/‖g‖`. `None` (the default) turns clipping off.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] unless `max_norm` is finite and positive.
    pub fn set_max_gradient_norm(&mut self, max_norm: Option<F>) -> Result<()> {
        self.trainer.set_max_gradient_norm(max_norm)
    }

    /// Sets how many threads a batched step may use for its matrix products (at least 1;
    /// the default is the number of cores, as `std::thread::available_parallelism` sees
    /// them). Products are cut into independent blocks, so results do not depend on it.
    /// One sample is always computed on the calling thread: its products are too small to
    /// share.
    ///
    /// The threads are the calling thread and helper threads that wait for work by
    /// spinning rather than sleeping (no more than the machine's cores in all): during
    /// [`NeuralNetwork::fit`], `threads − 1` helpers started for the run; otherwise (a
    /// `train` or `predict` call on its own) the process's helpers, started at the first
    /// call that splits a product, one for each core but one.
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
        self.model.threads = threads;
        Ok(())
    }

    /// The number of threads a batched step may use.
    pub fn threads(&self) -> usize {
        self.model.threads
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
        self.model.check_finite = check;
    }

    /// Whether the finiteness check is on (see [`NeuralNetwork::set_check_finite`]).
    pub fn check_finite(&self) -> bool {
        self.model.check_finite
    }

    /// Restarts the generator of the dropout masks (see `nn_layers::Dense::with_dropout`) from
    /// `seed`, so that the training steps that follow drop the same inputs each time.
    /// A new network's generator starts from seed 0 (the builder's
    /// [`seed`](crate::NetworkBuilder::seed) otherwise); [`NeuralNetwork::fit`] and
    /// [`NeuralNetwork::fit_with`] restart it from their generator, so that a fit is
    /// reproducible from its seed alone. Without dropout this changes nothing.
    pub fn seed_dropout(&mut self, seed: u64) {
        self.trainer.seed_dropout(seed);
    }

    /// Sets the step applied to every input before the first layer — in training,
    /// evaluation and prediction alike — or removes it with `None`. Fit it on the training
    /// split only (e.g. [`Preprocessing::standardize`] of its inputs): validation and test
    /// data then go through the training statistics, and the step is saved in the model
    /// file, so that a loaded network predicts on raw inputs as this one does.
    ///
    /// The optimizer's state is kept: change the step before training, not during it.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] (`what` = `"preprocessing"`) if the step does not map
    /// [`ins`](Self::ins) features.
    ///
    /// # Example
    /// ```
    /// use ndarray::array;
    /// use nn_core::{Init, Preprocessing, Target};
    /// use nn_layers::{Dense, Identity};
    /// use nn_loss::Mse;
    /// use nn_train::NeuralNetwork;
    /// use rand::{rngs::StdRng, SeedableRng};
    ///
    /// let mut rng = StdRng::seed_from_u64(0);
    /// let layer = Dense::new(2, 1, Identity, Init::XavierNormal, &mut rng)?;
    /// let mut net = NeuralNetwork::<f64>::new(vec![layer], Mse, 0.01)?;
    /// // Raw inputs: a feature around 1000 and one around 0.001.
    /// let train = array![[1000.0, 1010.0, 990.0], [0.001, 0.003, 0.002]];
    /// net.set_preprocessing(Some(Preprocessing::standardize(train.view())?))?;
    /// let before = net.forward_pass(array![[1000.0], [0.002]].view())?;
    /// // The first layer saw the standardized sample (0, 0): its output is its bias.
    /// assert_eq!(before[(0, 0)], net.layers()[0].bias()[(0, 0)]);
    /// # Ok::<(), nn_core::Error>(())
    /// ```
    pub fn set_preprocessing(&mut self, preprocessing: Option<Preprocessing<F>>) -> Result<()> {
        self.model.set_preprocessing(preprocessing)
    }

    /// The step applied to every input before the first layer, if any (see
    /// [`NeuralNetwork::set_preprocessing`]).
    pub fn preprocessing(&self) -> Option<&Preprocessing<F>> {
        self.model.preprocessing()
    }

    /// Names the network's outputs (a classifier's classes, in output order), or removes
    /// the names with `None`. They are saved in the model file, and
    /// [`NeuralNetwork::predict_names`] answers with them.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] (`what` = `"class names"`) unless there is one name per
    /// output.
    pub fn set_class_names(&mut self, names: Option<Vec<String>>) -> Result<()> {
        self.model.set_class_names(names)
    }

    /// The names of the outputs, if set (see [`NeuralNetwork::set_class_names`]).
    pub fn class_names(&self) -> Option<&[String]> {
        self.model.class_names()
    }

    /// The layers, first to last.
    pub fn layers(&self) -> &[Dense<F>] {
        self.model.layers()
    }

    /// Mutable views of the weights and bias of layer `index`, or `None` past the last
    /// layer. Views keep the shapes fixed, so the network stays consistent.
    pub fn parameters_mut(
        &mut self,
        index: usize,
    ) -> Option<(ndarray::ArrayViewMut2<'_, F>, ndarray::ArrayViewMut2<'_, F>)> {
        // Whatever the caller writes, the trainer's running bounds no longer hold.
        self.trainer.parameters_changed();
        self.model.parameters_mut(index)
    }

    /// The loss function.
    pub fn loss_function(&self) -> &dyn Loss<F> {
        self.model.loss()
    }

    /// The optimizer's learning rate.
    pub fn learning_rate(&self) -> F {
        self.trainer.optimizer().learning_rate()
    }

    /// Changes the optimizer's learning rate (for schedules); its state is kept.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] unless it is finite and positive.
    pub fn set_learning_rate(&mut self, learning_rate: F) -> Result<()> {
        self.trainer.set_learning_rate(learning_rate)
    }

    /// Number of inputs of the first layer.
    pub fn ins(&self) -> usize {
        self.model.ins()
    }

    /// Number of outputs of the last layer.
    pub fn outs(&self) -> usize {
        self.model.outs()
    }

    /// Number of training steps taken so far.
    pub fn steps(&self) -> u64 {
        self.trainer.steps()
    }

    /// Number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        self.model.parameter_count()
    }

    /// The network's output for `x`: `xs[i+1] = f_i(W_i·xs[i] + b_i)` through every layer,
    /// from `xs[0] = x` (or `x` after the [preprocessing step](Self::set_preprocessing),
    /// if the network has one).
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
        self.model.forward_pass(x)
    }

    /// The predicted class of each sample: the index of the largest output of each column.
    ///
    /// # Errors
    /// As [`NeuralNetwork::forward_pass`].
    pub fn predict(&self, x: ArrayView2<'_, F>) -> Result<Vec<usize>> {
        Ok(tensor::argmax_columns(self.forward_pass(x)?.view()))
    }

    /// The predicted class of each sample, by name: [`NeuralNetwork::predict`] looked up
    /// in [`NeuralNetwork::class_names`].
    ///
    /// # Errors
    /// As [`NeuralNetwork::forward_pass`]; [`Error::NotApplicable`] if the network has no
    /// class names.
    pub fn predict_names(&self, x: ArrayView2<'_, F>) -> Result<Vec<&str>> {
        let names = self.class_names().ok_or_else(|| Error::NotApplicable {
            operation: "predict_names",
            reason: "the network has no class names (see set_class_names)".into(),
        })?;
        Ok(self
            .predict(x)?
            .into_iter()
            .map(|c| names[c].as_str())
            .collect())
    }

    /// The loss of output `values` against `target` (mean over the batch).
    ///
    /// # Errors
    /// As [`Loss::loss`]: among them [`Error::NonFiniteInput`] for non-finite values and
    /// [`Error::NonFiniteLoss`] when the loss of finite values overflows.
    pub fn loss(&self, values: ArrayView2<'_, F>, target: Target<'_, F>) -> Result<F> {
        self.model.loss().loss(values, target)
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
        self.model.backprop(x, target, self.trainer.steps())
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

    /// A [`SampleStream`](crate::SampleStream) on this network: per-sample training whose
    /// steps share one pass over the first layer's weights between one step's update and
    /// the next step's forward product, with the results of [`NeuralNetwork::train`]. The
    /// last update is applied when the stream is dropped.
    pub fn sample_stream(&mut self) -> crate::SampleStream<F, &mut Self> {
        crate::SampleStream::new(self)
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
        self.trainer
            .step(&mut self.model, x, target, scan_input, None)
    }

    /// [`NeuralNetwork::train`] in a [`SampleStream`](crate::SampleStream): a fused
    /// one-sample step leaves its first-layer update in `deferred`.
    pub(crate) fn train_deferring(
        &mut self,
        x: ArrayView2<'_, F>,
        target: Target<'_, F>,
        deferred: &mut Deferred<F>,
    ) -> Result<F> {
        self.trainer
            .step(&mut self.model, x, target, true, Some(deferred))
    }

    /// See `Trainer::block_step`.
    pub(crate) fn block_step(
        &mut self,
        x: ArrayView2<'_, F>,
        target: Target<'_, F>,
        input_max: Option<F>,
        product: &[F],
    ) -> Result<Option<F>> {
        self.trainer
            .block_step(&mut self.model, x, target, input_max, product)
    }

    /// Whether one-sample steps take the fused SGD path (plain SGD, no clipping, dropout
    /// or preprocessing), which blocks of steps compute together.
    pub(crate) fn takes_fused_steps(&self) -> bool {
        self.trainer.takes_fused_steps(&self.model)
    }

    /// Measures the magnitude bounds of the parameters if they are unknown.
    pub(crate) fn know_bounds(&mut self) {
        self.trainer.know_bounds(&self.model);
    }

    /// The first layer's `delta` of the last one-sample step.
    pub(crate) fn first_delta(&self) -> &[F] {
        self.trainer.first_delta()
    }

    /// Whether training checks its inputs and steps for non-finite values.
    pub(crate) fn checks_finite(&self) -> bool {
        self.model.check_finite
    }

    /// Checks that `(x, target)` fit the network, without scanning `x`.
    pub(crate) fn check_sample_shapes(
        &self,
        x: ArrayView2<'_, F>,
        target: Target<'_, F>,
    ) -> Result<()> {
        self.model.check_sample(x, target, false)
    }

    /// The first layer's weights, to write back values the training steps computed
    /// elsewhere (the magnitude bounds, which count those steps, stay known).
    pub(crate) fn first_weights_mut(&mut self) -> ndarray::ArrayViewMut2<'_, F> {
        self.model.layers_mut()[0].parameters_mut().0
    }

    /// Applies a [`SampleStream`](crate::SampleStream)'s deferred update.
    pub(crate) fn apply_deferred(&mut self, deferred: &mut Deferred<F>) {
        deferred.apply(self.model.layers_mut());
    }

    /// Number of columns of the last training step's output whose largest entry is at the
    /// given class (the step's correct predictions, before its update).
    pub(crate) fn count_correct_last(&self, classes: &[usize]) -> usize {
        self.trainer.count_correct_last(classes)
    }

    /// The model: preprocessing, layers and loss.
    pub(crate) fn model(&self) -> &Model<F> {
        &self.model
    }

    /// Checks that `(x, target)` fit the network (and are finite, with the check on).
    pub(crate) fn check_sample(&self, x: ArrayView2<'_, F>, target: Target<'_, F>) -> Result<()> {
        self.model.check_sample(x, target, self.model.check_finite)
    }

    /// [`NeuralNetwork::check_sample`] for a whole data set: the finiteness scan, which
    /// reads every input once, runs on the network's threads.
    pub(crate) fn check_data(&self, x: ArrayView2<'_, F>, target: Target<'_, F>) -> Result<()> {
        self.model.check_sample(x, target, false)?;
        if self.model.check_finite && !rows::max_abs(x, self.threads()).is_finite() {
            // Searched again on one thread, to name the entry.
            tensor::check_finite("input", x)?;
        }
        Ok(())
    }

    /// A copy of every layer's parameters.
    pub(crate) fn snapshot(&self) -> Snapshot<F> {
        self.model.snapshot()
    }

    /// Puts back the parameters of a [`NeuralNetwork::snapshot`].
    pub(crate) fn restore(&mut self, snapshot: &[(Array2<F>, Array2<F>)]) {
        self.trainer.parameters_changed();
        self.model.restore(snapshot);
    }
}
