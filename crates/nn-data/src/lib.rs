//! Data for `nn`: the MNIST file formats, NumPy's `.npy`/`.npz`, CSV/TSV tables of numbers,
//! labelled datasets, and mini-batches.
//!
//! # Design
//!
//! The article series reads MNIST from CSV files, one `label,p1,...,p784` line per image;
//! the standard distribution (and Fashion-MNIST's) is the IDX format, big-endian
//! dimensions followed by raw bytes, usually gzip-compressed. This crate reads both:
//! [`read_idx`]/[`parse_idx`] (with [`read_images`] and [`read_labels`]) and
//! [`read_csv`]/[`parse_csv`]. [`load_mnist_dir`] finds whichever files a directory holds
//! and returns the training and test sets. Arrays from Python come in NumPy's own files:
//! [`read_npy_matrix`], [`read_npy_labels`] and [`Npz`] for `.npz` archives.
//!
//! Other data sets come as tables: [`read_table`]/[`parse_table`] read a CSV or TSV file
//! of numbers, with or without a header, into a [`Table`] of features and targets — class
//! names (integers or text, kept by name) or one or several regression values — chosen by
//! column name or index with [`TableOptions`]. The MNIST CSV reader stays the fast path
//! for the article series' files.
//!
//! The readers never trust a file: every malformation is an [`Error`] that names the file
//! and the byte offset (IDX, counted in the decompressed stream) or the line (CSV, and the
//! column for a bad cell of a table), and a header cannot make the reader allocate more
//! memory than the file really holds data for.
//!
//! A [`Dataset`] keeps the article's convention — a sample is a column — so its inputs are
//! a `(features, n)` matrix, with one label per column below a number of classes. It can
//! be scaled, split, cut and one-hot encoded. It goes into training as
//! [`Samples`] ([`Dataset::samples`], for `NeuralNetwork::fit` and
//! `evaluate`), and it hands out mini-batches for loops of one's own:
//! [`Dataset::batches`] shuffles with the caller's generator (the same seed gives the same
//! batches) and gathers each batch, through the same [`Gatherer`](nn_core::Gatherer) as
//! `fit`, into buffers that are reused for the whole epoch.
//!
//! # Example
//!
//! ```
//! use nn_data::{parse_idx, Dataset};
//! use rand::{rngs::StdRng, SeedableRng};
//!
//! // Three 2x2 "images" in IDX form: magic 0x00000803 (unsigned bytes, 3 dimensions),
//! // dimensions 3, 2, 2, then 12 pixels.
//! let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2];
//! bytes.extend([0, 51, 102, 255, 10, 20, 30, 40, 255, 255, 0, 0]);
//! let images = parse_idx(&bytes[..], "images")?;
//! assert_eq!(images.dims, [3, 2, 2]);
//!
//! // One column of 4 pixels per image, scaled from 0..=255 to [0, 1].
//! let data = Dataset::<f32>::from_bytes(4, &images.data, vec![0, 1, 1], 2)?.scaled(1.0 / 255.0);
//! assert_eq!(data.inputs().dim(), (4, 3));
//! assert_eq!(data.column(0).unwrap()[(3, 0)], 1.0);
//!
//! // Two mini-batches per epoch, in an order drawn from a seeded generator.
//! let mut rng = StdRng::seed_from_u64(0);
//! let mut batches = data.batches(2, &mut rng)?;
//! let mut sizes = Vec::new();
//! while let Some(batch) = batches.next_batch() {
//!     assert_eq!(batch.inputs.nrows(), 4);
//!     sizes.push(batch.labels.len());
//! }
//! assert_eq!(sizes, [2, 1]);
//! # Ok::<(), nn_core::Error>(())
//! ```
//!
//! Loading the real data set is one call (`no_run` here because it needs the files):
//!
//! ```no_run
//! let (train, test) = nn_data::load_mnist_dir::<f32>("/usr/share/datasets/fashion-mnist")?;
//! assert_eq!(train.inputs().dim(), (784, 60000));
//! assert_eq!(test.len(), 10000);
//! # Ok::<(), nn_core::Error>(())
//! ```
#![deny(missing_docs)]

mod batches;
mod csv;
mod dataset;
mod idx;
mod mnist;
mod npy;
mod table;
#[cfg(test)]
mod test_support;

pub use batches::{Batch, Batches};
pub use csv::{parse_csv, read_csv, CsvData};
pub use dataset::Dataset;
pub use idx::{parse_idx, read_idx, read_images, read_labels, IdxArray, IDX_UNSIGNED_BYTE};
pub use mnist::{
    load_csv, load_idx, load_mnist_dir, MNIST_CLASSES, MNIST_CSV_FILES, MNIST_IDX_FILES,
};
#[doc(no_inline)]
pub use nn_core::ndarray;
/// Re-exported from `nn_core`, so that users (and the links of these docs, which then resolve
/// within this crate whatever order the crates are documented in) need not name that crate.
pub use nn_core::{Error, Result, Samples, Target};
pub use npy::{parse_npy_labels, parse_npy_matrix, read_npy_labels, read_npy_matrix, Npz};
pub use table::{
    parse_table, read_table, Column, Header, Table, TableOptions, TableTargets, TargetKind,
};
