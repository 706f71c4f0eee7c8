//! The error type shared by every crate of `nn`.

use std::path::PathBuf;

/// What went wrong, and where.
///
/// Each variant carries the facts needed to find the problem: a layer index, the expected
/// and actual shapes, a file and a byte offset or line. Shapes are `(rows, columns)`; in
/// `nn` a batch has one column per sample, so `columns` is the batch size.
///
/// The enum is `#[non_exhaustive]`: match it with a wildcard arm, because new kinds of
/// failure may be added without a breaking release.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A network was built from an empty list of layers.
    #[error("a network needs at least one layer, got none")]
    EmptyNetwork,

    /// A layer was asked to have zero inputs or zero outputs.
    #[error(
        "layer {index} has a zero size: {ins} inputs and {outs} outputs (both must be at least 1)"
    )]
    ZeroSizedLayer {
        /// Index of the layer in the network (0 for a layer built on its own).
        index: usize,
        /// Number of inputs requested.
        ins: usize,
        /// Number of outputs requested.
        outs: usize,
    },

    /// Two consecutive layers do not fit: `outs` of layer `index` differs from `ins` of
    /// layer `index + 1`.
    #[error("layers {index} and {} do not fit: layer {index} has {outs} outputs but layer {} takes {ins} inputs", index + 1, index + 1)]
    LayerMismatch {
        /// Index of the first layer of the pair.
        index: usize,
        /// Number of outputs of layer `index`.
        outs: usize,
        /// Number of inputs of layer `index + 1`.
        ins: usize,
    },

    /// An array given to a function does not have the shape the function needs.
    #[error(
        "{what} has shape {actual:?}, expected {expected:?}{}",
        transpose_hint(expected, actual)
    )]
    ShapeMismatch {
        /// What the array is, e.g. `"input"`, `"target"`, `"weights of layer 2"`.
        what: String,
        /// The shape that was needed, `(rows, columns)`.
        expected: (usize, usize),
        /// The shape that was given.
        actual: (usize, usize),
    },

    /// A batch with no samples (zero columns) was given.
    #[error("{what} is an empty batch (0 samples); at least one column is needed")]
    EmptyBatch {
        /// What the batch is, e.g. `"input"`.
        what: String,
    },

    /// A class index is not smaller than the number of outputs.
    #[error(
        "sample {sample} has class {class}, but there are only {classes} classes (0..{classes})"
    )]
    ClassOutOfRange {
        /// Index of the sample (column) in the batch.
        sample: usize,
        /// The class index given.
        class: usize,
        /// The number of classes (outputs).
        classes: usize,
    },

    /// An input array holds NaN or an infinity.
    #[error("{what} holds the non-finite value {value} at row {row}, column {column}")]
    NonFiniteInput {
        /// What the array is, e.g. `"input"`, `"target"`, `"weights of layer 0"`.
        what: String,
        /// Row of the first non-finite entry.
        row: usize,
        /// Column (sample) of the first non-finite entry.
        column: usize,
        /// The entry itself (NaN, `inf` or `-inf`).
        value: f64,
    },

    /// A hyperparameter (learning rate, momentum, LeakyReLU's alpha, …) is out of its range.
    #[error("{name} = {value} is invalid: {reason}")]
    InvalidHyperparameter {
        /// The parameter's name, as the public API spells it.
        name: &'static str,
        /// The value given.
        value: f64,
        /// What the valid range is.
        reason: &'static str,
    },

    /// Training produced a non-finite loss or gradient; the update was not applied, so the
    /// parameters keep their last finite values.
    #[error("training diverged at step {step}: {what} is not finite ({value}); the update was not applied")]
    Diverged {
        /// Number of training steps taken before the failing one (0-based index of the step).
        step: u64,
        /// What was not finite, e.g. `"the loss"`, `"the weight gradient of layer 1"`.
        what: String,
        /// The offending value.
        value: f64,
    },

    /// Inference produced a non-finite value: layer `layer` turned finite inputs into NaN or
    /// an infinity (its weights, or the values reaching it, are too large for the float
    /// type).
    #[error("layer {layer} produced the non-finite value {value} at row {row}, column {column} from finite inputs")]
    NonFiniteOutput {
        /// Index of the first layer whose output is not finite.
        layer: usize,
        /// Row (output unit) of the first non-finite entry.
        row: usize,
        /// Column (sample) of the first non-finite entry.
        column: usize,
        /// The entry itself (NaN, `inf` or `-inf`).
        value: f64,
    },

    /// A loss came out NaN or infinite although its values and target are finite: they are
    /// too large for the float type (an MSE of outputs near 1e200 in f64 overflows).
    #[error("the loss is not finite ({value}) although the values and target are: they are too large for the float type")]
    NonFiniteLoss {
        /// The loss computed.
        value: f64,
    },

    /// A target is finite but impossible for the loss, e.g. a cross-entropy target column
    /// that is not a probability distribution.
    #[error("target column {column} is invalid: {reason}")]
    InvalidTarget {
        /// Column (sample) of the offending target.
        column: usize,
        /// What is wrong with it, with the offending value.
        reason: String,
    },

    /// A size given by the caller (a layer's inputs and outputs, a batch, a data set) needs
    /// more memory than the address space or the allocator can give.
    #[error("{what} of {rows}×{columns} entries is too large to allocate")]
    TooLarge {
        /// What was to be allocated, e.g. `"weights of layer 0"`.
        what: String,
        /// Rows requested.
        rows: usize,
        /// Columns requested.
        columns: usize,
    },

    /// A name in a model file or a command line does not denote a known activation or loss.
    #[error("unknown {kind} {name:?}")]
    Unknown {
        /// `"activation"` or `"loss"`.
        kind: &'static str,
        /// The name that was not recognised.
        name: String,
    },

    /// An operation that does not apply to what it was asked of, such as one-hot
    /// encoding a regression dataset's values or naming the predictions of a network
    /// without class names.
    #[error("{operation} does not apply: {reason}")]
    NotApplicable {
        /// What was asked, e.g. `"one_hot"`.
        operation: &'static str,
        /// Why it does not apply.
        reason: String,
    },

    /// An I/O operation on a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A file's contents are not in the expected format.
    #[error("{}: at byte {offset}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// Byte offset (in the decompressed stream, for gzip files) where the problem is.
        offset: u64,
        /// What is wrong.
        message: String,
    },

    /// A line of a text file (CSV) is malformed.
    #[error("{}: line {line}: {message}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// `Result` with [`Error`] as its error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The end of a [`Error::ShapeMismatch`] message when the array given is the transpose of
