//! [`Dataset`]: labelled samples, one per column.

use std::ops::{Bound, RangeBounds};

use ndarray::{s, Array2, ArrayView2, ShapeBuilder};
use nn_core::{tensor, Error, Float, Result, Samples, Target};
use rand::seq::SliceRandom;
use rand::Rng;

use crate::batches::Batches;

/// Samples with their targets: an input matrix with one sample per column, and either
/// the class of each sample (classification) or a column of values per sample
/// (regression).
///
/// The fields are private so that they always agree: there is one target per column,
/// and every label is below `classes`.
///
/// # Shapes
/// `inputs` is `(features, n)`: sample `j` is column `j`, the article's `(ins, 1)` vector
/// (784 pixels for MNIST). Regression values are `(outs, n)`; [`one_hot`](Self::one_hot)
/// is `(classes, n)`.
///
/// The loaders of this crate store `inputs` column-major (each sample contiguous in
/// memory), which makes gathering a shuffled batch a sequence of plain copies; any layout
/// works, since everything goes through ndarray views.
///
/// # Example
/// ```
/// use ndarray::array;
/// use nn_core::Target;
/// use nn_data::Dataset;
///
/// // Classification: three samples (columns) of two features, with named classes.
/// let flowers = Dataset::new(array![[5.1, 7.0, 6.3], [3.5, 3.2, 3.3]], vec![0, 1, 2], 3)?
///     .with_class_names(vec!["setosa".into(), "versicolor".into(), "virginica".into()])?;
/// assert_eq!(flowers.class_names().unwrap()[flowers.label(2).unwrap()], "virginica");
///
/// // Regression: one value per sample, a (1, n) row.
/// let prices = Dataset::regression(array![[50.0, 80.0, 120.0]], array![[1.5, 2.4, 3.6]])?;
/// assert!(prices.is_regression());
/// assert!(matches!(prices.samples()?.targets(), Target::Values(v) if v.dim() == (1, 3)));
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset<F: Float> {
    inputs: Array2<F>,
    targets: Targets<F>,
}

/// What a [`Dataset`] predicts.
#[derive(Clone, Debug, PartialEq)]
enum Targets<F> {
    /// One class per sample, each below `classes`, maybe with their names.
    Classes {
        labels: Vec<usize>,
        classes: usize,
        names: Option<Vec<String>>,
    },
    /// One column of values per sample: `(outs, n)`.
    Values(Array2<F>),
}

impl<F: Float> Dataset<F> {
    /// Builds a dataset from an input matrix, one label per column, and the number of
    /// classes.
    ///
    /// # Shapes
    /// `inputs` is `(features, n)` and `labels` has length `n`.
    ///
    /// # Errors
    /// - [`Error::InvalidHyperparameter`] if `classes` is 0;
    /// - [`Error::ShapeMismatch`] (`what` = `"labels"`, shapes `(1, len)`) if the number of
    ///   labels differs from the number of columns;
    /// - [`Error::ClassOutOfRange`] for the first label that is not below `classes`.
    pub fn new(inputs: Array2<F>, labels: Vec<usize>, classes: usize) -> Result<Self> {
        check_labels(inputs.ncols(), &labels, classes)?;
        Ok(Dataset {
            inputs,
            targets: classes_of(labels, classes),
        })
    }

    /// Builds a regression dataset: each sample's target is a column of values, e.g. a
    /// price, or several quantities at once.
    ///
    /// # Shapes
    /// `inputs` is `(features, n)` and `values` is `(outs, n)`: one column per sample.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] (`what` = `"values"`) if `values` does not have one column
    /// per sample (the message says so when its transpose would fit), or no row.
    pub fn regression(inputs: Array2<F>, values: Array2<F>) -> Result<Self> {
        let n = inputs.ncols();
        if values.ncols() != n || values.nrows() == 0 {
            // Values given one sample per row are (n, outs): say the transpose would fit.
            let outs = if values.nrows() == n {
                values.ncols()
            } else {
                values.nrows()
            };
            return Err(Error::ShapeMismatch {
                what: "values".into(),
                expected: (outs.max(1), n),
                actual: values.dim(),
            });
        }
        Ok(Dataset {
            inputs,
            targets: Targets::Values(values),
        })
    }

