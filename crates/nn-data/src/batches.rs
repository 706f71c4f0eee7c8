//! Mini-batches over a [`Dataset`], shuffled from a caller's generator or in order.

use ndarray::ArrayView2;
use nn_core::{Error, Float, Gatherer, Result, Samples, Target};
use rand::seq::SliceRandom;
use rand::Rng;

/// One mini-batch: `b` samples as the columns of a matrix, with their targets.
///
/// # Shapes
/// `inputs` is `(features, b)`; `indices` has length `b`, and so has `labels` for a
/// classification dataset. `b` is the batch size, except for a last, smaller batch when
/// the batch size does not divide the number of samples.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'b, F> {
    /// The samples, one per column.
    pub inputs: ArrayView2<'b, F>,
    /// The targets of the samples, as training reads them.
    pub targets: Target<'b, F>,
    /// The class of each sample; empty for a regression dataset (see `targets`).
    pub labels: &'b [usize],
    /// The position of each sample in the dataset (to look up per-sample data kept
    /// elsewhere, such as a teacher network's outputs).
    pub indices: &'b [usize],
}

/// A lending iterator over the mini-batches of a [`Dataset`](crate::Dataset), made by
/// [`Dataset::batches`](crate::Dataset::batches) or
/// [`Dataset::batches_in_order`](crate::Dataset::batches_in_order).
///
/// A shuffled batch is gathered into an input matrix and a label vector owned by the
/// iterator and reused from batch to batch, so an epoch allocates nothing after the
/// iterator is built and never copies the dataset as a whole. An in-order batch is a view
/// into the dataset itself. Because each batch borrows those buffers, this is not a
/// [`std::iter::Iterator`]; loop with `while let Some(batch) = batches.next_batch()`.
///
/// # Example
/// ```
/// use ndarray::Array2;
/// use nn_data::Dataset;
/// use rand::{rngs::StdRng, SeedableRng};
///
/// let data = Dataset::<f64>::new(Array2::zeros((3, 10)), vec![1; 10], 2)?;
/// let mut rng = StdRng::seed_from_u64(1);
/// let mut batches = data.batches(4, &mut rng)?;
/// for _epoch in 0..2 {
///     let mut sizes = Vec::new();
///     while let Some(batch) = batches.next_batch() {
///         sizes.push(batch.inputs.ncols());
///     }
///     assert_eq!(sizes, [4, 4, 2]);
///     batches.reshuffle(&mut rng); // a new order for the next epoch
/// }
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Batches<'a, F: Float> {
    /// The dataset's samples; `None` for a dataset of none, which has no batch.
    samples: Option<Samples<'a, F>>,
    batch_size: usize,
    /// The order of the samples in this epoch.
    order: Vec<usize>,
    /// Whether `order` is the identity, so that batches can be views into the dataset.
    in_order: bool,
    /// Position in `order` of the first sample of the next batch.
    next: usize,
    /// The buffers shuffled batches are gathered into; `None` until one needs them.
    gatherer: Option<Gatherer<F>>,
}

impl<'a, F: Float> Batches<'a, F> {
    /// Batches of the samples in order (`samples`: those of a dataset, `None` if it has
    /// none).
    pub(crate) fn in_order(samples: Option<Samples<'a, F>>, batch_size: usize) -> Result<Self> {
        check_batch_size(batch_size)?;
        Ok(Batches {
            samples,
            batch_size,
            order: (0..samples.map_or(0, |s| s.len())).collect(),
            in_order: true,
            next: 0,
            gatherer: None,
        })
    }

    /// Batches of the samples in an order drawn from `rng`.
    pub(crate) fn shuffled<R: Rng + ?Sized>(
        samples: Option<Samples<'a, F>>,
        batch_size: usize,
        rng: &mut R,
    ) -> Result<Self> {
        let mut batches = Self::in_order(samples, batch_size)?;
        batches.reshuffle(rng);
        Ok(batches)
    }

    /// The next batch of this epoch, or `None` once every sample has been given.
    pub fn next_batch(&mut self) -> Option<Batch<'_, F>> {
        let n = self.order.len();
        if self.next >= n {
            return None;
        }
        let start = self.next;
        let end = start + self.batch_size.min(n - start);
        self.next = end;
        let indices = &self.order[start..end];
        let samples = self
            .samples
            .as_ref()
            .expect("a batch exists only for some samples");
        if self.in_order {
            let part = samples.reborrow().range(start, end);
            return Some(batch(part.expect("start < end ≤ n"), indices));
        }
        let gatherer = self.gatherer.as_mut().expect("reshuffle made the gatherer");
        let gathered = gatherer.gather(*samples, indices);
        Some(batch(
            gathered.expect("indices from the order, at most a batch"),
            indices,
        ))
    }

    /// Starts a new epoch with a new permutation of the samples drawn from `rng`. This
    /// also turns an in-order iterator into a shuffled one.
    pub fn reshuffle<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        self.order.shuffle(rng);
        self.next = 0;
        if self.in_order {
            self.in_order = false;
            // An empty dataset has no batch, and so nothing to gather.
            self.gatherer = (self.samples).map(|samples| Gatherer::new(samples, self.batch_size));
        }
    }

    /// Starts the epoch again, in the same order.
    pub fn restart(&mut self) {
        self.next = 0;
    }

    /// The number of samples per batch (the last batch may have fewer).
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The number of batches in an epoch: `ceil(n / batch_size)`.
    pub fn num_batches(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }

    /// The order of the samples in the current epoch (dataset positions).
    pub fn order(&self) -> &[usize] {
        &self.order
    }
}

