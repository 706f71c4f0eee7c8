//! Loading MNIST (or Fashion-MNIST, which has the same files and shapes) from a directory.

use std::io;
use std::path::{Path, PathBuf};

use nn_core::{Error, Float, Result};

use crate::csv::read_csv;
use crate::idx::{read_images, read_labels};
use crate::Dataset;

/// The number of classes of MNIST and Fashion-MNIST.
pub const MNIST_CLASSES: usize = 10;

/// The IDX files [`load_mnist_dir`] looks for: training images, training labels, test
/// images, test labels. Each may also end in `.gz`, or have a `.` instead of the `-`
/// before `idx` (`train-images.idx3-ubyte`).
pub const MNIST_IDX_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// The CSV files [`load_mnist_dir`] falls back to, as the article series names them:
/// training set, test set.
pub const MNIST_CSV_FILES: [&str; 2] = ["mnist_train.csv", "mnist_test.csv"];

/// Loads the training and test sets of MNIST from a directory; returns `(train, test)`.
///
/// The directory is searched for the four IDX files of [`MNIST_IDX_FILES`] (plain or
/// gzip-compressed; see there for the accepted spellings), and failing those for the two
/// CSV files of [`MNIST_CSV_FILES`]. Inputs are the raw pixel values `0..=255` converted
/// to `F`, as the first MNIST article uses them; divide by 255 with
/// [`Dataset::scaled`] if wanted. Labels are checked to be below [`MNIST_CLASSES`]. The
/// IDX training and test files are read on two threads.
///
/// # Shapes
/// Inputs are `(784, 60000)` for the training set and `(784, 10000)` for the test set of
/// MNIST; in general `(rows * columns, count)`.
///
/// # Errors
/// - [`Error::Io`] with [`io::ErrorKind::NotFound`], naming `dir` and listing the expected
///   file names, if neither the four IDX files nor the two CSV files are there;
/// - any error of [`load_idx`] or [`load_csv`];
/// - [`Error::Format`] on the test images if their size differs from the training images'.
pub fn load_mnist_dir<F: Float>(dir: impl AsRef<Path>) -> Result<(Dataset<F>, Dataset<F>)> {
    let dir = dir.as_ref();
    let idx: Vec<Option<PathBuf>> = MNIST_IDX_FILES.iter().map(|n| find_idx(dir, n)).collect();
    if let [Some(train_images), Some(train_labels), Some(test_images), Some(test_labels)] = &idx[..]
    {
        // The two splits are independent: decompress them on two threads.
        let (train, test) = std::thread::scope(|scope| {
            let train = scope.spawn(|| load_idx::<F>(train_images, train_labels));
            let test = load_idx::<F>(test_images, test_labels);
            let train = train
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (train, test)
        });
        let (train, test) = (train?, test?);
        check_same_features(&train, &test, test_images, 8)?;
        return Ok((train, test));
    }
    let csv: Vec<PathBuf> = MNIST_CSV_FILES.iter().map(|n| dir.join(n)).collect();
    if csv.iter().all(|p| p.is_file()) {
        let train = load_csv::<F>(&csv[0])?;
        let test = load_csv::<F>(&csv[1])?;
        check_same_features(&train, &test, &csv[1], 0)?;
        return Ok((train, test));
    }

    let found: Vec<String> = idx
        .iter()
        .flatten()
        .chain(csv.iter().filter(|p| p.is_file()))
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let mut message = format!(
        "no complete MNIST dataset in this directory: expected the IDX files {} (each \
         optionally ending in .gz, or spelt with '.' before idx, as train-images.idx3-ubyte), \
         or the CSV files {}",
        MNIST_IDX_FILES.join(", "),
        MNIST_CSV_FILES.join(", ")
    );
    if !dir.is_dir() {
        message.push_str("; the directory does not exist");
    } else if found.is_empty() {
        message.push_str("; none of them is there");
    } else {
        message.push_str(&format!("; found only {}", found.join(", ")));
    }
    Err(Error::Io {
        path: dir.to_path_buf(),
        source: io::Error::new(io::ErrorKind::NotFound, message),
    })
}

