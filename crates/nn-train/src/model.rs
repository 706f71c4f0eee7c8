//! The model: the preprocessing step, the layers and the loss (what a model file saves,
//! and what predicts), the class names, and how it computes (threads, finiteness check).
//! Inference and backpropagation live here; updating the parameters is the trainer's job
//! (`trainer.rs`).

use ndarray::{s, Array2, ArrayView2, ArrayViewMut2};
use nn_core::{tensor, Error, Float, Loss, Preprocessing, Result, Target};
use nn_layers::Dense;

use crate::backprop::{Gradients, Pass, Workspace};
use crate::shares;

/// Copies of every layer's `(W, b)`, e.g. to restore the best epoch's parameters.
pub(crate) type Snapshot<F> = Vec<(Array2<F>, Array2<F>)>;

/// A stack of dense layers and the loss it is trained on, after an optional
/// preprocessing step.
#[derive(Clone, Debug)]
pub(crate) struct Model<F: Float> {
    /// Applied to every input before the first layer, in training and inference alike.
    preprocessing: Option<Preprocessing<F>>,
    layers: Vec<Dense<F>>,
    loss: Box<dyn Loss<F>>,
    /// The name of each output (class), if known.
    class_names: Option<Vec<String>>,
    /// How many threads a batch's matrix products may use (at least 1).
    pub(crate) threads: usize,
    /// Whether inputs, outputs and gradients are checked for NaN and infinities.
    pub(crate) check_finite: bool,
}

impl<F: Float> Model<F> {
    /// Checks that `layers` chain and pairs them with `loss`, on every core, with the
    /// finiteness check on.
    ///
    /// # Errors
    /// [`Error::EmptyNetwork`] for no layers; [`Error::LayerMismatch`] naming the first pair
    /// of consecutive layers where `outs` of one differs from `ins` of the next.
    pub(crate) fn new(layers: Vec<Dense<F>>, loss: Box<dyn Loss<F>>) -> Result<Self> {
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
        Ok(Model {
            preprocessing: None,
            layers,
            loss,
            class_names: None,
            threads: default_threads(),
            check_finite: true,
        })
    }

    /// See `NeuralNetwork::set_preprocessing`.
    pub(crate) fn set_preprocessing(
        &mut self,
        preprocessing: Option<Preprocessing<F>>,
    ) -> Result<()> {
        if let Some(p) = &preprocessing {
            if p.features() != self.ins() {
                return Err(Error::ShapeMismatch {
                    what: "preprocessing".into(),
                    expected: (self.ins(), 1),
                    actual: (p.features(), 1),
                });
            }
        }
        self.preprocessing = preprocessing;
        Ok(())
    }

    /// The preprocessing step, if any.
    pub(crate) fn preprocessing(&self) -> Option<&Preprocessing<F>> {
        self.preprocessing.as_ref()
    }

