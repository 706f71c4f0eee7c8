//! The dense (fully connected) layer: `a = f(W·x + b)`, with its forward and backward pass.

use ndarray::{s, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip};
use nn_core::compute::matmul::{matmul, threads_for};
use nn_core::compute::rows::{on_blocks_of_rows, on_rows};
use nn_core::compute::{kernels, team::join};
use nn_core::tensor::max_abs_of_both;
use nn_core::{tensor, Activation, Error, Float, Init, Result};
use rand::Rng;

use crate::Dropout;

/// The largest batch whose forward pass ([`Dense::forward_into`], [`Dense::infer_into`])
/// goes through the one-sample kernels, two samples at a time, rather than a matrix
/// product: a product packs the whole of `W` first, which costs the same whatever the
/// batch. On 784→256→128→10 in `f32` (an Intel Xeon with AVX-512), 2 to 16 samples took
/// 86–90 µs through the products on one thread (58–60 µs on two), one sample 13 µs through
/// its kernels; with them, 2 samples take 18 µs, 4 take 39 (30 on two threads), 6 take
/// 57 (50), and 8 would take 75 (61), past which the products win.
pub const FEW_SAMPLES: usize = 6;

/// A dense layer with weights `W`, bias `b` and an activation `f`: `a = f(W·x + b)`.
///
/// # Shapes
/// `W` is `(outs, ins)` and `b` is `(outs, 1)`, as in the article. An input `x` is
/// `(ins, batch)`, one column per sample (a single sample is a column, `batch = 1`); the
/// pre-activation `y = W·x + b` and the output `a` are `(outs, batch)`, the bias being
/// added to every column.
///
/// # Dropout
/// [`Dense::with_dropout`] drops each of the layer's inputs with a given probability in
/// training steps (see [`Dropout`]); the passes here are inference and never drop.
#[doc(alias = "Layer")]
#[derive(Debug)]
pub struct Dense<F: Float> {
    /// Row-major, starting on a 64-byte boundary ([`tensor::try_aligned_copy`]): the
    /// per-sample kernels stream its rows with whole-vector loads and stores.
    weights: Array2<F>,
    bias: Array2<F>,
    activation: Box<dyn Activation<F>>,
    /// Dropout on the layer's inputs in training, if any.
    dropout: Option<Dropout>,
}

impl<F: Float> Clone for Dense<F> {
    /// A copy whose weights start on a 64-byte boundary too (a derived clone would copy
    /// them into a buffer the allocator aligns to 16 bytes only).
    fn clone(&self) -> Self {
        let weights = tensor::try_aligned_copy("weights", self.weights.view())
            .unwrap_or_else(|_| std::alloc::handle_alloc_error(layout_of(&self.weights)));
        Dense {
            weights,
            bias: self.bias.clone(),
            activation: self.activation.clone(),
            dropout: self.dropout,
        }
    }
}

/// The memory layout of `a`'s entries, for the allocation-failure handler.
fn layout_of<F>(a: &Array2<F>) -> std::alloc::Layout {
    std::alloc::Layout::array::<F>(a.len()).expect("an existing array's size is valid")
}

impl<F: Float> Dense<F> {
    /// A layer with `ins` inputs and `outs` outputs, its parameters drawn by `init` from
    /// `rng`.
    ///
    /// # Errors
    /// [`Error::ZeroSizedLayer`] if `ins` or `outs` is zero, [`Error::TooLarge`] if
    /// `outs · ins` parameters cannot be allocated (the sizes are checked without overflow
    /// and the memory asked for fallibly: no panic, no abort).
    ///
    /// # Example
    /// ```
    /// use nn_core::Init;
    /// use nn_layers::{Dense, LeakyRelu};
    /// use rand::{rngs::StdRng, SeedableRng};
    ///
    /// let layer = Dense::<f32>::new(784, 16, LeakyRelu, Init::HeNormal,
    ///                               &mut StdRng::seed_from_u64(0))?;
    /// assert_eq!((layer.ins(), layer.outs()), (784, 16));
    /// # Ok::<(), nn_core::Error>(())
    /// ```
    pub fn new<A, R>(
        ins: usize,
        outs: usize,
        activation: A,
        init: Init,
        rng: &mut R,
    ) -> Result<Self>
    where
        A: Activation<F> + 'static,
        R: Rng + ?Sized,
    {
        Self::new_boxed(ins, outs, Box::new(activation), init, rng)
    }

    /// [`Dense::new`] with an activation already boxed (one chosen at run time, or kept
    /// as a `Box<dyn Activation<F>>`): the weights, then the bias, drawn by `init` from
    /// `rng`.
    ///
    /// # Errors
    /// As [`Dense::new`].
    pub fn new_boxed<R>(
        ins: usize,
        outs: usize,
        activation: Box<dyn Activation<F>>,
        init: Init,
        rng: &mut R,
    ) -> Result<Self>
    where
        R: Rng + ?Sized,
    {
        if ins == 0 || outs == 0 {
            return Err(Error::ZeroSizedLayer {
                index: 0,
                ins,
                outs,
            });
        }
        let weights = init.weights(outs, ins, rng)?;
        Ok(Dense {
            weights: tensor::try_aligned_copy("weights", weights.view())?,
            bias: init.bias(outs, rng)?,
            activation,
            dropout: None,
        })
    }

    /// A layer from given parameters: `weights` of shape `(outs, ins)` and `bias` of shape
    /// `(outs, 1)`.
    ///
    /// # Errors
    /// [`Error::ZeroSizedLayer`] for an empty `weights`, [`Error::ShapeMismatch`] if `bias`
    /// is not `(outs, 1)`, [`Error::NonFiniteInput`] if a parameter is NaN or infinite.
    pub fn from_parameters(
        weights: Array2<F>,
        bias: Array2<F>,
        activation: Box<dyn Activation<F>>,
    ) -> Result<Self> {
        let (outs, ins) = weights.dim();
        if ins == 0 || outs == 0 {
            return Err(Error::ZeroSizedLayer {
                index: 0,
                ins,
                outs,
            });
        }
        if bias.dim() != (outs, 1) {
            return Err(Error::ShapeMismatch {
                what: "bias".into(),
                expected: (outs, 1),
                actual: bias.dim(),
            });
        }
        tensor::check_finite("weights", weights.view())?;
        tensor::check_finite("bias", bias.view())?;
        // Row-major storage lets the per-sample kernels read each row of W as one slice.
        let weights = tensor::try_aligned_copy("weights", weights.view())?;
        let bias = if bias.is_standard_layout() {
            bias
        } else {
            bias.as_standard_layout().into_owned()
        };
        Ok(Dense {
            weights,
            bias,
            activation,
            dropout: None,
        })
    }

