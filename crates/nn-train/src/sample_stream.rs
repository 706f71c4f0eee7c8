//! [`SampleStream`]: the series' per-sample training loop, with each step's first-layer
//! update fused into the next step's forward product.

use std::borrow::BorrowMut;
use std::marker::PhantomData;

use ndarray::ArrayView2;
use nn_core::{Error, Float, Result, Target};

use crate::backprop::Deferred;
use crate::network::NeuralNetwork;
use crate::sample_block::Blocks;

/// Trains a network one sample at a time, as [`NeuralNetwork::train`] does, but faster
/// when the first layer's weights do not fit in the processor's L1 cache (784→16 in `f32`
/// is 49 KB; the cache holds 32–48 KB).
///
/// A per-sample SGD step reads the first layer's `W` in its forward product and then
/// reads and writes it again in its update `W -= learning_rate·delta·xᵀ`. The stream
/// leaves that update pending and applies it in the next step's forward product, row by
/// row while each row is in L1: two passes over `W` a step instead of three. The results
/// are bit for bit those of calling [`NeuralNetwork::train`] on each sample.
///
/// The pending update is applied whenever the network is reached through the stream
/// ([`SampleStream::network`]), taken back ([`SampleStream::into_inner`]) or the stream is
/// dropped, so the network is never seen without it. A step the fused path does not
/// take (a batch of several samples, dropout, clipping, an optimizer other than plain
/// SGD) applies it first and is then exactly [`NeuralNetwork::train`]. Only a stream
/// leaked with [`std::mem::forget`] loses its last step's first-layer update.
///
/// # Queued steps
///
/// A loop that does not need each step's loss can [`SampleStream::push`] its samples
/// instead of calling [`SampleStream::train`]. After a warm-up of 64 pushes in a row,
/// the stream then trains them in blocks of
/// [`BLOCK_SAMPLES`](nn_core::compute::block::BLOCK_SAMPLES), still one SGD step a sample
/// and in order: one pass over the first layer's weights applies the block before's
/// updates and multiplies them by every sample of the block, and each sample's product
/// is corrected by the updates of the samples before it in its block,
/// `W_k·x_k = W·x_k − Σ_{j<k} learning_rate_j·(x_j·x_k)·delta_j`. Streaming
/// Fashion-MNIST through 784→16→16→10 in `f64` on an Intel Xeon with AVX-512, that is
/// the step's main cost divided by about two. The results are those of
/// [`NeuralNetwork::train`] up to rounding (the products are summed in another order),
/// not bit for bit.
///
/// Queued samples are trained when their block is full, and when the stream is flushed
/// ([`SampleStream::flush`]), which reaching the network ([`SampleStream::network`]),
/// [`SampleStream::train`], [`SampleStream::into_inner`] and dropping the stream also
/// do. A push checks its sample's shapes and values at once; a step that diverges is
/// only found when its block is trained, and its error is returned by the push or flush
/// that trained the block (or, when the network was reached, by the next push, train or
/// flush). That step changes nothing, the steps before it are kept, and the samples
/// queued after it are dropped, as a loop stopping at the error would have left them.
/// Blocks are taken by plain SGD steps on one sample without preprocessing, on a first
/// layer of at most 32 outputs whose weights take 64 KiB or more (below that they stay
/// in the L1 cache, and blocks gain less than they cost); any other push is
/// [`SampleStream::train`].
///
/// `N` is the network or a mutable borrow of it: [`NeuralNetwork::sample_stream`]
/// borrows; [`SampleStream::new`] takes either.
///
/// # Example
///
/// ```
/// use nn_train::{NeuralNetwork, Target};
/// use nn_layers::{Dense, LeakyRelu};
/// use nn_loss::Mse;
/// use nn_core::Init;
/// use ndarray::Array2;
/// use rand::{rngs::StdRng, SeedableRng};
///
/// let mut rng = StdRng::seed_from_u64(0);
/// let layers = vec![
///     Dense::new(4, 8, LeakyRelu, Init::Original, &mut rng)?,
///     Dense::new(8, 2, LeakyRelu, Init::Original, &mut rng)?,
/// ];
/// let mut net = NeuralNetwork::<f64>::new(layers, Mse, 0.01)?;
/// let mut same = net.clone();
/// let x = Array2::from_shape_fn((4, 10), |(i, j)| (i * j) as f64 / 10.0);
///
/// let mut stream = net.sample_stream();
/// for j in 0..10 {
///     stream.train(x.slice(ndarray::s![.., j..j + 1]), Target::Classes(&[j % 2]))?;
/// }
/// drop(stream); // applies the last step's first-layer update
///
/// for j in 0..10 {
///     same.train(x.slice(ndarray::s![.., j..j + 1]), Target::Classes(&[j % 2]))?;
/// }
/// assert_eq!(net.layers()[0].weights(), same.layers()[0].weights());
/// # Ok::<(), nn_core::Error>(())
/// ```
pub struct SampleStream<F: Float, N: BorrowMut<NeuralNetwork<F>>> {
    /// `None` only after `into_inner` took it.
    network: Option<N>,
    deferred: Deferred<F>,
    blocks: Blocks<F>,
    /// The error of a flush that reaching the network made, for the next push, train
    /// or flush to return.
    error: Option<Error>,
    float: PhantomData<F>,
}