/// Loads one split from an IDX image file and an IDX label file (plain or gzip).
///
/// # Shapes
/// Inputs are `(rows * columns, count)`: each image, row by row, is one column.
///
/// # Errors
/// - any error of [`read_images`] and [`read_labels`];
/// - [`Error::Format`] on the label file, at offset 4 (its count), naming both files, if
///   the files hold different numbers of samples;
/// - [`Error::Format`] on the label file, at the label's byte offset, for a label that is
///   not below [`MNIST_CLASSES`].
pub fn load_idx<F: Float>(
    images: impl AsRef<Path>,
    labels: impl AsRef<Path>,
) -> Result<Dataset<F>> {
    let (images, labels_path) = (images.as_ref(), labels.as_ref());
    let (rows, cols, pixels) = read_images(images)?;
    let raw_labels = read_labels(labels_path)?;
    // `read_images` guarantees rows, cols > 0 and that they divide the pixel count.
    let features = rows * cols;
    let count = pixels.len() / features;
    if raw_labels.len() != count {
        return Err(Error::Format {
            path: labels_path.to_path_buf(),
            offset: 4,
            message: format!(
                "{} labels, but the image file {} holds {count} images",
                raw_labels.len(),
                images.display()
            ),
        });
    }
    if let Some((i, &label)) = raw_labels
        .iter()
        .enumerate()
        .find(|(_, &l)| usize::from(l) >= MNIST_CLASSES)
    {
        return Err(Error::Format {
            path: labels_path.to_path_buf(),
            offset: 8 + i as u64,
            message: format!(
                "label {label} of sample {i} is out of range: there are {MNIST_CLASSES} classes \
                 (0..{MNIST_CLASSES})"
            ),
        });
    }
    let labels = raw_labels.into_iter().map(usize::from).collect();
    Dataset::from_bytes(features, &pixels, labels, MNIST_CLASSES)
}

/// Loads one split from a CSV file of `label,p1,...,p784` lines (see [`read_csv`]).
///
/// # Shapes
/// Inputs are `(pixels per line, lines)`.
///
/// # Errors
/// Any error of [`read_csv`]; labels must be below [`MNIST_CLASSES`].
pub fn load_csv<F: Float>(path: impl AsRef<Path>) -> Result<Dataset<F>> {
    let data = read_csv(path, MNIST_CLASSES)?;
    Dataset::from_bytes(data.features, &data.pixels, data.labels, MNIST_CLASSES)
}

/// The first existing spelling of an IDX file: `-` or `.` before `idx`, plain or `.gz`.
fn find_idx(dir: &Path, name: &str) -> Option<PathBuf> {
    let dotted = name.replacen("-idx", ".idx", 1);
    [name, dotted.as_str()]
        .iter()
        .flat_map(|n| [dir.join(n), dir.join(format!("{n}.gz"))])
        .find(|p| p.is_file())
}