    /// The layer with dropout on its inputs in training steps: each input is dropped with
    /// probability `rate` and the others are scaled by `1/(1 - rate)` (see [`Dropout`]).
    /// A `rate` of 0 removes dropout.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] unless `0 ≤ rate < 1`.
    ///
    /// # Example
    /// ```
    /// use nn_core::Init;
    /// use nn_layers::{Dense, Relu};
    /// use rand::{rngs::StdRng, SeedableRng};
    ///
    /// let layer = Dense::<f32>::new(256, 128, Relu, Init::HeNormal,
    ///                               &mut StdRng::seed_from_u64(0))?
    ///     .with_dropout(0.5)?;
    /// assert_eq!(layer.dropout().map(|d| d.rate()), Some(0.5));
    /// # Ok::<(), nn_core::Error>(())
    /// ```
    pub fn with_dropout(mut self, rate: f64) -> Result<Self> {
        let dropout = Dropout::new(rate)?;
        self.dropout = (rate > 0.0).then_some(dropout);
        Ok(self)
    }

    /// The dropout on the layer's inputs in training, if any.
    pub fn dropout(&self) -> Option<Dropout> {
        self.dropout
    }

    /// Number of inputs, the columns of `W`.
    pub fn ins(&self) -> usize {
        self.weights.ncols()
    }

    /// Number of outputs, the rows of `W`.
    pub fn outs(&self) -> usize {
        self.weights.nrows()
    }