    /// `x` as the first layer sees it: `x` itself without a preprocessing step, else the
    /// step applied into `buffer`, which is reallocated only when the batch's shape
    /// changes. `x` must have the model's number of inputs as rows.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if the buffer cannot be allocated.
    pub(crate) fn preprocessed<'x>(
        &self,
        x: ArrayView2<'x, F>,
        buffer: &'x mut Array2<F>,
    ) -> Result<ArrayView2<'x, F>> {
        let Some(p) = &self.preprocessing else {
            return Ok(x);
        };
        // In x's memory order: the matrix products' rounding can depend on it, and a
        // preprocessed batch computes exactly what the same batch preprocessed
        // beforehand would.
        let row_major = |a: ArrayView2<'_, F>| a.strides()[1].abs() <= a.strides()[0].abs();
        let row_major_x = row_major(x);
        if buffer.dim() != x.dim() || row_major(buffer.view()) != row_major_x {
            let what = "preprocessed input";
            *buffer = if row_major_x {
                tensor::try_zeros(what, x.nrows(), x.ncols())?
            } else {
                tensor::try_zeros(what, x.ncols(), x.nrows())?.reversed_axes()
            };
        }
        p.apply_into(x, buffer.view_mut());
        Ok(buffer.view())
    }

    /// See `NeuralNetwork::set_class_names`.
    pub(crate) fn set_class_names(&mut self, names: Option<Vec<String>>) -> Result<()> {
        if let Some(names) = &names {
            if names.len() != self.outs() {
                return Err(Error::ShapeMismatch {
                    what: "class names".into(),
                    expected: (self.outs(), 1),
                    actual: (names.len(), 1),
                });
            }
        }
        self.class_names = names;
        Ok(())
    }

    /// The class names, if known.
    pub(crate) fn class_names(&self) -> Option<&[String]> {
        self.class_names.as_deref()
    }

    /// The layers, first to last.
    pub(crate) fn layers(&self) -> &[Dense<F>] {
        &self.layers
    }

    /// The layers, mutably (for the trainer's updates; their shapes are fixed).
    pub(crate) fn layers_mut(&mut self) -> &mut [Dense<F>] {
        &mut self.layers
    }

    /// The layers, mutably, and the loss, borrowed at once (for the fused step, which
    /// updates the layers while it evaluates the loss).
    pub(crate) fn layers_mut_and_loss(&mut self) -> (&mut [Dense<F>], &dyn Loss<F>) {
        (&mut self.layers, self.loss.as_ref())
    }

    /// The loss function.
    pub(crate) fn loss(&self) -> &dyn Loss<F> {
        self.loss.as_ref()
    }

    /// Number of inputs of the first layer.
    pub(crate) fn ins(&self) -> usize {
        self.layers[0].ins()
    }

    /// Number of outputs of the last layer.
    pub(crate) fn outs(&self) -> usize {
        self.layers[self.layers.len() - 1].outs()
    }

    /// Whether a layer drops its inputs in training.
    pub(crate) fn has_dropout(&self) -> bool {
        self.layers.iter().any(|l| l.dropout().is_some())
    }

    /// Number of trainable parameters.
    pub(crate) fn parameter_count(&self) -> usize {
        self.layers.iter().map(Dense::parameter_count).sum()
    }

    /// Into how many shares to cut a batch on this model's threads (see
    /// [`shares::shares_for`]).
    pub(crate) fn shares_for(&self, batch: usize) -> usize {
        shares::shares_for(self.threads, batch, self.parameter_count())
    }

    /// See `NeuralNetwork::forward_pass`.
    ///
    /// A large batch goes through in slices of [`INFERENCE_SLICE`] samples, in buffers
    /// allocated once per call and small enough that the allocator reuses them from call
    /// to call: buffers of the whole batch (10 000 images are 32 MB of layer outputs in
    /// 784→256→128→10) are mapped afresh by the system at every call, and faulting their
    /// pages in cost as much as the matrix products (31 ms against 17 ms for 10 000
    /// images in f32 on two cores).
    pub(crate) fn forward_pass(&self, x: ArrayView2<'_, F>) -> Result<Array2<F>> {
        // The input's finiteness is checked by `forward_into`, from the pass itself.
        self.check_input(x, false)?;
        let n = x.ncols();
        if n <= INFERENCE_SLICE {
            let mut workspace = Workspace::empty();
            let mut buffer = Array2::zeros((0, 0));
            // In row-major order, whatever the order of the workspace's buffers.
            return Ok(self
                .forward_into(x, &mut workspace, &mut buffer)?
                .as_standard_layout()
                .into_owned());
        }
        let mut output = tensor::try_zeros("outputs", self.outs(), n)?;
        let (mut workspace, mut buffer) = (Workspace::empty(), Array2::zeros((0, 0)));
        for start in (0..n).step_by(INFERENCE_SLICE) {
            let end = (start + INFERENCE_SLICE).min(n);
            let part = self
                .forward_into(x.slice(s![.., start..end]), &mut workspace, &mut buffer)
                .map_err(|e| offset_column(e, start))?;
            output.slice_mut(s![.., start..end]).assign(&part);
        }
        Ok(output)
    }

    /// The forward pass of `x` (checked to fit) in `workspace`, sized for it, through
    /// the preprocessing step (into `buffer`) and every layer; returns the output.
    ///
    /// The finiteness check costs no pass of its own: the pass reports whether the first
    /// layer's pre-activations and every output were finite, and only when they were not
    /// is the input (31 MB for the 10 000 test images) searched, to name its entry.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if a buffer cannot be allocated; with the finiteness check on,
    /// [`Error::NonFiniteInput`] for a non-finite input (or preprocessing that overflowed)
    /// and [`Error::NonFiniteOutput`] naming the first layer whose output is not finite.
    pub(crate) fn forward_into<'w>(
        &self,
        x: ArrayView2<'_, F>,
        workspace: &'w mut Workspace<F>,
        buffer: &mut Array2<F>,
    ) -> Result<ArrayView2<'w, F>> {
        let (raw, x) = (x, self.preprocessed(x, buffer)?);
        workspace.size_for(&self.layers, x.ncols(), Pass::Inference)?;
        let inferred = workspace.infer(&self.layers, x, self.threads);
        if self.check_finite {
            if !inferred.first_pre_activations {
                // Maybe the input: every pre-activation of a non-finite column is
                // non-finite. Else the product overflowed, which only matters if an
                // output did.
                self.check_input(raw, true)?;
                self.scan_preprocessed(raw, x)?;
            }
            if !inferred.outputs {
                workspace.check_outputs()?;
            }
        }
        Ok(workspace.output())
    }

    /// See `NeuralNetwork::backprop`.
    pub(crate) fn backprop(
        &self,
        x: ArrayView2<'_, F>,
        target: Target<'_, F>,
        step: u64,
    ) -> Result<Gradients<F>> {
        self.check_sample(x, target, self.check_finite)?;
        let mut buffer = Array2::zeros((0, 0));
        let (raw, x) = (x, self.preprocessed(x, &mut buffer)?);
        self.scan_preprocessed(raw, x)?;
        let mut workspace = Workspace::empty();
        workspace.size_for(&self.layers, x.ncols(), Pass::Backprop)?;
        workspace.forward(&self.layers, x, self.threads, None);
        if self.check_finite {
            workspace.check_outputs()?;
        }
        let (loss, _) =
            workspace.backward(&self.layers, self.loss(), x, target, self.threads, None);
        if self.check_finite {
            nn_core::finite_loss(loss)?;
            workspace.gradients.check(step)?;
        }
        Ok(workspace.gradients)
    }

    /// Checks that `x` is a batch of this model's inputs, and finite if `finite`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`], [`Error::EmptyBatch`] or [`Error::NonFiniteInput`].
    pub(crate) fn check_input(&self, x: ArrayView2<'_, F>, finite: bool) -> Result<()> {
        tensor::check_batch("input", x, self.ins())?;
        if finite {
            tensor::check_finite("input", x)?;
        }
        Ok(())
    }

    /// With the finiteness check on and a preprocessing step, `max |x|` of the batch `x`
    /// the step made from `raw`, checked finite; `None` otherwise (no scan).
    ///
    /// A non-finite raw entry stays non-finite through a finite shift and scale, so this
    /// one scan stands for the raw batch's too; only on failure is `raw` searched again,
    /// to name its entry when the raw input is the one at fault.
    ///
    /// # Errors
    /// [`Error::NonFiniteInput`]: `what` = `"input"` at the raw batch's first non-finite
    /// entry, else `"preprocessed input"` where the step overflowed.
    pub(crate) fn scan_preprocessed(
        &self,
        raw: ArrayView2<'_, F>,
        x: ArrayView2<'_, F>,
    ) -> Result<Option<F>> {
        if !(self.check_finite && self.preprocessing.is_some()) {
            return Ok(None);
        }
        let max = tensor::finite_max_abs("preprocessed input", x).map_err(|overflow| {
            match tensor::check_finite("input", raw) {
                Err(raw_error) => raw_error,
                Ok(()) => overflow,
            }
        })?;
        Ok(Some(max))
    }

    /// [`Model::check_input`], then that `target` fits the output and the loss.
    ///
    /// # Errors
    /// Those of [`Model::check_input`], [`Target::check`] and [`Loss::check_target`].
    pub(crate) fn check_sample(
        &self,
        x: ArrayView2<'_, F>,
        target: Target<'_, F>,
        finite: bool,
    ) -> Result<()> {
        self.check_input(x, finite)?;
        self.check_target(target, x.ncols())
    }

    /// Checks that `target` describes `batch` samples of this model's output, as its loss
    /// reads them.
    ///
    /// # Errors
    /// Those of [`Target::check`] and [`Loss::check_target`].
    pub(crate) fn check_target(&self, target: Target<'_, F>, batch: usize) -> Result<()> {
        target.check(self.outs(), batch)?;
        self.loss.check_target(target)
    }

    /// Mutable views of the weights and bias of layer `index`, or `None` past the last.
    pub(crate) fn parameters_mut(
        &mut self,
        index: usize,
    ) -> Option<(ArrayViewMut2<'_, F>, ArrayViewMut2<'_, F>)> {
        self.layers.get_mut(index).map(Dense::parameters_mut)
    }

    /// A copy of every layer's parameters.
    pub(crate) fn snapshot(&self) -> Snapshot<F> {
        (self.layers.iter())
            .map(|l| (l.weights().to_owned(), l.bias().to_owned()))
            .collect()
    }

    /// Puts back the parameters of a [`Model::snapshot`] of this model.
    pub(crate) fn restore(&mut self, snapshot: &[(Array2<F>, Array2<F>)]) {
        for (layer, (w, b)) in self.layers.iter_mut().zip(snapshot) {
            let (mut weights, mut bias) = layer.parameters_mut();
            weights.assign(w);
            bias.assign(b);
        }
    }
}

