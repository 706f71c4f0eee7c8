//! [`NeuralNetwork`]: layers, a loss and a learning rate, trained one step at a time.

use ndarray::{Array2, ArrayView2};
use nn_core::{tensor, Error, Float, Loss, Result, Target};
use nn_layers::Dense;

use crate::backprop::{Gradients, Workspace};
use crate::sgd::Sgd;

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
    sgd: Sgd<F>,
    steps: u64,
    workspace: Workspace<F>,
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
            sgd: Sgd::new(learning_rate)?,
            steps: 0,
            workspace: Workspace::empty(),
        })
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
        self.layers.get_mut(index).map(Dense::parameters_mut)
    }

    /// The loss function.
    pub fn loss_function(&self) -> &dyn Loss<F> {
        self.loss.as_ref()
    }

    /// The learning rate of the SGD step.
    pub fn learning_rate(&self) -> F {
        self.sgd.learning_rate()
    }

    /// Changes the learning rate (for schedules).
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] unless it is finite and positive.
    pub fn set_learning_rate(&mut self, learning_rate: F) -> Result<()> {
        self.sgd = Sgd::new(learning_rate)?;
        Ok(())
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
    /// no column, [`Error::NonFiniteInput`] for NaN or infinite inputs.
    pub fn forward_pass(&self, x: ArrayView2<'_, F>) -> Result<Array2<F>> {
        self.check_input(x)?;
        let mut workspace = Workspace::empty();
        workspace.fit(&self.layers, x.ncols(), false);
        workspace.forward(&self.layers, x);
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
    /// As [`Loss::loss`].
    pub fn loss(&self, values: ArrayView2<'_, F>, target: Target<'_, F>) -> Result<F> {
        self.loss.loss(values, target)
    }

    /// Backpropagation without an update: the gradients of the loss at `(x, target)` with
    /// respect to every layer's input, weights and bias (see [`Gradients`]).
    ///
    /// The backward step for layer `i`, with `y = W_i·xs[i] + b_i` cached by the forward
    /// pass and `dx = dxs[i+1]`:
    /// `db = df_i(y) ⊙ dx`, `dxs[i] = W_iᵀ·db`, `dW = db·xs[i]ᵀ` (summed over the batch).
    ///
    /// # Errors
    /// As [`NeuralNetwork::forward_pass`], plus the errors of [`Target::check`].
    pub fn backprop(&self, x: ArrayView2<'_, F>, target: Target<'_, F>) -> Result<Gradients<F>> {
        self.check_sample(x, target)?;
        let mut workspace = Workspace::empty();
        workspace.fit(&self.layers, x.ncols(), true);
        workspace.forward(&self.layers, x);
        workspace.backward(&self.layers, self.loss.as_ref(), x, target);
        Ok(workspace.gradients)
    }

    /// One step of stochastic gradient descent on `x` (one sample, or a mini-batch whose
    /// gradient is the mean of its samples'), exactly as the original's `train`:
    /// backpropagate, then `W_i -= learning_rate·dW_i` and `b_i -= learning_rate·db_i` for
    /// every layer. Every gradient is computed before any update, so `dx` is propagated
    /// through `W_i` as it was in the forward pass.
    ///
    /// Returns the loss before the step. Buffers are kept from step to step, so a run of
    /// steps with the same batch size allocates nothing after the first.
    ///
    /// # Errors
    /// As [`NeuralNetwork::backprop`], and [`Error::Diverged`] if the loss is not finite, in
    /// which case no parameter is changed.
    pub fn train(&mut self, x: ArrayView2<'_, F>, target: Target<'_, F>) -> Result<F> {
        self.check_sample(x, target)?;
        let workspace = &mut self.workspace;
        workspace.fit(&self.layers, x.ncols(), false);
        workspace.forward(&self.layers, x);
        let loss = workspace.backward(&self.layers, self.loss.as_ref(), x, target);
        if !loss.is_finite() {
            return Err(Error::Diverged {
                step: self.steps,
                what: "the loss".into(),
                value: loss.as_f64(),
            });
        }
        let gradients = &workspace.gradients;
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let (weights, bias) = layer.parameters_mut();
            self.sgd.step(weights, gradients.dws[i].view());
            self.sgd.step(bias, gradients.dbs[i].view());
        }
        self.steps += 1;
        Ok(loss)
    }

    fn check_input(&self, x: ArrayView2<'_, F>) -> Result<()> {
        if x.nrows() != self.ins() {
            return Err(Error::ShapeMismatch {
                what: "input".into(),
                expected: (self.ins(), x.ncols()),
                actual: x.dim(),
            });
        }
        if x.ncols() == 0 {
            return Err(Error::EmptyBatch {
                what: "input".into(),
            });
        }
        tensor::check_finite("input", x)
    }

    fn check_sample(&self, x: ArrayView2<'_, F>, target: Target<'_, F>) -> Result<()> {
        self.check_input(x)?;
        target.check(self.outs(), x.ncols())
    }
}