    /// The weights `W`, shape `(outs, ins)`.
    pub fn weights(&self) -> ArrayView2<'_, F> {
        self.weights.view()
    }

    /// The bias `b`, shape `(outs, 1)`.
    pub fn bias(&self) -> ArrayView2<'_, F> {
        self.bias.view()
    }

    /// Mutable views of `W` and `b`, for optimizers; views cannot change the shapes.
    pub fn parameters_mut(&mut self) -> (ArrayViewMut2<'_, F>, ArrayViewMut2<'_, F>) {
        (self.weights.view_mut(), self.bias.view_mut())
    }

    /// The activation function.
    pub fn activation(&self) -> &dyn Activation<F> {
        self.activation.as_ref()
    }

    /// Number of trainable parameters, `outs·ins + outs`.
    pub fn parameter_count(&self) -> usize {
        self.weights.len() + self.bias.len()
    }

    /// The layer's output `f(W·x + b)` for a batch `x` (checked, allocating).
    ///
    /// # Shapes
    /// `x` is `(ins, batch)`; the result is `(outs, batch)`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `x` does not have `ins` rows, [`Error::EmptyBatch`] if it
    /// has no column, [`Error::TooLarge`] if the `(outs, batch)` output cannot be allocated.
    pub fn forward(&self, x: ArrayView2<'_, F>) -> Result<Array2<F>> {
        tensor::check_batch("input", x, self.ins())?;
        let mut y = tensor::try_zeros("pre-activations", self.outs(), x.ncols())?;
        let mut a = tensor::try_zeros("outputs", self.outs(), x.ncols())?;
        self.forward_into(x, y.view_mut(), a.view_mut(), 1);
        Ok(a)
    }

    /// Forward pass into caller-owned buffers: the pre-activation `y = W·x + b` (kept for
    /// the backward pass, so it is never recomputed) and the output `a = f(y)`. On up to
    /// `threads` threads, each thread computes a block of rows (bias, product, activation:
    /// nn-core's `compute::rows::on_blocks_of_rows`), the same rows as in
    /// [`Dense::backward_into`], so that each entry has the value one thread gives it; a
    /// batch of 2 to `nn_layers::FEW_SAMPLES` samples goes through the one-sample
    /// kernels instead (see `few_samples_product`), so that each sample gets the values it
    /// gets alone.
    ///
    /// # Shapes
    /// `x` is `(ins, batch)`; `y` and `a` are `(outs, batch)`.
    ///
    /// # Panics
    /// If a shape does not fit (the caller sizes the buffers; use [`Dense::forward`] for a
    /// checked call).
    pub fn forward_into(
        &self,
        x: ArrayView2<'_, F>,
        mut y: ArrayViewMut2<'_, F>,
        a: ArrayViewMut2<'_, F>,
        threads: usize,
    ) {
        if self.few_samples_product(x, y.view_mut(), threads) {
            return self.activation.forward_into(y.view(), a);
        }
        let w = self.weights.view();
        // Each thread owns a block of W's rows: its bias, product and activation, and in
        // the backward pass the same rows of dW, which the optimizer then updates on the
        // same core, while W's rows are still in its cache.
        let threads = threads_for(threads, (self.outs(), self.ins(), x.ncols()));
        let block = |[mut y, a]: [ArrayViewMut2<'_, F>; 2], first: usize| {
            // b is written into every column first, so that the product accumulates onto
            // it (beta = 1) and no second pass adds the bias.
            self.fill_bias(y.view_mut(), first);
            let w = w.slice(s![first..first + y.nrows(), ..]);
            matmul(F::one(), w, x, F::one(), y.view_mut(), 1);
            self.activation.forward_into(y.view(), a);
        };
        on_blocks_of_rows([y, a], threads, &block, &|(), ()| ());
    }

    /// Writes `b[first + i]` into every entry of row `i` of `part`: the bias of the rows
    /// `first..first + part.nrows()` in each of `part`'s columns.
    fn fill_bias(&self, mut part: ArrayViewMut2<'_, F>, first: usize) {
        let rows = first..first + part.nrows();
        let bias = self
            .bias
            .column(0)
            .slice_move(s![rows])
            .insert_axis(Axis(1));
        Zip::from(&mut part)
            .and_broadcast(bias)
            .for_each(|y, &b| *y = b);
    }

    /// `y = W·x + b` for a batch of 2 to [`FEW_SAMPLES`] samples, through the one-sample
    /// kernels, two samples a pass over `W` ([`kernels::gemv_bias_columns`]), the samples
    /// cut in two halves on two threads from 3 samples. Each sample then gets the values
    /// it gets alone ([`Dense::forward_sample`]), and the batch avoids a matrix product's
    /// packing of the whole of `W`. Returns `false`, doing nothing, for other batches.
    fn few_samples_product(
        &self,
        x: ArrayView2<'_, F>,
        y: ArrayViewMut2<'_, F>,
        threads: usize,
    ) -> bool {
        let n = x.ncols();
        if !(2..=FEW_SAMPLES).contains(&n) {
            return false;
        }
        let (w, bias) = (
            self.weights.view(),
            self.bias.as_slice().expect("bias is a contiguous column"),
        );
        if threads >= 2 && n >= 3 {
            // An even number of samples on this thread, so that pairs stay pairs.
            let half = 2 * n.div_ceil(4);
            let (x0, x1) = x.split_at(Axis(1), half);
            let (y0, y1) = y.split_at(Axis(1), half);
            join(
                || kernels::gemv_bias_columns(w, x0, bias, y0),
                || kernels::gemv_bias_columns(w, x1, bias, y1),
            );
        } else {
            kernels::gemv_bias_columns(w, x, bias, y);
        }
        true
    }

    /// Inference's forward pass: `a = f(W·x + b)` into `a`, with no pre-activation kept
    /// (training's [`Dense::forward_into`] keeps `y` for the backward pass): `y` is
    /// formed in `a` as there (the bias, then the product added onto it), and `f` applied
    /// in place, so the values are those of [`Dense::forward_into`], bit for bit.
    ///
    /// Returns whether every pre-activation, and every output, was finite. A non-finite
    /// input makes every pre-activation of its column non-finite (`0·∞` is NaN), so the
    /// first flag tells whether the input needs to be searched.
    ///
    /// A batch of 2 to `nn_layers::FEW_SAMPLES` samples goes through the one-sample
    /// kernels, as in [`Dense::forward_into`]: each sample's output is then the one it
    /// gets alone.
    ///
    /// # Shapes
    /// `x` is `(ins, batch)` and `a` is `(outs, batch)`, in either order; column-major
    /// (each sample's outputs contiguous, as the network's inference allocates them) is
    /// the faster for a large batch (see `nn_core::tensor::try_zeros_column_major`).
    ///
    /// # Panics
    /// If the shapes do not fit.
    pub fn infer_into(
        &self,
        x: ArrayView2<'_, F>,
        mut a: ArrayViewMut2<'_, F>,
        threads: usize,
    ) -> (bool, bool) {
        if self.few_samples_product(x, a.view_mut(), threads) {
            return self.activation.forward_in_place(a);
        }
        // The passes before and after the product on the same threads as the product.
        let fill = |part: ArrayViewMut2<'_, F>, first: usize| self.fill_bias(part, first);
        on_parts(a.view_mut(), threads, &fill, &|(), ()| ());
        matmul(
            F::one(),
            self.weights.view(),
            x,
            F::one(),
            a.view_mut(),
            threads,
        );
        let activate = |part: ArrayViewMut2<'_, F>, _| self.activation.forward_in_place(part);
        on_parts(a, threads, &activate, &|x, y| (x.0 && y.0, x.1 && y.1))
    }

    /// Backward pass: from `upstream = ∂L/∂a`, the gradients of the loss with respect to
    /// the pre-activation, the parameters and the input, as in the article:
    ///
    /// - `delta = df(y) ⊙ upstream` (the article's `db`, per sample),
    /// - `dW = delta · xᵀ`,
    /// - `db = delta · 1` (summed over the batch's columns),
    /// - `dx = Wᵀ · delta`, with `W` as it was in the forward pass.
    ///
    /// On a batch, `upstream` already carries the loss's `1/batch` factor (see `Loss`), so
    /// the sums over columns give the gradient of the mean loss. `dx` is optional because
    /// the first layer's input gradient is not needed for training.
    ///
    /// On up to `threads` threads, each thread computes `delta`, `dW` and `db` for a block
    /// of rows, the rows it computed in [`Dense::forward_into`] (a training step then
    /// updates them on the same core); `dx`, a sum over every row, is split by nn-core's
    /// `compute::matmul`. Each entry has the value one thread gives it.
    ///
    /// Returns `max |g|` over every entry of `dW` and `db`, NaN if one is NaN or infinite:
    /// each block is scanned right after it is computed, while it is in cache, which
    /// spares training a pass over the gradients to check them.
    ///
    /// # Shapes
    /// `x` and `dx` are `(ins, batch)`; `y`, `a`, `upstream` and `delta` are
    /// `(outs, batch)`; `dw` is `(outs, ins)` and `db` is `(outs, 1)`.
    ///
    /// # Panics
    /// If a shape does not fit (a broken invariant of the caller).
    #[allow(clippy::too_many_arguments)]
    pub fn backward_into(
        &self,
        x: ArrayView2<'_, F>,
        y: ArrayView2<'_, F>,
        a: ArrayView2<'_, F>,
        upstream: ArrayView2<'_, F>,
        mut delta: ArrayViewMut2<'_, F>,
        dw: ArrayViewMut2<'_, F>,
        db: ArrayViewMut2<'_, F>,
        dx: Option<ArrayViewMut2<'_, F>>,
        threads: usize,
    ) -> F {
        let block_threads = threads_for(threads, (self.outs(), x.ncols(), self.ins()));
        let block = |[mut delta, mut dw, mut db]: [ArrayViewMut2<'_, F>; 3], first: usize| {
            let rows = s![first..first + delta.nrows(), ..];
            let (y, a, upstream) = (y.slice(rows), a.slice(rows), upstream.slice(rows));
            self.activation
                .backward_into(y, a, upstream, delta.view_mut());
            matmul(F::one(), delta.view(), x.t(), F::zero(), dw.view_mut(), 1);
            Zip::from(db.column_mut(0))
                .and(delta.rows())
                .for_each(|db, row| *db = row.sum());
            max_abs_of_both(tensor::max_abs(dw.view()), tensor::max_abs(db.view()))
        };
        let views = [delta.view_mut(), dw, db];
        let largest = on_blocks_of_rows(views, block_threads, &block, &max_abs_of_both);
        if let Some(dx) = dx {
            matmul(
                F::one(),
                self.weights.t(),
                delta.view(),
                F::zero(),
                dx,
                threads,
            );
        }
        largest
    }

    /// Forward pass on one sample held in slices: `y = W·x + b`, `a = f(y)`, with
    /// matrix-vector kernels instead of a general matrix product.
    ///
    /// # Shapes
    /// `x` has `ins` entries; `y` and `a` have `outs`.
    ///
    /// # Panics
    /// If a length does not fit.
    pub fn forward_sample(&self, x: &[F], y: &mut [F], a: &mut [F]) {
        let bias = self.bias.as_slice().expect("bias is a contiguous column");
        kernels::gemv_bias(self.weights.view(), x, bias, y);
        self.activate_sample(y, a);
    }

    /// Backward pass on one sample, without forming `dW`:
    /// `delta = df(y) ⊙ upstream` and, if asked, `dx = Wᵀ·delta`. The weight gradient is
    /// `dW = delta·xᵀ` and `db = delta`; [`Dense::sgd_update_sample`] applies them.
    ///
    /// # Shapes
    /// `y`, `a`, `upstream` and `delta` have `outs` entries; `dx` has `ins`.
    ///
    /// # Panics
    /// If a length does not fit.
    pub fn backward_sample(
        &self,
        y: &[F],
        a: &[F],
        upstream: &[F],
        delta: &mut [F],
        dx: Option<&mut [F]>,
    ) {
        let outs = self.outs();
        self.activation.backward_into(
            column_view(y, outs),
            column_view(a, outs),
            column_view(upstream, outs),
            column_view_mut(delta, outs),
        );
        if let Some(dx) = dx {
            kernels::gemv_t(self.weights.view(), delta, dx);
        }
    }

    /// The SGD step of one sample from its `delta`: `W -= learning_rate·delta·xᵀ` as a
    /// rank-1 update (no `dW` matrix is formed) and `b -= learning_rate·delta`.
    ///
    /// # Shapes
    /// `x` has `ins` entries and `delta` has `outs`.
    ///
    /// # Panics
    /// If a length does not fit.
    pub fn sgd_update_sample(&mut self, x: &[F], delta: &[F], learning_rate: F) {
        kernels::rank1_update(self.weights.view_mut(), -learning_rate, delta, x);
        self.sgd_update_bias_sample(delta, learning_rate);
    }

    /// Deferred SGD steps fused with the next forward pass: the updates of
    /// [`Dense::sgd_update_sample`] from earlier samples, in turn, then
    /// [`Dense::forward_sample`] on `x` with the updated parameters, sharing one pass over
    /// `W` (see `kernels::rank1_gemv_bias`). The parameters, `y` and `a` are bit for bit
    /// those of the separate calls.
    ///
    /// # Shapes
    /// Each update's `x` and `x` have `ins` entries; each update's `delta`, and `y` and
    /// `a`, have `outs`.
    ///
    /// # Panics
    /// If a length does not fit.
    pub fn sgd_update_and_forward_sample(
        &mut self,
        updates: &[SampleUpdate<'_, F>],
        x: &[F],
        y: &mut [F],
        a: &mut [F],
    ) {
        let (earlier, updates) =
            updates.split_at(updates.len().saturating_sub(kernels::MAX_FUSED_UPDATES));
        for update in earlier {
            self.sgd_update_sample(update.x, update.delta, update.learning_rate);
        }
        let bias = self
            .bias
            .as_slice_mut()
            .expect("bias is a contiguous column");
        for update in updates {
            sgd_update_bias(bias, update.delta, update.learning_rate);
        }
        let bias = self.bias.as_slice().expect("bias is a contiguous column");
        with_rank1(updates, |rank1s| {
            kernels::rank1_gemv_bias(self.weights.view_mut(), rank1s, x, bias, y)
        });
        self.activate_sample(y, a);
    }

    /// [`Dense::forward_sample`] as it will be once `updates` are applied (by
    /// [`Dense::sgd_update_sample`], in turn), without applying them: the updated weights
    /// and bias are formed in registers and never stored, so the layer is only read. `y`
    /// and `a` are bit for bit those of the updates followed by the forward pass.
    ///
    /// A per-sample SGD stream takes every other step's forward product this way and
    /// applies two steps' updates with one store of `W` in the next
    /// ([`Dense::sgd_update_and_forward_sample`]).
    ///
    /// # Shapes
    /// As [`Dense::sgd_update_and_forward_sample`].
    ///
    /// # Panics
    /// If a length does not fit, or with more than `kernels::MAX_FUSED_UPDATES` updates.
    pub fn forward_sample_after(
        &self,
        updates: &[SampleUpdate<'_, F>],
        x: &[F],
        y: &mut [F],
        a: &mut [F],
    ) {
        let bias = self.bias.as_slice().expect("bias is a contiguous column");
        assert!(a.len() == bias.len(), "forward_sample_after shapes");
        // The updated bias, in `a` until the activation overwrites it.
        a.copy_from_slice(bias);
        for update in updates {
            sgd_update_bias(a, update.delta, update.learning_rate);
        }
        with_rank1(updates, |rank1s| {
            kernels::gemv_bias_after(self.weights.view(), rank1s, x, a, y)
        });
        self.activate_sample(y, a);
    }

    /// The forward pass on one sample whose product `p = W·x` is already known (a
    /// `SampleStream` computes a block's products together): `y = p + b`, `a = f(y)`,
    /// the bias added as [`Dense::forward_sample`] adds it.
    ///
    /// # Shapes
    /// `product`, `y` and `a` have `outs` entries.
    ///
    /// # Panics
    /// If a length does not fit.
    pub fn forward_sample_from_product(&self, product: &[F], y: &mut [F], a: &mut [F]) {
        let bias = self.bias.as_slice().expect("bias is a contiguous column");
        assert!(
            product.len() == bias.len() && y.len() == bias.len(),
            "forward_sample_from_product shapes"
        );
        for ((y, &b), &p) in y.iter_mut().zip(bias).zip(product) {
            *y = b + p;
        }
        self.activate_sample(y, a);
    }

    /// The bias's part of a one-sample SGD step, `b -= learning_rate·delta`, for a caller
    /// that applies the weights' part `W -= learning_rate·delta·xᵀ` itself, later.
    ///
    /// # Panics
    /// If `delta` does not have `outs` entries.
    pub fn sgd_update_bias_sample(&mut self, delta: &[F], learning_rate: F) {
        assert!(delta.len() == self.outs(), "sgd_update_bias_sample shapes");
        let bias = self
            .bias
            .as_slice_mut()
            .expect("bias is a contiguous column");
        sgd_update_bias(bias, delta, learning_rate);
    }

    /// `a = f(y)` on one sample's `outs` pre-activations, the last stage of every
    /// one-sample forward pass.
    fn activate_sample(&self, y: &[F], a: &mut [F]) {
        let outs = self.outs();
        self.activation
            .forward_into(column_view(y, outs), column_view_mut(a, outs));
    }
}

/// A one-sample SGD update of a dense layer, waiting to be applied:
/// `W -= learning_rate·delta·xᵀ` and `b -= learning_rate·delta`, as
/// [`Dense::sgd_update_sample`] applies it.
#[derive(Clone, Copy, Debug)]
pub struct SampleUpdate<'a, F> {
    /// The sample the update was computed on (the layer's input), `ins` entries.
    pub x: &'a [F],
    /// The layer's `delta` on that sample, `outs` entries.
    pub delta: &'a [F],
    /// The step's learning rate.
    pub learning_rate: F,
}