/// Samples per slice of a large batch in inference (see `Model::forward_pass`): wide
/// enough that the matrix products pack each weight matrix for many samples (slices of
/// 512 took 19.7 ms for 10 000 images, of 4 096 17.0 ms), narrow enough that the buffers
/// of a network of a few hundred units per layer stay well below the size the allocator
/// maps afresh at every call (32 MB for glibc).
pub(crate) const INFERENCE_SLICE: usize = 4096;

/// `error` of a slice starting at sample `start`, with its column counted in the whole
/// batch.
fn offset_column(error: Error, start: usize) -> Error {
    match error {
        Error::NonFiniteInput {
            what,
            row,
            column,
            value,
        } => Error::NonFiniteInput {
            what,
            row,
            column: column + start,
            value,
        },
        Error::NonFiniteOutput {
            layer,
            row,
            column,
            value,
        } => Error::NonFiniteOutput {
            layer,
            row,
            column: column + start,
            value,
        },
        other => other,
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

    /// A model of `sizes` on `threads` threads.
    fn network(sizes: &[usize], threads: usize) -> Model<f64> {
        let mut rng = StdRng::seed_from_u64(0);
        let layers = sizes
            .windows(2)
            .map(|p| Dense::new(p[0], p[1], Tanh, Init::XavierNormal, &mut rng).unwrap())
            .collect();
        let mut model = Model::new(layers, Box::new(Mse)).unwrap();
        model.threads = threads;
        model
    }

    #[test]
    fn a_model_shares_its_batches_by_its_parameter_count_and_threads() {
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
        let layer = Dense::<f64>::new(2, 2, Tanh, Init::XavierNormal, &mut rng).unwrap();
        assert_eq!(
            Model::new(vec![layer], Box::new(Mse)).unwrap().threads,
            cores
        );
        assert_eq!(network(&[100, 100, 10], 1).shares_for(500), 1);
        assert_eq!(network(&[100, 100, 10], 2).shares_for(500), 2);
    }
}