    /// The same dataset with its classes named: `names[c]` is the name of class `c`, as a
    /// table's string labels give them. A network trained on it keeps them
    /// (`NeuralNetwork::set_class_names`) and saves them in its model file.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] (`what` = `"class names"`) unless there is one name per
    /// class; [`Error::NotApplicable`] for a regression dataset, which has no classes.
    pub fn with_class_names(mut self, names: Vec<String>) -> Result<Self> {
        match &mut self.targets {
            Targets::Classes {
                classes,
                names: slot,
                ..
            } => {
                if names.len() != *classes {
                    return Err(Error::ShapeMismatch {
                        what: "class names".into(),
                        expected: (*classes, 1),
                        actual: (names.len(), 1),
                    });
                }
                *slot = Some(names);
                Ok(self)
            }
            Targets::Values(_) => Err(Error::NotApplicable {
                operation: "with_class_names",
                reason: "a regression dataset has values, not classes to name".into(),
            }),
        }
    }

    /// Builds a dataset from raw bytes (pixels in `0..=255`), converting each byte to `F`
    /// unchanged: scale afterwards with [`scaled`](Self::scaled) if needed.
    ///
    /// # Shapes
    /// `pixels` holds the `features` bytes of sample 0, then those of sample 1, and so on:
    /// `labels.len()` samples, `features * labels.len()` bytes. The result's inputs are
    /// `(features, labels.len())`, stored column-major.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] (`what` = `"pixels"`, shapes `(features * n, 1)`) if
    /// `pixels` does not hold exactly `features` bytes per label; otherwise as
    /// [`new`](Self::new).
    pub fn from_bytes(
        features: usize,
        pixels: &[u8],
        labels: Vec<usize>,
        classes: usize,
    ) -> Result<Self> {
        let n = labels.len();
        let expected = features.checked_mul(n);
        if expected != Some(pixels.len()) {
            return Err(Error::ShapeMismatch {
                what: "pixels".into(),
                expected: (expected.unwrap_or(usize::MAX), 1),
                actual: (pixels.len(), 1),
            });
        }
        check_labels(n, &labels, classes)?;
        // Through `try_vec`: a size the allocator refuses is an error, and a large data
        // set goes on huge pages where the kernel offers them (a pass over it then costs
        // fewer address-translation misses).
        let mut values = tensor::try_vec(pixels.len()).ok_or_else(|| Error::TooLarge {
            what: "pixels".into(),
            rows: features,
            columns: n,
        })?;
        values.extend(pixels.iter().map(|&b| F::from_f64(f64::from(b))));
        let inputs = Array2::from_shape_vec((features, n).f(), values)
            .expect("`features·n` values, checked above");
        Ok(Dataset {
            inputs,
            targets: classes_of(labels, classes),
        })
    }

    /// Number of samples (columns).
    pub fn len(&self) -> usize {
        self.inputs.ncols()
    }

    /// Whether the dataset has no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of features (rows) of each sample: 784 for MNIST.
    pub fn features(&self) -> usize {
        self.inputs.nrows()
    }

    /// Whether the targets are values (regression) rather than classes.
    pub fn is_regression(&self) -> bool {
        matches!(self.targets, Targets::Values(_))
    }

    /// Number of classes, every label being below it; 0 for a regression dataset.
    pub fn classes(&self) -> usize {
        match &self.targets {
            Targets::Classes { classes, .. } => *classes,
            Targets::Values(_) => 0,
        }
    }

    /// The names of the classes, if the dataset has them (see
    /// [`with_class_names`](Self::with_class_names)).
    pub fn class_names(&self) -> Option<&[String]> {
        match &self.targets {
            Targets::Classes { names, .. } => names.as_deref(),
            Targets::Values(_) => None,
        }
    }

    /// The input matrix, `(features, n)`.
    pub fn inputs(&self) -> &Array2<F> {
        &self.inputs
    }