/// the one needed: most often samples given as rows, where `nn` takes them as columns.
fn transpose_hint(expected: &(usize, usize), actual: &(usize, usize)) -> &'static str {
    if *actual == (expected.1, expected.0) && expected.0 != expected.1 {
        "; its transpose would fit (nn takes one sample per column: give rows through \
         Samples::from_rows, or transpose with .t())"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_place_of_the_problem() {
        let e = Error::LayerMismatch {
            index: 1,
            outs: 4,
            ins: 3,
        };
        assert_eq!(
            e.to_string(),
            "layers 1 and 2 do not fit: layer 1 has 4 outputs but layer 2 takes 3 inputs"
        );
        let e = Error::ShapeMismatch {
            what: "input".into(),
            expected: (784, 1),
            actual: (783, 1),
        };
        assert_eq!(e.to_string(), "input has shape (783, 1), expected (784, 1)");
        // Samples as rows: the message says the transpose would fit.
        let e = Error::ShapeMismatch {
            what: "input".into(),
            expected: (784, 5),
            actual: (5, 784),
        };
        assert_eq!(
            e.to_string(),
            "input has shape (5, 784), expected (784, 5); its transpose would fit (nn takes \
             one sample per column: give rows through Samples::from_rows, or transpose with .t())"
        );
    }
}
