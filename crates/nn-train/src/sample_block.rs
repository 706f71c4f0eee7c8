//! Blocks of per-sample SGD steps: the samples a [`crate::SampleStream`] queued with
//! `push`, trained [`BLOCK_SAMPLES`] at a time with one pass over the first layer's
//! weights (see [`nn_core::compute::block`] for the algebra).
//!
//! A block's steps are the series' steps, in order: each sample's forward pass sees the
//! weights every earlier step left, and every later layer is updated at once, as
//! `NeuralNetwork::train` updates it. Only `W_0`'s product is taken differently,
//! `W_k·x_k = W·x_k − Σ_{j<k} learning_rate_j·(x_j·x_k)·delta_j` with `W` the weights
//! before the block, which rounds differently from multiplying the updated weights:
//! results agree with `train`'s to rounding, not bit for bit.

use ndarray::{ArrayView1, ArrayView2, Axis};
use nn_core::compute::block::{self, BLOCK_ROWS, BLOCK_SAMPLES};
use nn_core::compute::kernels::{self, Rank1};
use nn_core::{tensor, Float, Result, Target};

use crate::network::NeuralNetwork;

/// How many pushes in a row, with nothing reaching the network in between, before the
/// stream starts taking blocks: starting copies `W_0` into the block's layout, and
/// stopping copies it back (a few µs each), which a loop that reads the network after
/// every step would pay at every step.
pub(crate) const WARM_UP_PUSHES: usize = 64;

/// The widest first layer (`outs`) that blocks take: every group of [`BLOCK_ROWS`] rows
/// reads every sample again, so a wide layer gains less than its product costs.
pub(crate) const MAX_BLOCK_OUTS: usize = 2 * BLOCK_ROWS;

/// The smallest first layer (its weights' bytes) that blocks take: one that fits in the
/// L1 cache with room to spare gains less from them than the scan and copy of each
/// pushed sample cost. Streaming Fashion-MNIST through 784→16→16→10 on an Intel Xeon
/// with AVX-512 (48 KB of L1): `f64` (98 KB) 2.31 → 2.20 µs a step, `f32` (49 KB)
/// 1.33 → 1.56.
pub(crate) const MIN_BLOCK_WEIGHT_BYTES: usize = 64 * 1024;

/// The queued samples and the first layer's weights while blocks are taken.
#[derive(Clone, Debug, Default)]
pub(crate) struct Blocks<F> {
    /// Whether `wt` holds the first layer's weights (and the network's `W_0` is stale).
    active: bool,
    /// Pushes since the network was last reached (see [`WARM_UP_PUSHES`]).
    warm: usize,
    /// `W_0ᵀ`, `(ins, rows)`, with `rows` the layer's `outs` padded with zero rows to a
    /// multiple of [`BLOCK_ROWS`].
    wt: Vec<F>,
    ins: usize,
    rows: usize,
    /// The queued samples, `BLOCK_SAMPLES` slots of `ins` entries.
    queued: Vec<F>,
    /// How many are queued.
    count: usize,
    /// Whether their targets are values (in `values`) rather than classes (in `classes`).
    value_targets: [bool; BLOCK_SAMPLES],
    classes: [usize; BLOCK_SAMPLES],
    /// The queued value targets, `BLOCK_SAMPLES` slots of the output's `outs`.
    values: Vec<F>,
    /// Their `max |x|`.
    input_max: [F; BLOCK_SAMPLES],
    /// The samples of the last block, whose `W_0` updates the next pass applies
    /// (`pending` of them), with their `delta_0` (padded to `rows`) and learning rates.
    pending: usize,
    pending_x: Vec<F>,
    pending_delta: Vec<F>,
    pending_rate: [F; BLOCK_SAMPLES],
    /// `x_j·x_k` of the queued samples `j < k`, at `dots[j][k]`.
    dots: [[F; BLOCK_SAMPLES]; BLOCK_SAMPLES],
    /// The pass's products, `BLOCK_SAMPLES` slots of `rows`.
    products: Vec<F>,
    /// One sample's product after the block's earlier updates.
    product: Vec<F>,
    /// Zeros, `max(ins, rows)` of them: the samples and updates that pad a block that
    /// is not full.
    zeros: Vec<F>,
}

impl<F: Float> Blocks<F> {
    /// How many samples wait to be trained.
    pub(crate) fn queued(&self) -> usize {
        self.count
    }

    /// Whether the network's `W_0` misses updates that only the blocks hold (samples are
    /// only queued while they do).
    pub(crate) fn holds_updates(&self) -> bool {
        self.active
    }