impl<F: Float, N: BorrowMut<NeuralNetwork<F>>> SampleStream<F, N> {
    /// A stream that trains `network` (owned or borrowed mutably).
    pub fn new(network: N) -> Self {
        SampleStream {
            network: Some(network),
            deferred: Deferred::default(),
            blocks: Blocks::default(),
            error: None,
            float: PhantomData,
        }
    }

    /// One training step on `(x, target)`: [`NeuralNetwork::train`], with the first
    /// layer's update of a one-sample SGD step left pending until the next step (or until
    /// the network is reached).
    ///
    /// Queued samples ([`SampleStream::push`]) are trained first.
    ///
    /// # Errors
    /// Those of [`NeuralNetwork::train`]; as there, a failed step changes no parameter
    /// (a pending update from the step before may have been applied, as it would have
    /// been by that step). Those of [`SampleStream::flush`], before this step is taken.
    pub fn train(&mut self, x: ArrayView2<'_, F>, target: Target<'_, F>) -> Result<F> {
        let (network, blocks, deferred) = self.parts()?;
        // Only the blocks: the step takes its product through the held updates.
        blocks.flush(network)?;
        network.train_deferring(x, target, deferred)
    }

    /// One training step on `(x, target)`, as [`SampleStream::train`], but possibly
    /// queued: trained later with the samples after it, in a block (see the type's
    /// documentation), and its loss not computed here.
    ///
    /// # Errors
    /// At once, those of [`NeuralNetwork::train`] for the shapes and values of `x` and
    /// `target`. [`Error::Diverged`] for a queued step that diverged, when its block is
    /// trained (by this push, or found by a flush since). A refused push queues nothing.
    ///
    /// # Example
    ///
    /// ```
    /// use nn_train::{NeuralNetwork, Target};
    /// use nn_layers::LeakyRelu;
    /// use nn_loss::Mse;
    /// use nn_core::Init;
    /// use ndarray::{s, Array2};
    ///
    /// let mut net = NeuralNetwork::<f64>::builder(784)
    ///     .dense_with_init(16, LeakyRelu, Init::Original)
    ///     .dense_with_init(10, LeakyRelu, Init::Original)
    ///     .loss(Mse)
    ///     .learning_rate(0.001)
    ///     .seed(0)
    ///     .build()?;
    /// let x = Array2::from_shape_fn((784, 100), |(i, j)| ((i + 7 * j) % 256) as f64 / 255.0);
    /// let mut stream = net.sample_stream();
    /// for j in 0..100 {
    ///     stream.push(x.slice(s![.., j..j + 1]), Target::Classes(&[j % 10]))?;
    /// }
    /// assert!(stream.queued() > 0); // the last samples wait for their block
    /// stream.flush()?; // trains them; an error of theirs would come here
    /// assert_eq!(stream.network().steps(), 100);
    /// # Ok::<(), nn_core::Error>(())
    /// ```
    pub fn push(&mut self, x: ArrayView2<'_, F>, target: Target<'_, F>) -> Result<()> {
        let (network, blocks, deferred) = self.parts()?;
        if !blocks.takes(network, x) {
            if blocks.holds_updates() {
                blocks.flush(network)?;
            }
            return network.train_deferring(x, target, deferred).map(|_| ());
        }
        network.apply_deferred(deferred);
        blocks.push(network, x, target)
    }