    /// The targets as training reads them: [`Target::Classes`] (one label per sample) or
    /// [`Target::Values`] (`(outs, n)`).
    pub fn targets(&self) -> Target<'_, F> {
        match &self.targets {
            Targets::Classes { labels, .. } => Target::Classes(labels),
            Targets::Values(values) => Target::Values(values.view()),
        }
    }

    /// A regression dataset's values, `(outs, n)`; `None` for classes.
    pub fn values(&self) -> Option<&Array2<F>> {
        match &self.targets {
            Targets::Values(values) => Some(values),
            Targets::Classes { .. } => None,
        }
    }

    /// The samples with their targets as training's [`Samples`], e.g. for
    /// `NeuralNetwork::fit` and `NeuralNetwork::evaluate`.
    ///
    /// # Errors
    /// [`Error::EmptyBatch`] for a dataset of no sample (nothing to train on).
    pub fn samples(&self) -> Result<Samples<'_, F>> {
        Samples::new(self.inputs.view(), self.targets())
    }

    /// The class of each sample, in column order; empty for a regression dataset (see
    /// [`values`](Self::values)).
    pub fn labels(&self) -> &[usize] {
        match &self.targets {
            Targets::Classes { labels, .. } => labels,
            Targets::Values(_) => &[],
        }
    }

    /// Sample `i` as a `(features, 1)` column, or `None` if `i >= len()`.
    pub fn column(&self, i: usize) -> Option<ArrayView2<'_, F>> {
        (i < self.len()).then(|| self.inputs.slice(s![.., i..i + 1]))
    }

    /// The class of sample `i`, or `None` if `i >= len()` or the dataset is a regression
    /// one.
    pub fn label(&self, i: usize) -> Option<usize> {
        self.labels().get(i).copied()
    }

    /// Takes a classification dataset apart: `(inputs, labels, classes)`; a regression
    /// dataset gives no labels and 0 classes (see [`into_inputs_and_values`](Self::into_inputs_and_values)).
    pub fn into_parts(self) -> (Array2<F>, Vec<usize>, usize) {
        match self.targets {
            Targets::Classes {
                labels, classes, ..
            } => (self.inputs, labels, classes),
            Targets::Values(_) => (self.inputs, Vec::new(), 0),
        }
    }

    /// Takes a regression dataset apart: `(inputs, values)`; `None` values for classes.
    pub fn into_inputs_and_values(self) -> (Array2<F>, Option<Array2<F>>) {
        match self.targets {
            Targets::Values(values) => (self.inputs, Some(values)),
            Targets::Classes { .. } => (self.inputs, None),
        }
    }

    /// The dataset with every input multiplied by `factor`, e.g. `1/255` to bring pixels
    /// into `[0, 1]` as the "subtleties" article recommends.
    pub fn scaled(mut self, factor: F) -> Self {
        self.scale_inplace(factor);
        self
    }

    /// Multiplies every input by `factor`, in place.
    pub fn scale_inplace(&mut self, factor: F) {
        self.inputs.mapv_inplace(|v| v * factor);
    }

    /// The one-hot targets: a `(classes, n)` matrix with a 1 at `(labels[j], j)` and 0
    /// elsewhere, the targets of the first MNIST article's MSE training.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if `classes · n` entries cannot be addressed or allocated, as
    /// with `classes` near `usize::MAX` (which [`new`](Self::new) accepts, for labels that
    /// are arbitrary ids); [`Error::NotApplicable`] for a regression dataset.
    pub fn one_hot(&self) -> Result<Array2<F>> {
        if self.is_regression() {
            return Err(Error::NotApplicable {
                operation: "one_hot",
                reason: "a regression dataset has values, not classes to encode".into(),
            });
        }
        let mut out = tensor::try_zeros("one-hot targets", self.classes(), self.len())?;
        for (j, &class) in self.labels().iter().enumerate() {
            out[(class, j)] = F::one();
        }
        Ok(out)
    }

    /// Samples `range` (e.g. `..1000` or `1000..`), in order, as a new dataset.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] if the range does not lie within `0..len()`.
    pub fn subset(&self, range: impl RangeBounds<usize>) -> Result<Self> {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e.saturating_add(1),
            Bound::Excluded(&e) => e,
            Bound::Unbounded => self.len(),
        };
        if end > self.len() {
            return Err(Error::InvalidHyperparameter {
                name: "subset range end",
                value: end as f64,
                reason: "must not exceed the number of samples",
            });
        }
        if start > end {
            return Err(Error::InvalidHyperparameter {
                name: "subset range start",
                value: start as f64,
                reason: "must not exceed the end of the range",
            });
        }
        Ok(self.gather(start..end))
    }

    /// The first `n` samples (all of them if `n >= len()`), as a new dataset.
    pub fn first(&self, n: usize) -> Self {
        self.gather(0..n.min(self.len()))
    }

    /// Splits off `validation` samples chosen at random with `rng`; returns
    /// `(train, validation)`. Both parts keep the original order of their samples, and the
    /// same seed gives the same split.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] if `validation > len()`.
    pub fn split<R: Rng + ?Sized>(&self, validation: usize, rng: &mut R) -> Result<(Self, Self)> {
        if validation > self.len() {
            return Err(Error::InvalidHyperparameter {
                name: "validation",
                value: validation as f64,
                reason: "must not exceed the number of samples",
            });
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(rng);
        let (val, train) = order.split_at_mut(validation);
        val.sort_unstable();
        train.sort_unstable();
        Ok((
            self.gather(train.iter().copied()),
            self.gather(val.iter().copied()),
        ))
    }

    /// As [`split`](Self::split), with the validation part given as a fraction of the
    /// samples: `round(fraction * len())` of them.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] unless `0 <= fraction <= 1`.
    pub fn split_fraction<R: Rng + ?Sized>(
        &self,
        fraction: f64,
        rng: &mut R,
    ) -> Result<(Self, Self)> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(Error::InvalidHyperparameter {
                name: "validation fraction",
                value: fraction,
                reason: "must be in [0, 1]",
            });
        }
        let count = (fraction * self.len() as f64).round() as usize;
        self.split(count.min(self.len()), rng)
    }

    /// Mini-batches of `batch_size` samples in an order drawn from `rng` (a fresh
    /// permutation of all samples, so the same seed gives the same batches). Every sample
    /// appears exactly once; the last batch holds the remainder when `batch_size` does not
    /// divide `len()`. Call [`Batches::reshuffle`] for the next epoch.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] if `batch_size` is 0.
    ///
    /// # Example
    /// ```
    /// use ndarray::array;
    /// use nn_data::Dataset;
    /// use rand::{rngs::StdRng, SeedableRng};
    ///
    /// let data = Dataset::new(array![[0.0f32, 1.0, 2.0, 3.0, 4.0]], vec![0, 1, 0, 1, 0], 2)?;
    /// let mut rng = StdRng::seed_from_u64(7);
    /// let mut batches = data.batches(2, &mut rng)?;
    /// let mut seen = Vec::new();
    /// while let Some(batch) = batches.next_batch() {
    ///     assert_eq!(batch.inputs.nrows(), 1); // (features, b)
    ///     seen.extend_from_slice(batch.indices);
    /// }
    /// seen.sort();
    /// assert_eq!(seen, [0, 1, 2, 3, 4]);
    /// # Ok::<(), nn_core::Error>(())
    /// ```
    pub fn batches<R: Rng + ?Sized>(
        &self,
        batch_size: usize,
        rng: &mut R,
    ) -> Result<Batches<'_, F>> {
        Batches::shuffled(self.samples().ok(), batch_size, rng)
    }

    /// Mini-batches of `batch_size` consecutive samples, in order, for evaluation. The
    /// batches are views into the dataset: nothing is copied.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] if `batch_size` is 0.
    pub fn batches_in_order(&self, batch_size: usize) -> Result<Batches<'_, F>> {
        Batches::in_order(self.samples().ok(), batch_size)
    }

    /// A new dataset of the given samples, in the given order, stored column-major.
    fn gather(&self, indices: impl ExactSizeIterator<Item = usize> + Clone) -> Self {
        let columns = |from: &Array2<F>| {
            let mut to = Array2::zeros((from.nrows(), indices.len()).f());
            for (k, j) in indices.clone().enumerate() {
                to.column_mut(k).assign(&from.column(j));
            }
            to
        };
        let targets = match &self.targets {
            Targets::Classes {
                labels,
                classes,
                names,
            } => Targets::Classes {
                labels: indices.clone().map(|j| labels[j]).collect(),
                classes: *classes,
                names: names.clone(),
            },
            Targets::Values(values) => Targets::Values(columns(values)),
        };
        Dataset {
            inputs: columns(&self.inputs),
            targets,
        }
    }
}