    /// Whether `push` of one sample `x` should queue it (rather than train it at once):
    /// the network takes fused steps, its first layer is narrow but past the L1 cache
    /// ([`MAX_BLOCK_OUTS`], [`MIN_BLOCK_WEIGHT_BYTES`]), and the stream has seen
    /// [`WARM_UP_PUSHES`] pushes in a row. Counts the push.
    pub(crate) fn takes(&mut self, network: &NeuralNetwork<F>, x: ArrayView2<'_, F>) -> bool {
        let first = &network.layers()[0];
        let bytes = first.weights().len() * std::mem::size_of::<F>();
        if x.ncols() != 1
            || first.outs() > MAX_BLOCK_OUTS
            || bytes < MIN_BLOCK_WEIGHT_BYTES
            || !network.takes_fused_steps()
        {
            return false;
        }
        if self.active {
            return true;
        }
        self.warm += 1;
        self.warm > WARM_UP_PUSHES
    }

    /// Queues `(x, target)` (checked, and scanned with the finiteness check on); trains
    /// the block when it is full.
    ///
    /// # Errors
    /// Those of `NeuralNetwork::train` for the sample's shapes and values; those of
    /// [`Blocks::train`] when the block is trained.
    pub(crate) fn push(
        &mut self,
        network: &mut NeuralNetwork<F>,
        x: ArrayView2<'_, F>,
        target: Target<'_, F>,
    ) -> Result<()> {
        network.check_sample_shapes(x, target)?;
        let input_max = if network.checks_finite() {
            tensor::finite_max_abs("input", x)?
        } else {
            F::zero()
        };
        if !self.active {
            self.start(network);
        }
        let (ins, k) = (self.ins, self.count);
        let column = x.column(0);
        let (before, rest) = self.queued.split_at_mut(k * ins);
        let queued = &mut rest[..ins];
        match column.as_slice() {
            Some(values) => queued.copy_from_slice(values),
            None => queued.iter_mut().zip(&column).for_each(|(q, &v)| *q = v),
        }
        self.input_max[k] = input_max;
        match target {
            Target::Classes(classes) => self.classes[k] = classes[0],
            Target::Values(values) => {
                let to = slot_mut(&mut self.values, k, values.nrows());
                to.iter_mut()
                    .zip(&values.column(0))
                    .for_each(|(s, &v)| *s = v);
            }
        }
        self.value_targets[k] = matches!(target, Target::Values(_));
        // Its dot products with the samples before it in the block, while it is in the
        // L1 cache (they are too, since nothing has passed over the weights since).
        for j in 0..k {
            self.dots[j][k] = kernels::dot(slot(before, j, ins), queued);
        }
        self.count += 1;
        if self.count == BLOCK_SAMPLES {
            self.train(network)?;
        }
        Ok(())
    }

    /// Copies `W_0` into the block layout and sizes the buffers.
    fn start(&mut self, network: &mut NeuralNetwork<F>) {
        network.know_bounds();
        let (outs, ins, last_outs) = {
            let first = &network.layers()[0];
            (first.outs(), first.ins(), network.outs())
        };
        let rows = outs.div_ceil(BLOCK_ROWS) * BLOCK_ROWS;
        self.rows = rows;
        self.ins = ins;
        self.wt.clear();
        self.wt.resize(ins * rows, F::zero());
        let w = network.layers()[0].weights();
        for ((r, c), &v) in w.indexed_iter() {
            self.wt[c * rows + r] = v;
        }
        let resize = |v: &mut Vec<F>, len: usize| {
            v.clear();
            v.resize(len, F::zero());
        };
        resize(&mut self.queued, BLOCK_SAMPLES * ins);
        resize(&mut self.pending_x, BLOCK_SAMPLES * ins);
        resize(&mut self.zeros, ins.max(rows));
        resize(&mut self.pending_delta, BLOCK_SAMPLES * rows);
        resize(&mut self.products, BLOCK_SAMPLES * rows);
        resize(&mut self.product, outs);
        resize(&mut self.values, BLOCK_SAMPLES * last_outs);
        self.count = 0;
        self.pending = 0;
        self.active = true;
    }