/// A [`Batch`] of `samples` at `indices`.
fn batch<'b, F: Float>(samples: Samples<'b, F>, indices: &'b [usize]) -> Batch<'b, F> {
    let targets = samples.targets();
    Batch {
        inputs: samples.inputs(),
        targets,
        labels: match targets {
            Target::Classes(labels) => labels,
            Target::Values(_) => &[],
        },
        indices,
    }
}

fn check_batch_size(batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(Error::InvalidHyperparameter {
            name: "batch_size",
            value: 0.0,
            reason: "a batch needs at least one sample",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::allocation_count;
    use crate::Dataset;
    use ndarray::Array2;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// `n` samples of three features: sample j is `[j, j + 0.5, -j]`, with label `j % 4`.
    fn dataset(n: usize) -> Dataset<f32> {
        let inputs = Array2::from_shape_fn((3, n), |(r, j)| match r {
            0 => j as f32,
            1 => j as f32 + 0.5,
            _ => -(j as f32),
        });
        Dataset::new(inputs, (0..n).map(|j| j % 4).collect(), 4).unwrap()
    }

    /// The batches of one epoch, as (sample ids read from the inputs, labels).
    fn epoch(batches: &mut Batches<'_, f32>) -> Vec<(Vec<usize>, Vec<usize>)> {
        let mut out = Vec::new();
        while let Some(batch) = batches.next_batch() {
            assert_eq!(batch.inputs.nrows(), 3);
            assert_eq!(batch.inputs.ncols(), batch.labels.len());
            let ids: Vec<usize> = batch.inputs.row(0).iter().map(|&v| v as usize).collect();
            assert_eq!(ids, batch.indices);
            for (k, &j) in ids.iter().enumerate() {
                assert_eq!(batch.inputs[(1, k)], j as f32 + 0.5);
                assert_eq!(batch.inputs[(2, k)], -(j as f32));
                assert_eq!(batch.labels[k], j % 4);
            }
            out.push((ids, batch.labels.to_vec()));
        }
        out
    }

    #[test]
    fn a_batch_size_of_zero_is_an_error() {
        let d = dataset(3);
        let mut rng = StdRng::seed_from_u64(0);
        assert!(matches!(
            d.batches(0, &mut rng),
            Err(Error::InvalidHyperparameter {
                name: "batch_size",
                ..
            })
        ));
        assert!(d.batches_in_order(0).is_err());
    }

    #[test]
    fn the_same_seed_gives_the_same_batches_and_every_sample_once() {
        let d = dataset(23);
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut batches = d.batches(5, &mut rng).unwrap();
            assert_eq!(batches.num_batches(), 5);
            let first = epoch(&mut batches);
            batches.reshuffle(&mut rng);
            (first, epoch(&mut batches))
        };
        let (a1, a2) = run(42);
        assert_eq!((a1.clone(), a2.clone()), run(42));
        assert_ne!(a1, run(43).0);
        assert_ne!(a1, a2, "a new epoch has a new order");
        for e in [&a1, &a2] {
            let sizes: Vec<usize> = e.iter().map(|(ids, _)| ids.len()).collect();
            assert_eq!(sizes, [5, 5, 5, 5, 3]);
            let mut all: Vec<usize> = e.iter().flat_map(|(ids, _)| ids.clone()).collect();
            assert_ne!(all, (0..23).collect::<Vec<_>>(), "shuffled");
            all.sort();
            assert_eq!(all, (0..23).collect::<Vec<_>>());
        }
    }

    #[test]
    fn an_epoch_allocates_nothing_once_the_iterator_exists() {
        let d = dataset(100);
        let mut rng = StdRng::seed_from_u64(1);
        let mut batches = d.batches(16, &mut rng).unwrap();
        let (sum, allocations) = allocation_count(|| {
            let mut sum = 0.0;
            for _ in 0..3 {
                while let Some(batch) = batches.next_batch() {
                    sum += batch.inputs.sum();
                }
                batches.reshuffle(&mut rng);
            }
            sum
        });
        assert_eq!(allocations, 0);
        assert_eq!(sum, 3.0 * d.inputs().sum());
    }

    #[test]
    fn in_order_batches_are_views_in_order() {
        let d = dataset(7);
        let mut batches = d.batches_in_order(3).unwrap();
        let e = epoch(&mut batches);
        let ids: Vec<Vec<usize>> = e.into_iter().map(|(ids, _)| ids).collect();
        assert_eq!(ids, [vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
        batches.restart();
        let first = batches.next_batch().unwrap();
        assert_eq!(first.inputs.as_ptr(), d.inputs().as_ptr());
        // A batch larger than the dataset is the whole dataset.
        let mut big = d.batches_in_order(100).unwrap();
        assert_eq!(big.next_batch().unwrap().inputs, d.inputs());
        assert!(big.next_batch().is_none());
        // An empty dataset has no batch.
        let empty = d.first(0);
        assert!(empty
            .batches(4, &mut StdRng::seed_from_u64(0))
            .unwrap()
            .next_batch()
            .is_none());
    }
}
