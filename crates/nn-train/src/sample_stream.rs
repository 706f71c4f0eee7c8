//! [`SampleStream`]: the series' per-sample training loop, with each step's first-layer
//! update fused into the next step's forward product.

use std::borrow::BorrowMut;
use std::marker::PhantomData;

use ndarray::ArrayView2;
use nn_core::{Float, Result, Target};

use crate::backprop::Deferred;
use crate::network::NeuralNetwork;

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
    float: PhantomData<F>,
}

impl<F: Float, N: BorrowMut<NeuralNetwork<F>>> SampleStream<F, N> {
    /// A stream that trains `network` (owned or borrowed mutably).
    pub fn new(network: N) -> Self {
        SampleStream {
            network: Some(network),
            deferred: Deferred::default(),
            float: PhantomData,
        }
    }

    /// One training step on `(x, target)`: [`NeuralNetwork::train`], with the first
    /// layer's update of a one-sample SGD step left pending until the next step (or until
    /// the network is reached).
    ///
    /// # Errors
    /// Those of [`NeuralNetwork::train`]; as there, a failed step changes no parameter
    /// (a pending update from the step before may have been applied, as it would have
    /// been by that step).
    pub fn train(&mut self, x: ArrayView2<'_, F>, target: Target<'_, F>) -> Result<F> {
        let network = self.network.as_mut().expect("the network until into_inner");
        network
            .borrow_mut()
            .train_deferring(x, target, &mut self.deferred)
    }

    /// The network, with every update applied.
    pub fn network(&mut self) -> &mut NeuralNetwork<F> {
        self.apply();
        self.network
            .as_mut()
            .expect("the network until into_inner")
            .borrow_mut()
    }

    /// Whether the last step left its first-layer update pending.
    pub fn has_pending_update(&self) -> bool {
        self.deferred.is_pending()
    }

    /// Ends the stream and gives the network (or its borrow) back, every update applied.
    pub fn into_inner(mut self) -> N {
        self.apply();
        self.network.take().expect("the network until into_inner")
    }

    /// Applies the pending update, if any.
    fn apply(&mut self) {
        if let Some(network) = self.network.as_mut() {
            network.borrow_mut().apply_deferred(&mut self.deferred);
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
        let builder = NeuralNetwork::<F>::builder(784)
            .dense_with_init(16, LeakyRelu, Init::Original)
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
}