    /// Trains the queued samples, in order, as one block.
    ///
    /// # Errors
    /// [`nn_core::Error::Diverged`] for a step whose loss or update is not finite, which
    /// changes nothing; the steps before it are kept, and the samples queued after it are
    /// dropped. The errors of `NeuralNetwork::train` for a step the block could not
    /// prove finite, which is then trained by it.
    pub(crate) fn train(&mut self, network: &mut NeuralNetwork<F>) -> Result<()> {
        let queued = self.count;
        if queued == 0 {
            return Ok(());
        }
        let (ins, rows) = (self.ins, self.rows);
        let outs = self.product.len();
        self.pass(queued);
        let mut trained = 0;
        let mut result = Ok(());
        for k in 0..queued {
            // W_k·x_k = W·x_k − Σ_{j<k} learning_rate_j·(x_j·x_k)·delta_j.
            self.product
                .copy_from_slice(&slot(&self.products, k, rows)[..outs]);
            for j in 0..k {
                let scale = self.pending_rate[j] * self.dots[j][k];
                let delta = &slot(&self.pending_delta, j, rows)[..outs];
                for (p, &d) in self.product.iter_mut().zip(delta) {
                    *p -= scale * d;
                }
            }
            let column = column_of(slot(&self.queued, k, ins));
            let input_max = network.checks_finite().then_some(self.input_max[k]);
            match network.block_step(column, self.target(k), input_max, &self.product) {
                Ok(Some(rate)) => {
                    let delta = network.first_delta();
                    slot_mut(&mut self.pending_delta, k, rows)[..outs].copy_from_slice(delta);
                    self.pending_rate[k] = rate;
                    trained += 1;
                }
                Ok(None) => {
                    // Not provably finite as a fused step: the block's steps so far are
                    // applied, and this sample and the rest are trained one by one.
                    self.keep(trained);
                    self.stop(network);
                    for i in k..queued {
                        let x = column_of(slot(&self.pending_x, i, ins));
                        if let Err(e) = network.train(x, self.target(i)) {
                            result = Err(e);
                            break;
                        }
                    }
                    self.count = 0;
                    return result;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.keep(trained);
        self.count = 0;
        result
    }

    /// The target of queued sample `k`.
    fn target(&self, k: usize) -> Target<'_, F> {
        if self.value_targets[k] {
            let outs = self.values.len() / BLOCK_SAMPLES;
            Target::Values(column_of(slot(&self.values, k, outs)))
        } else {
            Target::Classes(&self.classes[k..k + 1])
        }
    }

    /// The pass over `W_0ᵀ`: the last block's updates, then the products of the first
    /// `queued` queued samples (the other slots multiply zeros).
    fn pass(&mut self, queued: usize) {
        let (ins, rows) = (self.ins, self.rows);
        let pending = self.pending;
        let updates: [Rank1<'_, F>; BLOCK_SAMPLES] = std::array::from_fn(|j| {
            if j < pending {
                Rank1 {
                    alpha: -self.pending_rate[j],
                    u: slot(&self.pending_delta, j, rows),
                    v: slot(&self.pending_x, j, ins),
                }
            } else {
                Rank1 {
                    alpha: F::zero(),
                    u: &self.zeros[..rows],
                    v: &self.zeros[..ins],
                }
            }
        });
        let xs: [&[F]; BLOCK_SAMPLES] = std::array::from_fn(|k| {
            if k < queued {
                slot(&self.queued, k, ins)
            } else {
                &self.zeros[..ins]
            }
        });
        block::updates_and_products(&mut self.wt, rows, &updates, xs, &mut self.products);
        self.pending = 0;
    }

    /// Keeps the first `trained` queued samples' updates pending (their samples become the
    /// pending ones).
    fn keep(&mut self, trained: usize) {
        std::mem::swap(&mut self.queued, &mut self.pending_x);
        self.pending = trained;
    }

    /// Trains what is queued, applies every update and puts `W_0` back in the network;
    /// the next pushes warm up again.
    ///
    /// # Errors
    /// Those of [`Blocks::train`]; `W_0` is put back either way.
    pub(crate) fn flush(&mut self, network: &mut NeuralNetwork<F>) -> Result<()> {
        let result = if self.active {
            self.train(network)
        } else {
            Ok(())
        };
        self.stop(network);
        self.warm = 0;
        result
    }

    /// Applies the pending updates and copies `W_0` back into the network.
    fn stop(&mut self, network: &mut NeuralNetwork<F>) {
        if !self.active {
            return;
        }
        self.pass(0);
        let rows = self.rows;
        let mut w = network.first_weights_mut();
        for ((r, c), v) in w.indexed_iter_mut() {
            *v = self.wt[c * rows + r];
        }
        self.active = false;
    }
}

/// Slot `k` of a buffer of slots of `len` entries.
fn slot<F>(buffer: &[F], k: usize, len: usize) -> &[F] {
    &buffer[k * len..(k + 1) * len]
}

/// [`slot`], mutably.
fn slot_mut<F>(buffer: &mut [F], k: usize, len: usize) -> &mut [F] {
    &mut buffer[k * len..(k + 1) * len]
}

/// One sample as a column `(len, 1)`.
fn column_of<F>(values: &[F]) -> ArrayView2<'_, F> {
    ArrayView1::from(values).insert_axis(Axis(1))
}