    /// The network, the blocks and the held updates, borrowed apart; or the error a
    /// flush by [`SampleStream::network`] kept, which the call then returns.
    fn parts(&mut self) -> Result<(&mut NeuralNetwork<F>, &mut Blocks<F>, &mut Deferred<F>)> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        let network = self
            .network
            .as_mut()
            .expect("the network until into_inner")
            .borrow_mut();
        Ok((network, &mut self.blocks, &mut self.deferred))
    }

    /// Trains the queued samples and applies every pending update; the next pushes warm
    /// up again.
    ///
    /// # Errors
    /// Those of the queued steps (see [`SampleStream::push`]), or the one a flush by
    /// [`SampleStream::network`] found.
    pub fn flush(&mut self) -> Result<()> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        match self.network.as_mut() {
            Some(network) => {
                let network = network.borrow_mut();
                network.apply_deferred(&mut self.deferred);
                self.blocks.flush(network)
            }
            None => Ok(()),
        }
    }

    /// The network, with every update applied: queued samples are trained first. An
    /// error in their steps is kept for the next push, train or flush to return; call
    /// [`SampleStream::flush`] first to see it here.
    pub fn network(&mut self) -> &mut NeuralNetwork<F> {
        self.apply();
        self.network
            .as_mut()
            .expect("the network until into_inner")
            .borrow_mut()
    }

    /// Whether the last step left its first-layer update pending, or samples wait in the
    /// queue.
    pub fn has_pending_update(&self) -> bool {
        self.deferred.is_pending() || self.blocks.holds_updates()
    }

    /// How many pushed samples wait to be trained.
    pub fn queued(&self) -> usize {
        self.blocks.queued()
    }

    /// Ends the stream and gives the network (or its borrow) back, every update applied
    /// and every queued sample trained (call [`SampleStream::flush`] first to see their
    /// errors).
    pub fn into_inner(mut self) -> N {
        self.apply();
        self.network.take().expect("the network until into_inner")
    }

    /// Trains the queued samples and applies the pending updates, keeping an error for
    /// later (see [`SampleStream::network`]).
    fn apply(&mut self) {
        if let Err(error) = self.flush() {
            self.error = Some(error);
        }
    }
}

impl<F: Float, N: BorrowMut<NeuralNetwork<F>>> Drop for SampleStream<F, N> {
    fn drop(&mut self) {
        self.apply();
    }
}