fn check_same_features<F: Float>(
    train: &Dataset<F>,
    test: &Dataset<F>,
    test_path: &Path,
    offset: u64,
) -> Result<()> {
    if train.features() == test.features() {
        return Ok(());
    }
    Err(Error::Format {
        path: test_path.to_path_buf(),
        offset,
        message: format!(
            "test samples have {} values each, but training samples have {}",
            test.features(),
            train.features()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{format_error, gzip, idx, line_error, TempDir};

    /// `n` 2x2 images whose pixels are `[i, i + 1, i + 2, i + 3]`, and their labels `i % 10`.
    fn images_and_labels(n: u8) -> (Vec<u8>, Vec<u8>) {
        let pixels: Vec<u8> = (0..n).flat_map(|i| [i, i + 1, i + 2, i + 3]).collect();
        let labels: Vec<u8> = (0..n).map(|i| i % 10).collect();
        (
            idx(8, &[u32::from(n), 2, 2], &pixels),
            idx(8, &[u32::from(n)], &labels),
        )
    }

    /// Writes a train set of 5 and a test set of 3 samples under the given file names.
    fn write_idx(dir: &TempDir, names: [&str; 4], zip: bool) {
        let (train_i, train_l) = images_and_labels(5);
        let (test_i, test_l) = images_and_labels(3);
        for (name, bytes) in names.iter().zip([train_i, train_l, test_i, test_l]) {
            dir.write(name, &if zip { gzip(&bytes) } else { bytes });
        }
    }

    fn check(train: &Dataset<f32>, test: &Dataset<f32>) {
        assert_eq!(train.inputs().dim(), (4, 5));
        assert_eq!(test.inputs().dim(), (4, 3));
        assert_eq!(train.labels(), [0, 1, 2, 3, 4]);
        assert_eq!(
            train.column(2).unwrap().column(0).to_vec(),
            [2.0, 3.0, 4.0, 5.0]
        );
        assert_eq!(train.classes(), 10);
    }

    #[test]
    fn loads_idx_files_under_every_accepted_spelling() {
        let dashed = MNIST_IDX_FILES;
        let gz = dashed.map(|n| format!("{n}.gz"));
        let dotted = dashed.map(|n| n.replacen("-idx", ".idx", 1));
        for (names, zip) in [
            (dashed.map(String::from), false),
            (gz, true),
            (dotted, false),
            // Content decides, not the name: plain bytes under a `.gz` name.
            (dashed.map(|n| format!("{n}.gz")), false),
        ] {
            let dir = TempDir::new();
            write_idx(&dir, names.each_ref().map(|s| s.as_str()), zip);
            let (train, test) = load_mnist_dir::<f32>(dir.path()).unwrap();
            check(&train, &test);
        }
    }

    #[test]
    fn falls_back_to_the_csv_files() {
        let dir = TempDir::new();
        dir.write(
            "mnist_train.csv",
            b"label,1x1,1x2,1x3,1x4\n0,0,1,2,3\n1,1,2,3,4\n2,2,3,4,5\n3,3,4,5,6\n4,4,5,6,7\n",
        );
        dir.write("mnist_test.csv", b"0,0,1,2,3\n1,1,2,3,4\n2,2,3,4,5\n");
        let (train, test) = load_mnist_dir::<f32>(dir.path()).unwrap();
        check(&train, &test);

        dir.write("mnist_test.csv", b"0,0,1,2,3\n10,1,2,3,4\n");
        let (path, line, message) = line_error(load_mnist_dir::<f32>(dir.path()));
        assert_eq!((path, line), (dir.path().join("mnist_test.csv"), 2));
        assert!(message.contains("label 10 is out of range"), "{message}");

        dir.write("mnist_test.csv", b"0,0,1,2\n");
        let (path, _, message) = format_error(load_mnist_dir::<f32>(dir.path()));
        assert_eq!(path, dir.path().join("mnist_test.csv"));
        assert!(
            message.contains("3 values each, but training samples have 4"),
            "{message}"
        );
    }

    #[test]
    fn a_directory_without_the_files_is_an_error_listing_them() {
        let dir = TempDir::new();
        dir.write("mnist_train.csv", b"1,2\n");
        dir.write("train-images-idx3-ubyte.gz", b"");
        for (path, tail) in [
            (
                dir.path().to_path_buf(),
                "found only train-images-idx3-ubyte.gz, mnist_train.csv",
            ),
            (dir.path().join("nowhere"), "the directory does not exist"),
        ] {
            let err = load_mnist_dir::<f64>(&path).unwrap_err();
            let shown = err.to_string();
            match err {
                Error::Io { path: p, source } => {
                    assert_eq!(p, path);
                    assert_eq!(source.kind(), io::ErrorKind::NotFound);
                }
                other => panic!("expected Error::Io, got {other:?}"),
            }
            assert!(shown.starts_with(&path.display().to_string()), "{shown}");
            for name in MNIST_IDX_FILES.iter().chain(&MNIST_CSV_FILES) {
                assert!(shown.contains(name), "{shown} lacks {name}");
            }
            assert!(shown.ends_with(tail), "{shown}");
        }
    }

    #[test]
    fn image_and_label_counts_must_agree() {
        let dir = TempDir::new();
        let (images, _) = images_and_labels(5);
        let (_, labels) = images_and_labels(4);
        let images = dir.write("images", &images);
        let labels = dir.write("labels", &gzip(&labels));
        let result = load_idx::<f32>(&images, &labels);
        let shown = result.as_ref().map(|_| ()).unwrap_err().to_string();
        let (path, offset, message) = format_error(result);
        assert_eq!((path, offset), (labels.clone(), 4));
        assert!(message.contains("4 labels"), "{message}");
        assert!(shown.contains(&labels.display().to_string()));
        assert!(shown.contains(&images.display().to_string()), "{shown}");
        assert!(shown.contains("holds 5 images"), "{shown}");
    }

    #[test]
    fn labels_must_be_below_10() {
        let dir = TempDir::new();
        let (images, _) = images_and_labels(3);
        let images = dir.write("images", &images);
        let labels = dir.write("labels", &gzip(&idx(8, &[3], &[9, 0, 10])));
        let (path, offset, message) = format_error(load_idx::<f32>(&images, &labels));
        assert_eq!((path, offset), (labels, 8 + 2));
        assert!(
            message.contains("label 10 of sample 2 is out of range"),
            "{message}"
        );
    }

    #[test]
    fn test_images_must_have_the_training_size() {
        let dir = TempDir::new();
        write_idx(&dir, MNIST_IDX_FILES, true);
        let odd = idx(8, &[3, 1, 2], &[0; 6]);
        let path = dir.write("t10k-images-idx3-ubyte", &gzip(&odd));
        let (p, offset, message) = format_error(load_mnist_dir::<f32>(dir.path()));
        assert_eq!((p, offset), (path, 8));
        assert!(
            message.contains("2 values each, but training samples have 4"),
            "{message}"
        );
    }
}
