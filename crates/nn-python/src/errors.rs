//! nn's errors as Python exceptions, with nn's messages.
//!
//! | `nn_core::Error` | Python |
//! |---|---|
//! | shapes, sizes, classes, hyperparameters, targets, non-finite inputs, unknown names | `ValueError` |
//! | `Diverged`, `NonFiniteOutput`, `NonFiniteLoss` | `nn.DivergedError` (an `ArithmeticError`) |
//! | `Io`, `Format`, `Line` (files) | `OSError` (`FileNotFoundError`, … from the errno) |
//! | `TooLarge` | `MemoryError` |

use nn_core::Error;
use pyo3::exceptions::{PyArithmeticError, PyMemoryError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::PyErr;

pyo3::create_exception!(
    nn,
    DivergedError,
    PyArithmeticError,
    "Training or inference produced NaN or an infinity (a loss, a gradient or a layer's \
     output). Training stops before the update, so the weights keep their last finite values."
);

/// The Python exception for an nn error.
pub(crate) fn to_py(error: Error) -> PyErr {
    let message = error.to_string();
    match error {
        Error::Diverged { .. } | Error::NonFiniteOutput { .. } | Error::NonFiniteLoss { .. } => {
            DivergedError::new_err(message)
        }
        Error::Io { path, source } => match source.raw_os_error() {
            // OSError(errno, strerror, filename) becomes FileNotFoundError, PermissionError, ...
            Some(errno) => {
                PyOSError::new_err((errno, source.to_string(), path.display().to_string()))
            }
            None => PyOSError::new_err(message),
        },
        Error::Format { .. } | Error::Line { .. } => PyOSError::new_err(message),
        Error::TooLarge { .. } => PyMemoryError::new_err(message),
        _ => PyValueError::new_err(message),
    }
}

/// `Result<T, nn_core::Error>` to `PyResult<T>`.
pub(crate) trait IntoPy<T> {
    /// The value, or the Python exception for the error.
    fn py_err(self) -> pyo3::PyResult<T>;
}

impl<T> IntoPy<T> for nn_core::Result<T> {
    fn py_err(self) -> pyo3::PyResult<T> {
        self.map_err(to_py)
    }
}

/// The error of an object in use by another thread (a network training with the GIL
/// released).
pub(crate) fn busy() -> PyErr {
    PyRuntimeError::new_err(
        "the network is in use by another thread (fit or train releases the GIL); \
         wait for it to finish",
    )
}
