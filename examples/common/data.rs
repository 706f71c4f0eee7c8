//! Loading MNIST or Fashion-MNIST for the examples.

use std::path::Path;

use nn_data::{load_mnist_dir, Dataset};

/// Where Debian's package `dataset-fashion-mnist` installs Fashion-MNIST.
pub const DEFAULT_DATA: &str = "/usr/share/datasets/fashion-mnist";

/// Loads the training and test sets from `dir` (the four IDX files, plain or gzip, or the
/// series' two CSV files), keeps only the first `limit` training images if a limit is
/// given, and returns `(train, test)` with raw pixel values `0..=255`.
pub fn load(dir: &Path, limit: Option<usize>) -> Result<(Dataset<f32>, Dataset<f32>), String> {
    let (train, test) = load_mnist_dir::<f32>(dir).map_err(|e| {
        let mut message = e.to_string();
        if dir == Path::new(DEFAULT_DATA) && !dir.is_dir() {
            message.push_str(
                " (install it with `apt-get install dataset-fashion-mnist`, or pass --data DIR)",
            );
        }
        message
    })?;
    let train = match limit {
        Some(0) => return Err("--limit must be at least 1".into()),
        Some(n) => train.first(n),
        None => train,
    };
    Ok((train, test))
}