/// `b -= learning_rate·delta`: the bias's part of a one-sample SGD step, the one
/// computation of it whether the step is applied at once or later.
fn sgd_update_bias<F: Float>(bias: &mut [F], delta: &[F], learning_rate: F) {
    for (b, &d) in bias.iter_mut().zip(delta) {
        *b -= learning_rate * d;
    }
}

/// `f` of `updates` (at most `kernels::MAX_FUSED_UPDATES`) as the kernels' rank-1 updates
/// `W += (−learning_rate)·delta·xᵀ`, on the stack.
fn with_rank1<F: Float, R>(
    updates: &[SampleUpdate<'_, F>],
    f: impl FnOnce(&[kernels::Rank1<'_, F>]) -> R,
) -> R {
    let unused = kernels::Rank1 {
        alpha: F::zero(),
        u: &[],
        v: &[],
    };
    let mut rank1s = [unused; kernels::MAX_FUSED_UPDATES];
    assert!(
        updates.len() <= rank1s.len(),
        "more than {} pending updates",
        rank1s.len()
    );
    for (rank1, update) in rank1s.iter_mut().zip(updates) {
        *rank1 = kernels::Rank1 {
            alpha: -update.learning_rate,
            u: update.delta,
            v: update.x,
        };
    }
    f(&rank1s[..updates.len()])
}

/// `f(part, first_row)` on parts of `a` on up to `threads` threads (nn-core's `on_rows`),
/// cut along the order of `a` in memory: by samples (columns, every part starting at row
/// 0) when `a` is column-major, as the inference of a batch allocates it, else by rows.
fn on_parts<F: Float, R: Send>(
    a: ArrayViewMut2<'_, F>,
    threads: usize,
    f: &(impl Fn(ArrayViewMut2<'_, F>, usize) -> R + Sync),
    merge: &(impl Fn(R, R) -> R + Sync),
) -> R {
    if !a.is_standard_layout() && a.t().is_standard_layout() {
        let samples = |part: ArrayViewMut2<'_, F>, _| f(part.reversed_axes(), 0);
        on_rows(a.reversed_axes(), threads, &samples, merge)
    } else {
        on_rows(a, threads, f, merge)
    }
}

/// The first `len` of `values` as a `(len, 1)` column. Built from a 1-D view, as
/// `ArrayView2::from_shape` would check its strides against the slice through a call
/// that cost more than the per-sample step's activations on 16 entries.
///
/// # Panics
/// If `values` has fewer than `len` entries.
fn column_view<F>(values: &[F], len: usize) -> ArrayView2<'_, F> {
    ArrayView1::from(&values[..len]).insert_axis(Axis(1))
}

/// [`column_view`], mutable.
fn column_view_mut<F>(values: &mut [F], len: usize) -> ArrayViewMut2<'_, F> {
    ArrayViewMut1::from(&mut values[..len]).insert_axis(Axis(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Identity, LeakyRelu, Sigmoid};
    use ndarray::{array, ShapeBuilder};
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn weights_start_on_a_cache_line_however_the_layer_was_made() {
        let mut rng = StdRng::seed_from_u64(4);
        let aligned = |layer: &Dense<f32>| (layer.weights().as_ptr() as usize).is_multiple_of(64);
        for (ins, outs) in [(784, 16), (5, 3), (16, 10), (1, 1)] {
            let made = Dense::<f32>::new(ins, outs, LeakyRelu, Init::Original, &mut rng).unwrap();
            let w = ndarray::Array2::from_shape_fn((outs, ins).f(), |(i, j)| (i + j) as f32);
            let given = Dense::from_parameters(
                w.clone(),
                ndarray::Array2::zeros((outs, 1)),
                Box::new(Sigmoid),
            )
            .unwrap();
            assert_eq!(given.weights(), w);
            for layer in [&made, &given, &made.clone(), &given.clone()] {
                assert!(aligned(layer), "{ins}→{outs}");
                assert!(layer.weights().is_standard_layout());
            }
            assert_eq!(made.clone().weights(), made.weights());
        }
    }

    #[test]
    fn forward_is_f_of_w_x_plus_b_on_columns() {
        let w = array![[1.0, 2.0], [-1.0, 0.5], [0.0, 1.0]];
        let b = array![[0.5], [-1.0], [0.0]];
        let layer = Dense::from_parameters(w, b, Box::new(LeakyRelu)).unwrap();
        let x = array![[1.0, 0.0], [2.0, -1.0]];
        // Column 0: y = (5.5, -1.0, 2.0); column 1: y = (-1.5, -1.5, -1.0).
        let a = layer.forward(x.view()).unwrap();
        let expected = array![[5.5, -0.15], [-0.1, -0.15], [2.0, -0.1]];
        approx::assert_abs_diff_eq!(a, expected, epsilon = 1e-12);
    }

    #[test]
    fn the_per_sample_passes_compute_the_forward_and_backward_formulas() {
        let mut rng = StdRng::seed_from_u64(5);
        for (ins, outs) in [(7, 5), (16, 10), (16, 16)] {
            let activations: [Box<dyn Activation<f64>>; 2] =
                [Box::new(LeakyRelu), Box::new(Sigmoid)];
            for activation in activations {
                let name = activation.name();
                let weights = Dense::<f64>::new(ins, outs, LeakyRelu, Init::HeNormal, &mut rng)
                    .unwrap()
                    .weights()
                    .to_owned();
                let bias = Array2::from_shape_fn((outs, 1), |(i, _)| 0.1 * i as f64 - 0.3);
                let layer = Dense::from_parameters(weights, bias, activation.clone_box()).unwrap();
                let x: Vec<f64> = (0..ins).map(|i| (i as f64 * 0.7).sin()).collect();
                let upstream: Vec<f64> = (0..outs).map(|i| (i as f64 * 1.3).cos()).collect();
                let (mut y, mut a) = (vec![0.0; outs], vec![0.0; outs]);
                layer.forward_sample(&x, &mut y, &mut a);
                let (mut delta, mut dx) = (vec![0.0; outs], vec![0.0; ins]);
                layer.backward_sample(&y, &a, &upstream, &mut delta, Some(&mut dx));
                let (w, b) = (layer.weights(), layer.bias());
                for i in 0..outs {
                    let yi = b[(i, 0)] + (0..ins).map(|j| w[(i, j)] * x[j]).sum::<f64>();
                    approx::assert_abs_diff_eq!(y[i], yi, epsilon = 1e-12);
                    assert_eq!(a[i], activation.f(y[i]), "{name} a[{i}]");
                    let expected = activation.df(y[i]) * upstream[i];
                    approx::assert_abs_diff_eq!(delta[i], expected, epsilon = 1e-12);
                }
                for (j, &dxj) in dx.iter().enumerate() {
                    let expected = (0..outs).map(|i| w[(i, j)] * delta[i]).sum::<f64>();
                    approx::assert_abs_diff_eq!(dxj, expected, epsilon = 1e-12);
                }
            }
        }
    }

    #[test]
    fn the_fused_updates_and_forward_equal_the_updates_then_the_forward() {
        let mut rng = StdRng::seed_from_u64(3);
        for (ins, outs) in [(784, 16), (5, 3), (16, 10)] {
            let layer = Dense::<f32>::new(ins, outs, Sigmoid, Init::HeNormal, &mut rng).unwrap();
            let values =
                |n: usize, k: f32| (0..n).map(|i| ((i as f32) * k).sin()).collect::<Vec<_>>();
            let xs: Vec<_> = [0.37, 0.53, 0.71, 0.19, 0.83, 0.29]
                .map(|k| values(ins, k))
                .into();
            let deltas: Vec<_> = [1.3, 0.7, 1.1, 0.3, 0.9, 1.7]
                .map(|k| values(outs, k))
                .into();
            let x = values(ins, 0.91);
            let updates: Vec<_> = (0..6)
                .map(|k| SampleUpdate {
                    x: &xs[k],
                    delta: &deltas[k],
                    learning_rate: 0.05 + 0.01 * k as f32,
                })
                .collect();
            for count in 1..=6 {
                let what = format!("{ins}->{outs}, {count} updates");
                let mut separate = layer.clone();
                let (mut y1, mut a1) = (vec![0.0; outs], vec![0.0; outs]);
                for update in &updates[..count] {
                    separate.sgd_update_sample(update.x, update.delta, update.learning_rate);
                }
                separate.forward_sample(&x, &mut y1, &mut a1);
                if count <= kernels::MAX_FUSED_UPDATES {
                    let (mut y3, mut a3) = (vec![0.0; outs], vec![0.0; outs]);
                    layer.forward_sample_after(&updates[..count], &x, &mut y3, &mut a3);
                    assert_eq!((&y3, &a3), (&y1, &a1), "after, {what}");
                }
                let mut fused = layer.clone();
                let (mut y2, mut a2) = (vec![0.0; outs], vec![0.0; outs]);
                fused.sgd_update_and_forward_sample(&updates[..count], &x, &mut y2, &mut a2);
                assert_eq!(fused.weights(), separate.weights(), "{what}");
                assert_eq!(fused.bias(), separate.bias(), "{what}");
                assert_ne!(fused.bias(), layer.bias(), "{what}: no update");
                assert_eq!((y2, a2), (y1, a1), "{what}");
            }
        }
    }

    #[test]
    fn passes_cut_by_rows_give_one_thread_s_bits_and_the_gradients_largest_entry() {
        let mut rng = StdRng::seed_from_u64(8);
        for (ins, outs, batch) in [(784, 256, 128), (300, 129, 64), (16, 10, 40)] {
            let layer = Dense::<f32>::new(ins, outs, LeakyRelu, Init::HeNormal, &mut rng).unwrap();
            // A bias that differs from row to row, so that a block given another's is seen.
            let bias = Array2::from_shape_fn((outs, 1), |(i, _)| i as f32 / 10.0 - 3.0);
            let layer =
                Dense::from_parameters(layer.weights().to_owned(), bias, Box::new(LeakyRelu))
                    .unwrap();
            let x = Array2::from_shape_fn((ins, batch), |(i, j)| ((i * 7 + j * 3) as f32).sin());
            let upstream =
                Array2::from_shape_fn((outs, batch), |(i, j)| ((i * 5 + j * 11) as f32).cos());
            let pass = |threads: usize, upstream: &Array2<f32>| {
                let (mut y, mut a) = (Array2::zeros((outs, batch)), Array2::zeros((outs, batch)));
                layer.forward_into(x.view(), y.view_mut(), a.view_mut(), threads);
                let mut delta = Array2::zeros((outs, batch));
                let (mut dw, mut db) = (Array2::zeros((outs, ins)), Array2::zeros((outs, 1)));
                let mut dx = Array2::zeros((ins, batch));
                let largest = layer.backward_into(
                    x.view(),
                    y.view(),
                    a.view(),
                    upstream.view(),
                    delta.view_mut(),
                    dw.view_mut(),
                    db.view_mut(),
                    Some(dx.view_mut()),
                    threads,
                );
                (largest, [y, a, delta, dw, db, dx])
            };
            let (largest, one) = pass(1, &upstream);
            let expected_y = layer.weights().dot(&x) + layer.bias();
            approx::assert_abs_diff_eq!(one[0], expected_y, epsilon = 1e-4);
            let both = |g: &Array2<f32>| g.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert_eq!(largest, both(&one[3]).max(both(&one[4])));
            for threads in [2, 3] {
                let (on_threads, arrays) = pass(threads, &upstream);
                assert_eq!(on_threads, largest, "{ins}->{outs} on {threads}");
                assert_eq!(arrays, one, "{ins}->{outs} on {threads}");
            }
            // A non-finite upstream gradient in the first row or the last (another
            // thread's block) makes the largest entry NaN.
            for row in [0, outs - 1] {
                let mut bad = upstream.clone();
                bad[(row, batch / 2)] = f32::INFINITY;
                for threads in [1, 2] {
                    let (largest, _) = pass(threads, &bad);
                    assert!(largest.is_nan(), "row {row} on {threads}: {largest}");
                }
            }
        }
    }

    #[test]
    fn inference_gives_the_bits_of_the_training_forward_pass_and_flags_non_finite_values() {
        let mut rng = StdRng::seed_from_u64(5);
        for (ins, outs, batch) in [(784, 256, 300), (7, 5, 2), (16, 10, 129)] {
            let layer = Dense::<f32>::new(ins, outs, LeakyRelu, Init::HeNormal, &mut rng).unwrap();
            let x = Array2::from_shape_fn((ins, batch), |(i, j)| ((i * 7 + j * 3) as f32).sin());
            let (mut y, mut a) = (Array2::zeros((outs, batch)), Array2::zeros((outs, batch)));
            layer.forward_into(x.view(), y.view_mut(), a.view_mut(), 2);
            let mut inferred = Array2::from_elem((outs, batch), f32::NAN);
            // (NaN before: the pass must overwrite every entry.)
            let flags = layer.infer_into(x.view(), inferred.view_mut(), 2);
            assert_eq!(flags, (true, true));
            assert_eq!(inferred, a, "{ins}->{outs}, batch {batch}");
            // Into a column-major output too (as inference's workspace gives it), whose
            // passes around the product are cut by samples.
            for threads in [1, 2] {
                let mut by_columns = Array2::from_elem((outs, batch).f(), f32::NAN);
                let flags = layer.infer_into(x.view(), by_columns.view_mut(), threads);
                assert_eq!(flags, (true, true));
                assert_eq!(by_columns, a, "{ins}->{outs}, batch {batch}, by columns");
            }
            // A non-finite input makes the pre-activations non-finite; so do large ones.
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let mut x = x.clone();
                x[(ins / 2, batch - 1)] = bad;
                let flags = layer.infer_into(x.view(), inferred.view_mut(), 1);
                assert!(!flags.0, "{bad} in the input");
            }
        }
        // One overflowing row among many: the flags of the threads' halves are merged.
        let mut w = Array2::from_shape_fn((256, 784), |(i, j)| ((i + j) as f32).cos() * 0.01);
        w.row_mut(200).fill(1e30);
        let layer =
            Dense::from_parameters(w, Array2::zeros((256, 1)), Box::new(LeakyRelu)).unwrap();
        let x = Array2::from_elem((784, 300), 1e10f32);
        let mut a = Array2::zeros((256, 300));
        assert_eq!(layer.infer_into(x.view(), a.view_mut(), 2), (false, false));
        // One non-finite sample among many in a column-major output, on the second
        // thread's half of the samples.
        let w = Array2::from_shape_fn((256, 784), |(i, j)| ((i + j) as f32).cos() * 0.01);
        let layer =
            Dense::from_parameters(w, Array2::zeros((256, 1)), Box::new(LeakyRelu)).unwrap();
        let mut x = Array2::from_elem((784, 300), 1.0f32);
        x[(0, 299)] = f32::NAN;
        let mut a = Array2::zeros((256, 300).f());
        assert_eq!(layer.infer_into(x.view(), a.view_mut(), 2), (false, false));
        // Sigmoid's outputs stay finite where its pre-activations overflowed.
        let w = array![[1e30f32, 1e30]];
        let layer = Dense::from_parameters(w, array![[0.0]], Box::new(Sigmoid)).unwrap();
        let mut a = Array2::zeros((1, 2));
        let flags = layer.infer_into(array![[1e30f32, 1.0], [1e30, 1.0]].view(), a.view_mut(), 1);
        assert_eq!(flags, (false, true));
        assert_eq!(a[(0, 0)], 1.0);
        let flags = Dense::from_parameters(array![[1e30f32]], array![[0.0]], Box::new(LeakyRelu))
            .unwrap()
            .infer_into(
                array![[1e30f32]].view(),
                a.slice_mut(ndarray::s![.., 0..1]),
                1,
            );
        assert_eq!(flags, (false, false));
    }

    #[test]
    fn shapes_are_checked() {
        let mut rng = StdRng::seed_from_u64(0);
        assert!(matches!(
            Dense::<f32>::new(0, 3, Sigmoid, Init::default(), &mut rng),
            Err(Error::ZeroSizedLayer {
                ins: 0,
                outs: 3,
                ..
            })
        ));
        let layer = Dense::<f32>::new(2, 3, Sigmoid, Init::default(), &mut rng).unwrap();
        assert!(matches!(
            layer.forward(Array2::zeros((3, 1)).view()),
            Err(Error::ShapeMismatch {
                expected: (2, 1),
                actual: (3, 1),
                ..
            })
        ));
        assert!(matches!(
            layer.forward(Array2::zeros((2, 0)).view()),
            Err(Error::EmptyBatch { .. })
        ));
        let bad_bias = Dense::from_parameters(
            Array2::<f32>::zeros((3, 2)),
            Array2::zeros((2, 1)),
            Box::new(Identity),
        );
        assert!(matches!(
            bad_bias,
            Err(Error::ShapeMismatch {
                expected: (3, 1),
                actual: (2, 1),
                ..
            })
        ));
        let nan = Dense::from_parameters(
            array![[1.0f32, f32::NAN]],
            Array2::zeros((1, 1)),
            Box::new(Identity),
        );
        assert!(matches!(nan, Err(Error::NonFiniteInput { column: 1, .. })));
        for (outs, ins) in [(0, 3), (3, 0)] {
            let empty = Dense::from_parameters(
                Array2::<f32>::zeros((outs, ins)),
                Array2::zeros((outs, 1)),
                Box::new(Identity),
            );
            assert!(
                matches!(empty, Err(Error::ZeroSizedLayer { .. })),
                "{outs}x{ins}"
            );
        }
        assert_eq!(layer.parameter_count(), 3 * 2 + 3);
    }

    #[test]
    fn dropout_is_an_option_of_the_layer() {
        let mut rng = StdRng::seed_from_u64(0);
        let layer = Dense::<f32>::new(3, 2, Sigmoid, Init::default(), &mut rng).unwrap();
        assert!(layer.dropout().is_none());
        let dropped = layer.clone().with_dropout(0.25).unwrap();
        assert_eq!(dropped.dropout(), Some(Dropout::new(0.25).unwrap()));
        // Rate 0 is no dropout at all, and removes it.
        assert!(layer.clone().with_dropout(0.0).unwrap().dropout().is_none());
        assert!(dropped
            .clone()
            .with_dropout(0.0)
            .unwrap()
            .dropout()
            .is_none());
        assert!(matches!(
            layer.with_dropout(1.0),
            Err(Error::InvalidHyperparameter {
                name: "dropout",
                ..
            })
        ));
        // Inference ignores it.
        let x = Array2::from_elem((3, 4), 0.5);
        let undropped = Dense::from_parameters(
            dropped.weights().to_owned(),
            dropped.bias().to_owned(),
            Box::new(Sigmoid),
        )
        .unwrap();
        assert_eq!(
            dropped.forward(x.view()).unwrap(),
            undropped.forward(x.view()).unwrap()
        );
    }

    #[test]
    fn backward_gradients_match_finite_differences() {
        // L = sum(c ⊙ a) for a fixed c, so upstream = c, and every gradient can be checked
        // numerically by perturbing one entry of W, b or x.
        let mut rng = StdRng::seed_from_u64(3);
        let layer = Dense::<f64>::new(4, 3, Sigmoid, Init::XavierNormal, &mut rng).unwrap();
        let x = Init::HeNormal.weights::<f64, _>(4, 5, &mut rng).unwrap();
        let c = Init::HeNormal.weights::<f64, _>(3, 5, &mut rng).unwrap();
        let loss = |l: &Dense<f64>, x: &Array2<f64>| (&l.forward(x.view()).unwrap() * &c).sum();

        let (mut y, mut a) = (Array2::zeros((3, 5)), Array2::zeros((3, 5)));
        layer.forward_into(x.view(), y.view_mut(), a.view_mut(), 2);
        let (mut delta, mut dw, mut db, mut dx) = (
            Array2::zeros((3, 5)),
            Array2::zeros((3, 4)),
            Array2::zeros((3, 1)),
            Array2::zeros((4, 5)),
        );
        layer.backward_into(
            x.view(),
            y.view(),
            a.view(),
            c.view(),
            delta.view_mut(),
            dw.view_mut(),
            db.view_mut(),
            Some(dx.view_mut()),
            2,
        );
        let h = 1e-6;
        for ((i, j), &g) in dw.indexed_iter() {
            let (mut plus, mut minus) = (layer.clone(), layer.clone());
            plus.weights[(i, j)] += h;
            minus.weights[(i, j)] -= h;
            let numeric = (loss(&plus, &x) - loss(&minus, &x)) / (2.0 * h);
            approx::assert_relative_eq!(g, numeric, epsilon = 1e-8, max_relative = 1e-6);
        }
        for ((i, _), &g) in db.indexed_iter() {
            let (mut plus, mut minus) = (layer.clone(), layer.clone());
            plus.bias[(i, 0)] += h;
            minus.bias[(i, 0)] -= h;
            let numeric = (loss(&plus, &x) - loss(&minus, &x)) / (2.0 * h);
            approx::assert_relative_eq!(g, numeric, epsilon = 1e-8, max_relative = 1e-6);
        }
        for ((i, j), &g) in dx.indexed_iter() {
            let (mut plus, mut minus) = (x.clone(), x.clone());
            plus[(i, j)] += h;
            minus[(i, j)] -= h;
            let numeric = (loss(&layer, &plus) - loss(&layer, &minus)) / (2.0 * h);
            approx::assert_relative_eq!(g, numeric, epsilon = 1e-8, max_relative = 1e-6);
        }
    }
}
