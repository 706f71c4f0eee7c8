//! [`Samples`]: inputs paired with their targets, the one way data goes into training;
//! and [`Gatherer`], the one way a shuffled mini-batch is copied out of them.

use ndarray::{s, Array2, ArrayView2, ArrayViewMut2, ShapeBuilder};

use crate::compute::rows::on_rows;
use crate::{Error, Float, Result, Target};

/// A data set: inputs, one sample per column, and their targets.
///
/// Training (`NeuralNetwork::fit`) and evaluation take their data as `Samples`;
/// `nn_data::Dataset::samples` hands a dataset out as one.
///
/// # Shapes
/// Inside, `inputs` is `(features, n)`: one sample per column, the article's convention.
/// Data with one sample per row (NumPy's, PyTorch's and every table's convention) goes in
/// through [`Samples::from_rows`], which transposes the views without copying;
/// [`Samples::new`] (or its alias [`Samples::from_columns`]) takes columns.
#[derive(Clone, Copy, Debug)]
pub struct Samples<'a, F> {
    inputs: ArrayView2<'a, F>,
    targets: Target<'a, F>,
}

impl<'a, F: Float> Samples<'a, F> {
    /// Pairs inputs with their targets.
    ///
    /// # Errors
    /// [`Error::EmptyBatch`] for no sample, [`Error::ShapeMismatch`] if the target does not
    /// describe as many samples as `inputs` has columns.
    pub fn new(inputs: ArrayView2<'a, F>, targets: Target<'a, F>) -> Result<Self> {
        if inputs.ncols() == 0 {
            return Err(Error::EmptyBatch {
                what: "data set".into(),
            });
        }
        if targets.batch_size() != inputs.ncols() {
            return Err(Error::ShapeMismatch {
                what: "targets".into(),
                expected: (1, inputs.ncols()),
                actual: (1, targets.batch_size()),
            });
        }
        Ok(Samples { inputs, targets })
    }

    /// [`Samples::new`], named for the way round it reads its arguments: `inputs` is
    /// `(features, n)`, one sample per column, and [`Target::Values`] is `(outs, n)`.
    ///
    /// # Errors
    /// As [`Samples::new`].
    pub fn from_columns(inputs: ArrayView2<'a, F>, targets: Target<'a, F>) -> Result<Self> {
        Self::new(inputs, targets)
    }

    /// Samples given one per row, as NumPy and PyTorch hold them: `inputs` is
    /// `(n, features)` and [`Target::Values`] is `(n, outs)`; [`Target::Classes`] has one
    /// class per sample either way. The views are transposed, not copied.
    ///
    /// # Errors
    /// As [`Samples::new`].
    ///
    /// # Example
    /// ```
    /// use ndarray::array;
    /// use nn_core::{Samples, Target};
    ///
    /// // Three samples of two features, as rows.
    /// let rows = array![[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]];
    /// let data = Samples::from_rows(rows.view(), Target::Classes(&[0, 1, 1]))?;
    /// assert_eq!(data.len(), 3);
    /// assert_eq!(data.inputs().column(2), array![4.0, 5.0]); // sample 2
    /// # Ok::<(), nn_core::Error>(())
    /// ```
    pub fn from_rows(inputs: ArrayView2<'a, F>, targets: Target<'a, F>) -> Result<Self> {
        let targets = match targets {
            Target::Values(v) => Target::Values(v.reversed_axes()),
            classes => classes,
        };
        Self::new(inputs.reversed_axes(), targets)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.inputs.ncols()
    }