impl<F: Float, N: BorrowMut<NeuralNetwork<F>>> std::fmt::Debug for SampleStream<F, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleStream")
            .field("pending_update", &self.deferred.is_pending())
            .field("queued", &self.blocks.queued())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2, ShapeBuilder};
    use nn_core::{Error, Init, Preprocessing};
    use nn_layers::{LeakyRelu, Sigmoid};
    use nn_loss::{CrossEntropy, Mse};

    /// 784→16→16→10 as the series builds it, with a seeded original initialisation.
    fn network<F: Float>(seed: u64, cross_entropy: bool) -> NeuralNetwork<F> {
        network_of(16, seed, cross_entropy)
    }

    /// 784→`first`→16→10, otherwise as [`network`].
    fn network_of<F: Float>(first: usize, seed: u64, cross_entropy: bool) -> NeuralNetwork<F> {
        let builder = NeuralNetwork::<F>::builder(784)
            .dense_with_init(first, LeakyRelu, Init::Original)
            .dense_with_init(16, Sigmoid, Init::Original)
            .dense_with_init(10, LeakyRelu, Init::Original)
            .learning_rate(F::from_f64(0.01))
            .seed(seed);
        let builder = if cross_entropy {
            builder.loss(CrossEntropy)
        } else {
            builder.loss(Mse)
        };
        builder.build().unwrap()
    }

    /// `n` samples of 784 values in [0, 255), one column each, stored column by column
    /// (contiguous columns) or row by row (strided ones).
    fn samples<F: Float>(n: usize, contiguous: bool) -> Array2<F> {
        let f = |(i, j): (usize, usize)| F::from_f64(((i * 31 + j * 17) % 255) as f64);
        if contiguous {
            Array2::from_shape_fn((784, n).f(), f)
        } else {
            Array2::from_shape_fn((784, n), f)
        }
    }

    fn parameters<F: Float>(net: &NeuralNetwork<F>) -> Vec<(Array2<F>, Array2<F>)> {
        let layers = net.layers();
        layers
            .iter()
            .map(|l| (l.weights().to_owned(), l.bias().to_owned()))
            .collect()
    }

    /// A stream's steps give the losses and parameters of `train`, bit for bit.
    fn a_stream_equals_train<F: Float>() {
        for (contiguous, cross_entropy, check, preprocess) in [
            (true, false, true, true),
            (false, false, true, true),
            (true, true, false, true),
            (true, false, true, false),
        ] {
            let what = format!(
                "{} contiguous {contiguous} ce {cross_entropy} check {check}",
                F::DTYPE
            );
            let x = samples::<F>(40, contiguous);
            let mut plain = network::<F>(7, cross_entropy);
            if preprocess {
                let scale = Preprocessing::scale(784, F::from_f64(1.0 / 255.0)).unwrap();
                plain.set_preprocessing(Some(scale)).unwrap();
            }
            plain.set_check_finite(check);
            let mut streamed = plain.clone();
            let mut stream = streamed.sample_stream();
            for j in 0..40 {
                let (column, class) = (x.slice(s![.., j..j + 1]), [j % 10]);
                let a = plain.train(column, Target::Classes(&class)).unwrap();
                let b = stream.train(column, Target::Classes(&class)).unwrap();
                assert_eq!(
                    a.as_f64().to_bits(),
                    b.as_f64().to_bits(),
                    "loss of step {j}, {what}"
                );
                assert!(stream.has_pending_update(), "{what}");
            }
            drop(stream);
            assert_eq!(parameters(&streamed), parameters(&plain), "{what}");
            assert_eq!(streamed.steps(), plain.steps());
        }
    }

    #[test]
    fn a_stream_trains_exactly_as_train_does() {
        a_stream_equals_train::<f32>();
        a_stream_equals_train::<f64>();
    }

    #[test]
    fn the_pending_update_is_applied_whenever_the_network_is_reached() {
        let x = samples::<f64>(5, true);
        let mut plain = network::<f64>(1, false);
        let mut streamed = plain.clone();
        for j in 0..3 {
            plain
                .train(x.slice(s![.., j..j + 1]), Target::Classes(&[j]))
                .unwrap();
        }
        let mut stream = SampleStream::new(streamed.clone());
        for j in 0..3 {
            stream
                .train(x.slice(s![.., j..j + 1]), Target::Classes(&[j]))
                .unwrap();
        }
        assert!(stream.has_pending_update());
        // Reached through the stream: applied, and training goes on after.
        assert_eq!(parameters(stream.network()), parameters(&plain));
        assert!(!stream.has_pending_update());
        stream
            .train(x.slice(s![.., 3..4]), Target::Classes(&[3]))
            .unwrap();
        plain
            .train(x.slice(s![.., 3..4]), Target::Classes(&[3]))
            .unwrap();
        // Taken back: applied.
        let owned = stream.into_inner();
        assert_eq!(parameters(&owned), parameters(&plain));
        // Dropped: applied.
        {
            let mut stream = streamed.sample_stream();
            for j in 0..4 {
                stream
                    .train(x.slice(s![.., j..j + 1]), Target::Classes(&[j]))
                    .unwrap();
            }
        }
        assert_eq!(parameters(&streamed), parameters(&plain));
    }

    #[test]
    fn other_steps_and_failed_steps_in_a_stream_are_those_of_train() {
        other_steps_and_failed_steps::<f32>();
        other_steps_and_failed_steps::<f64>();
    }

    /// A stream holds two steps' first-layer updates when its weights pass the L1 cache
    /// (784→16 in `f64`), one otherwise (in `f32`).
    #[test]
    fn a_stream_holds_two_updates_of_large_first_layers() {
        fn held<F: Float>() -> Vec<usize> {
            let x = samples::<F>(5, true);
            let mut net = network::<F>(2, false);
            let mut stream = net.sample_stream();
            (0..5)
                .map(|j| {
                    let column = x.slice(s![.., j..j + 1]);
                    stream.train(column, Target::Classes(&[j])).unwrap();
                    stream.deferred.pending()
                })
                .collect()
        }
        assert_eq!(held::<f32>(), [1, 1, 1, 1, 1]);
        assert_eq!(held::<f64>(), [1, 2, 1, 2, 1]);
    }

    /// With a preprocessing step (which scans what the first layer sees) or without one
    /// (the fused step then scans its input after its forward pass).
    fn other_steps_and_failed_steps<F: Float>() {
        for preprocess in [true, false] {
            steps_around_failed_steps::<F>(preprocess);
        }
    }

    fn steps_around_failed_steps<F: Float>(preprocess: bool) {
        let mut x = samples::<F>(12, true);
        let mut plain = network::<F>(3, true);
        if preprocess {
            let scale = Preprocessing::scale(784, F::from_f64(1.0 / 255.0)).unwrap();
            plain.set_preprocessing(Some(scale)).unwrap();
        } else {
            x.mapv_inplace(|v| v / F::from_f64(255.0));
        }
        let mut streamed = plain.clone();
        let mut stream = streamed.sample_stream();
        let classes: Vec<usize> = (0..12).map(|j| (j * 3) % 10).collect();
        let mut bad = x.slice(s![.., 0..1]).to_owned();
        bad[(5, 0)] = F::nan();
        let mut infinite = x.slice(s![.., 1..2]).to_owned();
        infinite[(700, 0)] = F::infinity();
        // One sample per step, with a batch of three after step 4 (the general path, after
        // the pending update), a NaN input after step 8 and an infinite one after step 9
        // (refused before any change of theirs).
        let mut steps: Vec<(usize, usize, Option<usize>)> =
            (0..12).map(|j| (j, j + 1, None)).collect();
        steps.insert(5, (0, 3, None));
        steps.insert(10, (0, 1, Some(5)));
        steps.insert(12, (1, 2, Some(700)));
        for (k, &(start, end, bad_row)) in steps.iter().enumerate() {
            let input = match bad_row {
                Some(5) => bad.view(),
                Some(_) => infinite.view(),
                None => x.slice(s![.., start..end]),
            };
            let target = Target::Classes(&classes[start..end]);
            let what = format!("step {k} ({}, preprocess {preprocess})", F::DTYPE);
            match (plain.train(input, target), stream.train(input, target)) {
                (Ok(a), Ok(b)) => assert_eq!(a.as_f64().to_bits(), b.as_f64().to_bits(), "{what}"),
                (
                    Err(Error::NonFiniteInput { row, column, .. }),
                    Err(Error::NonFiniteInput {
                        row: r, column: c, ..
                    }),
                ) => {
                    assert_eq!(Some(row), bad_row, "{what}");
                    assert_eq!((row, column), (r, c), "{what}");
                    assert_eq!(column, 0, "{what}");
                }
                (a, b) => panic!("{what}: {a:?} and {b:?}"),
            }
            assert_eq!(
                plain.steps() as usize,
                k + 1 - steps[..=k].iter().filter(|s| s.2.is_some()).count(),
                "{what}"
            );
        }
        drop(stream);
        assert_eq!(parameters(&streamed), parameters(&plain), "{}", F::DTYPE);
        assert_eq!(streamed.steps(), plain.steps(), "{}", F::DTYPE);
    }

    /// `a` and `b` agree within `tolerance` relative to each entry's size.
    fn close<F: Float>(
        a: &[(Array2<F>, Array2<F>)],
        b: &[(Array2<F>, Array2<F>)],
        tolerance: f64,
    ) -> bool {
        a.iter().zip(b).all(|((wa, ba), (wb, bb))| {
            wa.iter()
                .chain(ba)
                .zip(wb.iter().chain(bb))
                .all(|(&p, &q)| {
                    let (p, q) = (p.as_f64(), q.as_f64());
                    (p - q).abs() <= tolerance * (1.0 + q.abs())
                })
        })
    }

    /// Pushed samples, trained in blocks after the warm-up, give `train`'s parameters to
    /// rounding, with every target kind, and strided or contiguous samples.
    fn pushed_samples_equal_train<F: Float>(first: usize, tolerance: f64) {
        let n =
            crate::sample_block::WARM_UP_PUSHES + 5 * nn_core::compute::block::BLOCK_SAMPLES + 3;
        for (contiguous, cross_entropy, values) in [
            (true, false, false),
            (false, true, false),
            (true, false, true),
        ] {
            let what = format!(
                "{} contiguous {contiguous} ce {cross_entropy} values {values}",
                F::DTYPE
            );
            let x = samples::<F>(n, contiguous).mapv(|v| v / F::from_f64(255.0));
            let mut plain = network_of::<F>(first, 3, cross_entropy);
            let mut pushed = plain.clone();
            let mut stream = pushed.sample_stream();
            let mut queued = Vec::new();
            for j in 0..n {
                let column = x.slice(s![.., j..j + 1]);
                let one_hot = Array2::from_shape_fn((10, 1), |(i, _)| {
                    F::from_f64(if i == j % 10 { 1.0 } else { 0.0 })
                });
                let class = [j % 10];
                let target = || {
                    if values {
                        Target::Values(one_hot.view())
                    } else {
                        Target::Classes(&class)
                    }
                };
                plain.train(column, target()).unwrap();
                stream.push(column, target()).unwrap();
                queued.push(stream.queued());
            }
            // Queued from the first push after the warm-up, a block at a time.
            let warm = crate::sample_block::WARM_UP_PUSHES;
            assert!(queued[..warm].iter().all(|&q| q == 0), "{what}");
            let block = nn_core::compute::block::BLOCK_SAMPLES;
            let expected: Vec<usize> = (1..=block + 2).map(|i| i % block).collect();
            assert_eq!(queued[warm..warm + block + 2], expected[..], "{what}");
            assert!(stream.has_pending_update());
            stream.flush().unwrap();
            assert_eq!(stream.queued(), 0);
            drop(stream);
            assert_eq!(pushed.steps(), plain.steps(), "{what}");
            assert!(
                close(&parameters(&pushed), &parameters(&plain), tolerance),
                "{what}"
            );
        }
    }

    #[test]
    fn pushed_samples_train_as_train_does_to_rounding() {
        pushed_samples_equal_train::<f64>(16, 1e-12);
        // 784→16 in f32 (49 KB) takes no blocks (see `MIN_BLOCK_WEIGHT_BYTES`).
        pushed_samples_equal_train::<f32>(32, 1e-4);
    }

    #[test]
    fn a_first_layer_that_fits_in_l1_takes_no_blocks() {
        let warm = crate::sample_block::WARM_UP_PUSHES;
        let x = samples::<f32>(warm + 10, true);
        let mut plain = network::<f32>(4, false);
        let mut stream = SampleStream::new(plain.clone());
        for j in 0..warm + 10 {
            let column = x.slice(s![.., j..j + 1]);
            plain.train(column, Target::Classes(&[j % 10])).unwrap();
            stream.push(column, Target::Classes(&[j % 10])).unwrap();
            assert_eq!(stream.queued(), 0);
        }
        assert_eq!(parameters(&stream.into_inner()), parameters(&plain));
    }

    #[test]
    fn reaching_the_network_trains_the_queue_and_the_warm_up_starts_again() {
        let warm = crate::sample_block::WARM_UP_PUSHES;
        let x = samples::<f64>(warm + 10, true).mapv(|v| v / 255.0);
        let mut plain = network::<f64>(5, false);
        let mut stream = SampleStream::new(plain.clone());
        for j in 0..warm + 3 {
            let column = x.slice(s![.., j..j + 1]);
            plain.train(column, Target::Classes(&[j % 10])).unwrap();
            stream.push(column, Target::Classes(&[j % 10])).unwrap();
        }
        assert_eq!(stream.queued(), 3);
        assert!(close(
            &parameters(stream.network()),
            &parameters(&plain),
            1e-12
        ));
        assert_eq!(stream.queued(), 0);
        assert!(!stream.has_pending_update());
        // Warming up again: trained at once, exactly as `train`.
        let column = x.slice(s![.., warm + 5..warm + 6]);
        stream.push(column, Target::Classes(&[1])).unwrap();
        assert_eq!(stream.queued(), 0);
        // A train after pushes trains the queue first.
        let owned = stream.into_inner();
        assert_eq!(owned.steps(), plain.steps() + 1);
    }

    /// A step that diverges in a block changes nothing: the steps before it are kept, the
    /// samples after it dropped, and the error comes from the push that trained the block,
    /// or from the next call after the network was reached.
    #[test]
    fn a_diverging_queued_step_is_an_error_and_the_steps_before_it_are_kept() {
        let warm = crate::sample_block::WARM_UP_PUSHES;
        let x = samples::<f64>(warm + 12, true).mapv(|v| v / 255.0);
        let infinite = Array2::from_elem((10, 1), f64::MAX);
        for reached in [false, true] {
            let mut plain = network::<f64>(9, false);
            let mut stream = SampleStream::new(plain.clone());
            for j in 0..warm + 2 {
                let column = x.slice(s![.., j..j + 1]);
                plain.train(column, Target::Classes(&[j % 10])).unwrap();
                stream.push(column, Target::Classes(&[j % 10])).unwrap();
            }
            // The third sample of the block has a target whose loss overflows.
            let column = x.slice(s![.., warm + 2..warm + 3]);
            assert!(plain
                .train(column, Target::Values(infinite.view()))
                .is_err());
            stream
                .push(column, Target::Values(infinite.view()))
                .unwrap();
            let column = x.slice(s![.., warm + 3..warm + 4]);
            stream.push(column, Target::Classes(&[0])).unwrap();
            assert_eq!(stream.queued(), 4);
            let error = if reached {
                let _ = stream.network();
                stream.push(column, Target::Classes(&[0])).unwrap_err()
            } else {
                // The push that fills the block trains it.
                let block = nn_core::compute::block::BLOCK_SAMPLES;
                for j in warm + 4..warm + block - 1 {
                    let column = x.slice(s![.., j..j + 1]);
                    stream.push(column, Target::Classes(&[0])).unwrap();
                }
                let column = x.slice(s![.., warm + block - 1..warm + block]);
                stream.push(column, Target::Classes(&[0])).unwrap_err()
            };
            assert!(
                matches!(error, Error::Diverged { step, .. } if step == (warm + 2) as u64),
                "{error}"
            );
            assert_eq!(stream.queued(), 0);
            let owned = stream.into_inner();
            assert_eq!(owned.steps(), plain.steps(), "reached {reached}");
            assert!(close(&parameters(&owned), &parameters(&plain), 1e-12));
        }
    }

    /// A step the bounds cannot prove finite leaves the block: it and the rest of the
    /// block are trained by `train`, bit for bit here since no step was blocked.
    #[test]
    fn a_step_not_provably_finite_is_trained_by_train() {
        let warm = crate::sample_block::WARM_UP_PUSHES;
        let mut x = samples::<f64>(warm + 20, true).mapv(|v| v / 255.0);
        x.row_mut(0).fill(0.0);
        let mut plain = network::<f64>(2, false);
        // A weight that no sample reaches, past what the bounds allow.
        plain.parameters_mut(0).unwrap().0[[0, 0]] = 0.6 * f64::MAX;
        let mut stream = SampleStream::new(plain.clone());
        for j in 0..warm + 20 {
            let column = x.slice(s![.., j..j + 1]);
            plain.train(column, Target::Classes(&[j % 10])).unwrap();
            stream.push(column, Target::Classes(&[j % 10])).unwrap();
        }
        let owned = stream.into_inner();
        assert_eq!(owned.steps(), plain.steps());
        assert_eq!(parameters(&owned), parameters(&plain));
    }

    /// A push the blocks do not take (a batch of two samples) finds the blocks holding
    /// updates even with nothing queued (a block just trained), applies them first, and
    /// is then `train`'s step.
    #[test]
    fn a_batch_pushed_after_a_block_sees_its_updates() {
        let warm = crate::sample_block::WARM_UP_PUSHES;
        let block = nn_core::compute::block::BLOCK_SAMPLES;
        let x = samples::<f64>(warm + block + 2, true).mapv(|v| v / 255.0);
        let mut plain = network::<f64>(8, false);
        let mut stream = SampleStream::new(plain.clone());
        for j in 0..warm + block {
            let column = x.slice(s![.., j..j + 1]);
            plain.train(column, Target::Classes(&[j % 10])).unwrap();
            stream.push(column, Target::Classes(&[j % 10])).unwrap();
        }
        assert_eq!(stream.queued(), 0);
        assert!(
            stream.has_pending_update(),
            "the block's updates wait in W_0ᵀ"
        );
        let batch = x.slice(s![.., warm + block..warm + block + 2]);
        plain.train(batch, Target::Classes(&[1, 2])).unwrap();
        stream.push(batch, Target::Classes(&[1, 2])).unwrap();
        assert_eq!(stream.queued(), 0);
        let pushed = stream.into_inner();
        assert_eq!(pushed.steps(), plain.steps());
        assert!(close(&parameters(&pushed), &parameters(&plain), 1e-12));
    }
}