/// Unnamed classes.
fn classes_of<F>(labels: Vec<usize>, classes: usize) -> Targets<F> {
    Targets::Classes {
        labels,
        classes,
        names: None,
    }
}

fn check_labels(columns: usize, labels: &[usize], classes: usize) -> Result<()> {
    if classes == 0 {
        return Err(Error::InvalidHyperparameter {
            name: "classes",
            value: 0.0,
            reason: "a dataset needs at least one class",
        });
    }
    if labels.len() != columns {
        return Err(Error::ShapeMismatch {
            what: "labels".into(),
            expected: (1, columns),
            actual: (1, labels.len()),
        });
    }
    if let Some((sample, &class)) = labels.iter().enumerate().find(|(_, &c)| c >= classes) {
        return Err(Error::ClassOutOfRange {
            sample,
            class,
            classes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// Five samples of two features: sample j is `[j, 10 j]`, with label `j % 3`.
    fn five() -> Dataset<f64> {
        let inputs =
            Array2::from_shape_fn((2, 5), |(r, j)| (j * if r == 0 { 1 } else { 10 }) as f64);
        Dataset::new(inputs, vec![0, 1, 2, 0, 1], 3).unwrap()
    }

    #[test]
    fn samples_are_the_inputs_and_labels_as_training_reads_them() {
        let d = five();
        let samples = d.samples().unwrap();
        assert_eq!(samples.len(), 5);
        assert_eq!(samples.inputs(), d.inputs());
        assert!(matches!(samples.targets(), Target::Classes(c) if c == [0, 1, 2, 0, 1]));
        // No copy: the same memory.
        assert_eq!(samples.inputs().as_ptr(), d.inputs().as_ptr());
        assert!(matches!(
            d.first(0).samples(),
            Err(Error::EmptyBatch { .. })
        ));
    }

    /// The first feature of each sample, which in `five()` is its original index.
    fn ids(d: &Dataset<f64>) -> Vec<usize> {
        d.inputs().row(0).iter().map(|&v| v as usize).collect()
    }

    #[test]
    fn new_checks_labels_against_columns_and_classes() {
        let inputs = Array2::<f32>::zeros((4, 3));
        match Dataset::new(inputs.clone(), vec![0, 1], 2) {
            Err(Error::ShapeMismatch {
                what,
                expected,
                actual,
            }) => {
                assert_eq!(what, "labels");
                assert_eq!((expected, actual), ((1, 3), (1, 2)));
            }
            other => panic!("expected ShapeMismatch, got {other:?}"),
        }
        assert!(matches!(
            Dataset::new(inputs.clone(), vec![0, 2, 1], 2),
            Err(Error::ClassOutOfRange {
                sample: 1,
                class: 2,
                classes: 2
            })
        ));
        assert!(matches!(
            Dataset::new(inputs.clone(), vec![0, 0, 0], 0),
            Err(Error::InvalidHyperparameter {
                name: "classes",
                ..
            })
        ));
        let d = Dataset::new(inputs, vec![0, 1, 1], 2).unwrap();
        assert_eq!((d.len(), d.features(), d.classes()), (3, 4, 2));
        assert!(!d.is_empty());
    }

    #[test]
    fn from_bytes_makes_one_column_per_sample() {
        let d = Dataset::<f32>::from_bytes(3, &[1, 2, 3, 4, 5, 255], vec![1, 0], 2).unwrap();
        assert_eq!(d.inputs(), &array![[1.0, 4.0], [2.0, 5.0], [3.0, 255.0]]);
        assert_eq!(d.column(1).unwrap(), array![[4.0], [5.0], [255.0]]);
        assert_eq!((d.label(1), d.label(2)), (Some(0), None));
        assert!(d.column(2).is_none());
        assert!(matches!(
            Dataset::<f32>::from_bytes(3, &[1, 2, 3, 4], vec![1, 0], 2),
            Err(Error::ShapeMismatch {
                expected: (6, 1),
                actual: (4, 1),
                ..
            })
        ));
        assert!(matches!(
            Dataset::<f32>::from_bytes(1, &[1, 2], vec![1, 5], 2),
            Err(Error::ClassOutOfRange {
                sample: 1,
                class: 5,
                ..
            })
        ));
    }

    #[test]
    fn scaling_and_one_hot() {
        let d = Dataset::<f64>::from_bytes(2, &[0, 255, 51, 102], vec![2, 0], 3).unwrap();
        let scaled = d.clone().scaled(1.0 / 255.0);
        for (&got, &want) in scaled.inputs().iter().zip(&array![[0.0, 0.2], [1.0, 0.4]]) {
            approx::assert_abs_diff_eq!(got, want, epsilon = 1e-12);
        }
        let mut inplace = d.clone();
        inplace.scale_inplace(2.0);
        assert_eq!(inplace.inputs()[(1, 0)], 510.0);
        assert_eq!(
            d.one_hot().unwrap(),
            array![[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]]
        );
    }

    #[test]
    fn subset_and_first() {
        let d = five();
        let s = d.subset(1..3).unwrap();
        assert_eq!(ids(&s), [1, 2]);
        assert_eq!(s.labels(), [1, 2]);
        assert_eq!(ids(&d.subset(3..).unwrap()), [3, 4]);
        assert_eq!(ids(&d.subset(..=1).unwrap()), [0, 1]);
        assert_eq!(d.subset(5..).unwrap().len(), 0);
        assert!(matches!(
            d.subset(..6),
            Err(Error::InvalidHyperparameter { .. })
        ));
        assert!(matches!(
            d.subset(4..6),
            Err(Error::InvalidHyperparameter { .. })
        ));
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = d.subset(3..2);
        assert!(matches!(reversed, Err(Error::InvalidHyperparameter { .. })));
        assert_eq!(ids(&d.first(2)), [0, 1]);
        assert_eq!(d.first(99), d);
        assert!(d.first(0).is_empty() && !d.is_empty());
        assert!(five_values().first(0).is_empty());
    }

    #[test]
    fn split_is_seeded_disjoint_and_complete() {
        let d = five();
        let (train, val) = d.split(2, &mut StdRng::seed_from_u64(3)).unwrap();
        let (train2, val2) = d.split(2, &mut StdRng::seed_from_u64(3)).unwrap();
        assert_eq!((&train, &val), (&train2, &val2));
        assert_eq!((train.len(), val.len()), (3, 2));
        let mut all = [ids(&train), ids(&val)].concat();
        for part in [ids(&train), ids(&val)] {
            assert!(part.windows(2).all(|w| w[0] < w[1]), "order kept: {part:?}");
        }
        all.sort();
        assert_eq!(all, [0, 1, 2, 3, 4]);
        for part in [&train, &val] {
            for (j, &id) in ids(part).iter().enumerate() {
                assert_eq!(part.labels()[j], d.labels()[id]);
                assert_eq!(part.inputs()[(1, j)], 10.0 * id as f64);
            }
        }
        let (t, v) = d
            .split_fraction(0.2, &mut StdRng::seed_from_u64(3))
            .unwrap();
        assert_eq!((t.len(), v.len()), (4, 1));
        assert!(matches!(
            d.split(6, &mut StdRng::seed_from_u64(3)),
            Err(Error::InvalidHyperparameter {
                name: "validation",
                ..
            })
        ));
        for bad in [-0.1, 1.5, f64::NAN] {
            assert!(d
                .split_fraction(bad, &mut StdRng::seed_from_u64(3))
                .is_err());
        }
    }

    /// Five samples of two features (sample j is `[j, 10 j]`) with two values each:
    /// `[j², -j]`.
    fn five_values() -> Dataset<f64> {
        let d = five();
        let values =
            Array2::from_shape_fn(
                (2, 5),
                |(r, j)| {
                    if r == 0 {
                        (j * j) as f64
                    } else {
                        -(j as f64)
                    }
                },
            );
        Dataset::regression(d.inputs().clone(), values).unwrap()
    }

    /// Each sample's values agree with its inputs, wherever it went.
    fn assert_values_follow(d: &Dataset<f64>) {
        let values = d.values().expect("a regression dataset");
        for (j, id) in ids(d).into_iter().enumerate() {
            assert_eq!(values[(0, j)], (id * id) as f64);
            assert_eq!(values[(1, j)], -(id as f64));
        }
    }

    #[test]
    fn a_regression_dataset_keeps_each_samples_values_through_split_subset_and_batches() {
        let d = five_values();
        assert!(d.is_regression());
        assert_eq!(
            (d.len(), d.classes(), d.labels(), d.label(0)),
            (5, 0, &[][..], None)
        );
        assert!(d.class_names().is_none());
        assert!(
            matches!(d.samples().unwrap().targets(), Target::Values(v) if v == d.values().unwrap())
        );
        assert_values_follow(&d);
        assert_values_follow(&d.subset(1..4).unwrap());
        assert_eq!(ids(&d.first(2)), [0, 1]);
        assert_values_follow(&d.first(2));
        let (train, val) = d.split(2, &mut StdRng::seed_from_u64(3)).unwrap();
        assert_eq!((train.len(), val.len()), (3, 2));
        assert_values_follow(&train);
        assert_values_follow(&val);
        // Shuffled batches gather the values with their samples.
        let mut batches = d.batches(2, &mut StdRng::seed_from_u64(4)).unwrap();
        let mut seen = 0;
        while let Some(batch) = batches.next_batch() {
            let Target::Values(v) = batch.targets else {
                panic!("values expected")
            };
            assert!(batch.labels.is_empty());
            for (k, &id) in batch.indices.iter().enumerate() {
                assert_eq!(batch.inputs[(0, k)], id as f64);
                assert_eq!((v[(0, k)], v[(1, k)]), ((id * id) as f64, -(id as f64)));
                seen += 1;
            }
        }
        assert_eq!(seen, 5);
        let (inputs, values) = d.clone().into_inputs_and_values();
        assert_eq!(
            (inputs.dim(), values.map(|v| v.dim())),
            ((2, 5), Some((2, 5)))
        );
        assert_eq!(d.into_parts().1, Vec::<usize>::new());
        assert_eq!(five().into_inputs_and_values().1, None);
    }

    #[test]
    fn regression_values_must_have_a_column_per_sample() {
        let inputs = Array2::<f32>::zeros((3, 4));
        // Values as rows (4 samples × 1 value): the message says the transpose would fit.
        match Dataset::regression(inputs.clone(), Array2::zeros((4, 1))) {
            Err(
                e @ Error::ShapeMismatch {
                    expected: (1, 4),
                    actual: (4, 1),
                    ..
                },
            ) => {
                assert!(e.to_string().contains("transpose"), "{e}");
            }
            other => panic!("expected ShapeMismatch, got {other:?}"),
        }
        assert!(matches!(
            Dataset::regression(inputs.clone(), Array2::zeros((2, 3))),
            Err(Error::ShapeMismatch {
                expected: (2, 4),
                actual: (2, 3),
                ..
            })
        ));
        assert!(matches!(
            Dataset::regression(inputs.clone(), Array2::zeros((0, 4))),
            Err(Error::ShapeMismatch {
                expected: (1, 4),
                actual: (0, 4),
                ..
            })
        ));
        let d = Dataset::regression(inputs, Array2::zeros((2, 4))).unwrap();
        assert!(matches!(
            d.one_hot(),
            Err(Error::NotApplicable {
                operation: "one_hot",
                ..
            })
        ));
        assert!(matches!(
            d.with_class_names(vec!["a".into()]),
            Err(Error::NotApplicable { .. })
        ));
    }

    #[test]
    fn class_names_are_one_per_class_and_survive_a_split() {
        let names: Vec<String> = ["zero", "one", "two"].map(String::from).to_vec();
        assert!(matches!(
            five().with_class_names(names[..2].to_vec()),
            Err(Error::ShapeMismatch {
                expected: (3, 1),
                actual: (2, 1),
                ..
            })
        ));
        let d = five().with_class_names(names.clone()).unwrap();
        assert_eq!(d.class_names(), Some(names.as_slice()));
        let (train, val) = d.split(2, &mut StdRng::seed_from_u64(1)).unwrap();
        assert_eq!(train.class_names(), Some(names.as_slice()));
        assert_eq!(val.class_names(), Some(names.as_slice()));
        assert!(five().class_names().is_none());
    }
}