    /// Always false: a `Samples` holds at least one sample.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The inputs, `(features, n)`.
    pub fn inputs(&self) -> ArrayView2<'a, F> {
        self.inputs
    }

    /// The targets.
    pub fn targets(&self) -> Target<'a, F> {
        self.targets
    }

    /// The same samples, borrowed for the lifetime of `&self` (as ndarray's
    /// `ArrayView::reborrow`: views are invariant in their lifetime, so a shorter one has
    /// to be asked for).
    pub fn reborrow(&self) -> Samples<'_, F> {
        Samples {
            inputs: self.inputs.view(),
            targets: match &self.targets {
                Target::Values(v) => Target::Values(v.view()),
                Target::Classes(c) => Target::Classes(c),
            },
        }
    }

    /// Samples `start..end`, in order (views, no copy), or `None` if the range is empty
    /// or reaches past the last sample.
    pub fn range(&self, start: usize, end: usize) -> Option<Samples<'a, F>> {
        (start < end && end <= self.len()).then(|| Samples {
            inputs: self.inputs.slice_move(s![.., start..end]),
            targets: self.targets.samples(start, end),
        })
    }
}

/// Gathers the samples at given positions (a shuffled mini-batch) into buffers that it
/// keeps and reuses from batch to batch, so that an epoch allocates nothing once the
/// gatherer is built.
///
/// The buffers are column-major: each gathered sample is one contiguous copy of a column.
///
/// # Example
/// ```
/// use ndarray::array;
/// use nn_core::{Gatherer, Samples, Target};
///
/// let x = array![[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]];
/// let data = Samples::new(x.view(), Target::Classes(&[5, 6, 7]))?;
/// let mut gatherer = Gatherer::new(data, 2);
/// let batch = gatherer.gather(data, &[2, 0]).expect("two positions of the data");
/// assert_eq!(batch.inputs(), array![[2.0, 0.0], [12.0, 10.0]]);
/// assert!(matches!(batch.targets(), Target::Classes(&[7, 5])));
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Gatherer<F> {
    inputs: Array2<F>,
    classes: Vec<usize>,
    values: Array2<F>,
    threads: usize,
}

impl<F: Float> Gatherer<F> {
    /// Buffers for batches of up to `batch_size` samples of `like` (which sets the number
    /// of features, and whether targets are classes or values of how many rows).
    pub fn new(like: Samples<'_, F>, batch_size: usize) -> Self {
        let columns = batch_size.min(like.len());
        let values_rows = match like.targets() {
            Target::Values(v) => v.nrows(),
            Target::Classes(_) => 0,
        };
        Gatherer {
            inputs: Array2::zeros((like.inputs().nrows(), columns).f()),
            classes: vec![0; columns],
            values: Array2::zeros((values_rows, columns).f()),
            threads: 1,
        }
    }

    /// Copies the inputs on up to `threads` threads (1 when built; handed over by
    /// `compute::team`). A shuffled batch reads its samples from all over the data set, so
    /// its copy waits on memory more than it computes: two threads copy it in about half
    /// the time.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Copies the samples of `from` at `positions`, in that order, into the buffers and
    /// returns them as a batch; `None`, copying nothing, if `positions` is empty or
    /// longer than the gatherer's batch size, a position is past the last sample, or
    /// `from` does not have the number of features and the kind of target (and value
    /// rows) of the samples the gatherer was built for.
    pub fn gather(&mut self, from: Samples<'_, F>, positions: &[usize]) -> Option<Samples<'_, F>> {
        let m = positions.len();
        let fits = match from.targets() {
            Target::Classes(_) => self.values.nrows() == 0,
            Target::Values(v) => v.nrows() == self.values.nrows() && v.nrows() > 0,
        };
        if m == 0
            || m > self.inputs.ncols()
            || from.inputs().nrows() != self.inputs.nrows()
            || !fits
            || positions.iter().any(|&j| j >= from.len())
        {
            return None;
        }
        copy_columns(
            from.inputs(),
            positions,
            self.inputs.slice_mut(s![.., ..m]),
            self.threads,
        );
        let targets = match from.targets() {
            Target::Classes(all) => {
                for (k, &j) in positions.iter().enumerate() {
                    self.classes[k] = all[j];
                }
                Target::Classes(&self.classes[..m])
            }
            Target::Values(all) => {
                for (k, &j) in positions.iter().enumerate() {
                    self.values.column_mut(k).assign(&all.column(j));
                }
                Target::Values(self.values.slice(s![.., ..m]))
            }
        };
        Some(Samples {
            inputs: self.inputs.slice(s![.., ..m]),
            targets,
        })
    }
}

/// `to[:, k] = from[:, positions[k]]`, the columns split over up to `threads` threads
/// (`on_rows` on the transposed views) when the copy is large enough to pay for the split
/// (a batch of MNIST images is 400 KB).
fn copy_columns<F: Float>(
    from: ArrayView2<'_, F>,
    positions: &[usize],
    to: ArrayViewMut2<'_, F>,
    threads: usize,
) {
    let copy = |mut columns: ArrayViewMut2<'_, F>, first: usize| {
        let positions = &positions[first..first + columns.nrows()];
        for (k, (mut column, &j)) in columns.rows_mut().into_iter().zip(positions).enumerate() {
            // The samples are scattered over the data set: ask for the next one's
            // memory while this one is copied, so that its wait overlaps the copy.
            if let Some(&next) = positions.get(k + 1) {
                if let Some(sample) = from.column(next).as_slice() {
                    prefetch(sample);
                }
            }
            let source = from.column(j);
            match (column.as_slice_mut(), source.as_slice()) {
                (Some(to), Some(from)) => to.copy_from_slice(from),
                _ => column.assign(&source),
            }
        }
    };
    on_rows(to.reversed_axes(), threads, &copy, &|(), ()| ());
}

/// Asks the processor to bring `values` into its caches (a hint: it neither faults nor
/// changes anything; a no-op off x86-64).
fn prefetch<F>(values: &[F]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let bytes = std::mem::size_of_val(values);
        let start = values.as_ptr().cast::<i8>();
        for offset in (0..bytes).step_by(64) {
            // SAFETY: SSE is part of x86-64; a prefetch only hints and never faults, and
            // the address is inside `values` anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = values;
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn a_large_batch_gathered_on_several_threads_is_the_same() {
        let x = Array2::from_shape_fn((784, 1000).f(), |(i, j)| (i * 1000 + j) as f32);
        let classes: Vec<usize> = (0..1000).map(|j| j % 10).collect();
        let data = Samples::new(x.view(), Target::Classes(&classes)).unwrap();
        let positions: Vec<usize> = (0..200).map(|k| (k * 7919) % 1000).collect();
        let mut one = Gatherer::new(data, 200);
        let expected = one.gather(data, &positions).unwrap().inputs().to_owned();
        for (k, &j) in positions.iter().enumerate() {
            assert_eq!(expected.column(k), x.column(j));
        }
        for threads in [2, 3, 4] {
            let mut several = Gatherer::new(data, 200).with_threads(threads);
            let batch = several.gather(data, &positions).unwrap();
            assert_eq!(batch.inputs(), expected, "{threads} threads");
            assert!(matches!(batch.targets(), Target::Classes(c) if c[5] == positions[5] % 10));
        }
    }

    #[test]
    fn gathered_values_follow_the_positions_and_the_buffers_are_reused() {
        let x = array![[0.0, 1.0, 2.0, 3.0], [10.0, 11.0, 12.0, 13.0]];
        let t = array![[-0.0, -1.0, -2.0, -3.0]];
        let data = Samples::new(x.view(), Target::Values(t.view())).unwrap();
        let mut gatherer = Gatherer::new(data, 3);
        let first = gatherer.inputs.as_ptr();
        let batch = gatherer.gather(data, &[3, 1, 2]).unwrap();
        assert_eq!(batch.inputs(), array![[3.0, 1.0, 2.0], [13.0, 11.0, 12.0]]);
        let Target::Values(v) = batch.targets() else {
            panic!("values in, values out")
        };
        assert_eq!(v, array![[-3.0, -1.0, -2.0]]);
        // A shorter last batch is a slice of the same buffers.
        let batch = gatherer.gather(data, &[0]).unwrap();
        assert_eq!(batch.inputs(), array![[0.0], [10.0]]);
        assert_eq!(batch.inputs().as_ptr(), first);
        assert_eq!(batch.len(), 1);
    }

    #[test]
    fn rows_go_in_transposed_and_gather_like_columns() {
        // Samples as rows (n = 3, two features), values targets as rows (n, 1).
        let rows = array![[0.0, 10.0], [1.0, 11.0], [2.0, 12.0]];
        let t = array![[-0.0], [-1.0], [-2.0]];
        let data = Samples::from_rows(rows.view(), Target::Values(t.view())).unwrap();
        let columns = rows.t().to_owned();
        let t_columns = t.t().to_owned();
        let same = Samples::from_columns(columns.view(), Target::Values(t_columns.view())).unwrap();
        assert_eq!(data.len(), 3);
        assert_eq!(data.inputs(), same.inputs());
        assert!(matches!(data.targets(), Target::Values(v) if v == t_columns));
        // No copy: the view still reads the caller's memory.
        assert_eq!(data.inputs().as_ptr(), rows.as_ptr());
        let mut gatherer = Gatherer::new(data, 2);
        let batch = gatherer.gather(data, &[2, 0]).unwrap();
        assert_eq!(batch.inputs(), array![[2.0, 0.0], [12.0, 10.0]]);
        let Target::Values(v) = batch.targets() else {
            panic!("values in, values out")
        };
        assert_eq!(v, array![[-2.0, -0.0]]);
        // A count that differs is reported in samples, whichever way round.
        let short = array![[0.0], [1.0]];
        assert!(matches!(
            Samples::from_rows(rows.view(), Target::Values(short.view())),
            Err(Error::ShapeMismatch {
                expected: (1, 3),
                actual: (1, 2),
                ..
            })
        ));
    }

    #[test]
    fn what_does_not_fit_the_gatherer_or_the_samples_is_none_not_a_panic() {
        let x = array![[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]];
        let data = Samples::new(x.view(), Target::Classes(&[0, 1, 0])).unwrap();
        let mut gatherer = Gatherer::new(data, 2);
        for positions in [&[][..], &[0, 1, 2], &[3], &[0, 7]] {
            assert!(gatherer.gather(data, positions).is_none(), "{positions:?}");
        }
        let narrow = array![[0.0, 1.0, 2.0]];
        let other = Samples::new(narrow.view(), Target::Classes(&[0, 1, 0])).unwrap();
        assert!(
            gatherer.gather(other, &[0]).is_none(),
            "one feature, not two"
        );
        let t = array![[1.0, 2.0, 3.0]];
        let values = Samples::new(x.view(), Target::Values(t.view())).unwrap();
        assert!(
            gatherer.gather(values, &[0]).is_none(),
            "values, not classes"
        );
        assert!(
            Gatherer::new(values, 2).gather(data, &[0]).is_none(),
            "classes, not values"
        );
        assert!(gatherer.gather(data, &[2, 2]).is_some());
        for (start, end) in [(1, 1), (2, 1), (0, 4)] {
            assert!(data.range(start, end).is_none(), "{start}..{end}");
        }
    }

    #[test]
    fn a_range_is_a_view_of_its_samples() {
        let x = array![[0.0, 1.0, 2.0]];
        let data = Samples::new(x.view(), Target::Classes(&[4, 5, 6])).unwrap();
        let part = data.range(1, 3).unwrap();
        assert_eq!(part.inputs(), array![[1.0, 2.0]]);
        assert!(matches!(part.targets(), Target::Classes(&[5, 6])));
        assert_eq!(part.inputs().as_ptr(), x.column(1).as_ptr());
    }
}
