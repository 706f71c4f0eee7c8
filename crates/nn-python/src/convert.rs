//! NumPy arrays (of any real or integer dtype), Python numbers and lists, into the arrays
//! and targets of the Rust engine, and back.
//!
//! Inputs are copied into a buffer of the network's float type (kept from call to call, so
//! that the series' per-sample loop allocates nothing): the copy converts the dtype (the
//! series passes raw `int64` pixels), makes a strided column (`data[:, i]`) contiguous, and
//! keeps the engine from ever aliasing memory that Python may change while it runs. Large
//! matrices given to `fit`, `predict` and `evaluate` in the network's dtype are borrowed,
//! not copied.

use ndarray::{Array2, ArrayView2, Zip};
use nn_core::Float;
use numpy::{
    Element, PyArray2, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyReadonlyArray2,
    PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// The two float types of the engine, as NumPy elements.
pub(crate) trait Real: Float + Element + Source {
    /// NumPy's name of the dtype.
    const NAME: &'static str;
}

impl Real for f32 {
    const NAME: &'static str = "float32";
}

impl Real for f64 {
    const NAME: &'static str = "float64";
}

/// How an array is laid out, for the error message when it is not 2-D.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// The series' columns: one sample per column, a single sample is `(n, 1)`.
    Columns,
    /// Python's rows: one sample per row, `(samples, features)`.
    Rows,
}

/// Numeric types whose NumPy arrays are converted without a call back into NumPy.
pub(crate) trait Source: Element + Copy {
    /// The value as an `f64` (exact for every type but the 64-bit integers above 2^53).
    fn to_f64(self) -> f64;
}

macro_rules! source {
    ($($t:ty),*) => {$(
        impl Source for $t {
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
source!(f64, f32, i64, i32, i16, i8, u64, u32, u16, u8);

/// Copies `view` into `buf` as `F`, resizing `buf` only when its shape differs.
fn copy_into<S: Source, F: Real>(view: ArrayView2<'_, S>, buf: &mut Array2<F>) {
    if buf.dim() != view.dim() {
        *buf = Array2::zeros(view.dim());
    }
    // A contiguous array (the series' `row.reshape(784, 1)`) as slices: one loop the
    // compiler vectorises, instead of a Zip set up for every sample.
    if let (Some(values), Some(out)) = (view.as_slice(), buf.as_slice_mut()) {
        return convert(values, out);
    }
    Zip::from(buf)
        .and(view)
        .for_each(|b, &v| *b = F::from_f64(v.to_f64()));
}

/// `out[i] = values[i]` converted, compiled for AVX-512 (whose DQ extension converts
/// 64-bit integers to floats eight at a time: the series passes `int64` pixels) when the
/// processor has it.
fn convert<S: Source, F: Real>(values: &[S], out: &mut [F]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq")
    {
        // SAFETY: the processor has AVX-512F and AVX-512DQ, checked just above.
        return unsafe { convert_avx512(values, out) };
    }
    convert_loop(values, out)
}

/// [`convert_loop`] compiled with AVX-512F and DQ.
///
/// # Safety
/// The processor must support AVX-512F and AVX-512DQ.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn convert_avx512<S: Source, F: Real>(values: &[S], out: &mut [F]) {
    convert_loop(values, out)
}

#[inline(always)]
fn convert_loop<S: Source, F: Real>(values: &[S], out: &mut [F]) {
    for (o, &v) in out.iter_mut().zip(values) {
        *o = F::from_f64(v.to_f64());
    }
}

/// Tries one source dtype: `Ok(true)` if `obj` is a 2-D array of it (and was copied).
fn try_copy<S: Source, F: Real>(obj: &Bound<'_, PyAny>, buf: &mut Array2<F>) -> PyResult<bool> {
    match obj.cast::<PyArray2<S>>() {
        Ok(array) => {
            // SAFETY: `as_array` needs the data not to be written while the view lives.
            // The view lives for this copy only, during which this thread holds the GIL
            // (no Python code runs, and the copy does not call back into Python), and the
            // module never holds a writable Rust borrow of a NumPy array. NumPy's borrow
            // tracking (`try_readonly`) would add a global map's insert and removal, about
            // a tenth of a microsecond a sample in the series' loop.
            copy_into(unsafe { array.as_array() }, buf);
            Ok(true)
        }
        Err(_) => Ok(false),
    }
}

/// The message for an array that is not 2-D.
fn not_2d(what: &str, shape: &[usize], layout: Layout) -> PyErr {
    let hint = match (layout, shape.len()) {
        (Layout::Columns, 1) => format!(
            "; nn takes a sample as a column of shape ({}, 1): pass {what}.reshape(-1, 1)",
            shape[0]
        ),
        (Layout::Columns, _) => "; nn takes a sample as a column of shape (ins, 1)".into(),
        (Layout::Rows, 1) => format!(
            "; {what} holds one sample per row: pass {what}.reshape(1, -1) for one sample of \
             {} features, or {what}.reshape(-1, 1) for {} samples of one feature",
            shape[0], shape[0]
        ),
        (Layout::Rows, _) => "; it must be (samples, features)".into(),
    };
    PyValueError::new_err(format!(
        "{what} has shape {}, expected a 2-D array{hint}",
        shape_text(shape)
    ))
}

/// A shape as Python prints it: `(784,)`, `(784, 1)`.
pub(crate) fn shape_text(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Copies a 2-D array-like of real or integer numbers into `buf`, as `F`.
///
/// NumPy arrays of the usual dtypes are converted here; anything else (lists, bool,
/// float16, …) through `numpy.asarray(obj, dtype=F)`.
///
/// # Errors
/// `ValueError` for an array that is not 2-D (with a hint), for a dtype that is not a real
/// or integer number (complex, strings, objects), or for what NumPy cannot convert.
pub(crate) fn fill<F: Real>(
    obj: &Bound<'_, PyAny>,
    buf: &mut Array2<F>,
    what: &str,
    layout: Layout,
) -> PyResult<()> {
    // One look at the dtype picks the type to try, instead of trying each in turn (every
    // try compares dtypes in NumPy: a tenth of a microsecond for the series' int64
    // pixels, the second type tried). A dtype of another byte order fails its try and
    // goes through NumPy below.
    if let Ok(array) = obj.cast::<PyUntypedArray>() {
        let dtype = array.dtype();
        let copied = match (dtype.kind(), dtype.itemsize()) {
            (b'f', 8) => try_copy::<f64, F>(obj, buf)?,
            (b'f', 4) => try_copy::<f32, F>(obj, buf)?,
            (b'i', 8) => try_copy::<i64, F>(obj, buf)?,
            (b'i', 4) => try_copy::<i32, F>(obj, buf)?,
            (b'i', 2) => try_copy::<i16, F>(obj, buf)?,
            (b'i', 1) => try_copy::<i8, F>(obj, buf)?,
            (b'u', 8) => try_copy::<u64, F>(obj, buf)?,
            (b'u', 4) => try_copy::<u32, F>(obj, buf)?,
            (b'u', 2) => try_copy::<u16, F>(obj, buf)?,
            (b'u', 1) => try_copy::<u8, F>(obj, buf)?,
            _ => false,
        };
        if copied {
            return Ok(());
        }
    }
    let converted = as_float_array::<F>(obj, what)?;
    let readonly = converted.try_readonly()?;
    let view = readonly.as_array();
    if view.ndim() != 2 {
        return Err(not_2d(what, view.shape(), layout));
    }
    let view = view
        .into_dimensionality::<ndarray::Ix2>()
        .expect("checked 2-D");
    copy_into(view, buf);
    Ok(())
}

/// `numpy.asarray(obj, dtype=F)` of any dimension, refusing dtypes that are not numbers.
pub(crate) fn as_float_array<'py, F: Real>(
    obj: &Bound<'py, PyAny>,
    what: &str,
) -> PyResult<Bound<'py, PyArrayDyn<F>>> {
    let py = obj.py();
    // NumPy reads None as NaN (`np.asarray(None, float)` is `array(nan)`): a forgotten
    // `return` in a Python activation would otherwise surface as a diverged loss.
    if obj.is_none() {
        return Err(PyTypeError::new_err(format!(
            "{what} is None: nn takes arrays of real or integer numbers"
        )));
    }
    if let Ok(array) = obj.cast::<PyUntypedArray>() {
        let dtype = array.dtype();
        if !matches!(dtype.kind(), b'f' | b'i' | b'u' | b'b') {
            return Err(PyValueError::new_err(format!(
                "{what} has dtype {}: nn takes arrays of real or integer numbers",
                dtype.str()?
            )));
        }
    }
    let numpy = py.import("numpy")?;
    let converted = numpy.call_method1("asarray", (obj, F::NAME)).map_err(|e| {
        if e.is_instance_of::<PyTypeError>(py) || e.is_instance_of::<PyValueError>(py) {
            PyValueError::new_err(format!(
                "{what} is not an array of real numbers ({})",
                e.value(py)
            ))
        } else {
            e
        }
    })?;
    Ok(converted.cast_into::<PyArrayDyn<F>>()?)
}

/// A matrix of `F`: borrowed from NumPy when it already has that dtype, else converted.
pub(crate) enum Matrix<'py, F: Real> {
    /// A read-only borrow of the caller's array (no copy).
    Borrowed(PyReadonlyArray2<'py, F>),
    /// A converted copy.
    Owned(Array2<F>),
}

impl<F: Real> Matrix<'_, F> {
    /// The matrix.
    pub(crate) fn view(&self) -> ArrayView2<'_, F> {
        match self {
            Matrix::Borrowed(array) => array.as_array(),
            Matrix::Owned(array) => array.view(),
        }
    }
}

/// `obj` as a matrix of `F` (see [`Matrix`]).
///
/// # Errors
/// As [`fill`].
pub(crate) fn matrix<'py, F: Real>(
    obj: &Bound<'py, PyAny>,
    what: &str,
    layout: Layout,
) -> PyResult<Matrix<'py, F>> {
    if let Ok(array) = obj.cast::<PyArray2<F>>() {
        if let Ok(readonly) = array.try_readonly() {
            return Ok(Matrix::Borrowed(readonly));
        }
    }
    let mut buf = Array2::zeros((0, 0));
    fill(obj, &mut buf, what, layout)?;
    Ok(Matrix::Owned(buf))
}

/// A class index from a Python `int` or a NumPy integer scalar (or 0-d integer array);
/// `None` for anything else.
///
/// # Errors
/// `ValueError` for a negative index.
pub(crate) fn class_index(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Option<usize>> {
    if let Ok(array) = obj.cast::<PyUntypedArray>() {
        if array.ndim() != 0 || !matches!(array.dtype().kind(), b'i' | b'u') {
            return Ok(None);
        }
    } else if obj.is_instance_of::<pyo3::types::PyFloat>()
        || obj.is_instance_of::<pyo3::types::PyBool>()
    {
        return Ok(None);
    }
    // PyNumber_Index: Python ints and NumPy integer scalars, never floats.
    match obj.extract::<i64>() {
        Ok(c) => non_negative(c, what).map(Some),
        Err(_) => Ok(None),
    }
}

fn non_negative(c: i64, what: &str) -> PyResult<usize> {
    usize::try_from(c).map_err(|_| {
        PyValueError::new_err(format!("{what} is the class {c}; classes are 0, 1, 2, …"))
    })
}

/// Class indices from a 1-D NumPy integer array (or a list of ints); `None` when `obj` is
/// not one.
///
/// # Errors
/// `ValueError` for a negative index.
pub(crate) fn class_indices(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Option<Vec<usize>>> {
    let Ok(array) = obj.cast::<PyUntypedArray>() else {
        if let Ok(list) = obj.cast::<pyo3::types::PyList>() {
            if !list.is_empty()
                && list
                    .iter()
                    .all(|v| class_index(&v, what).ok().flatten().is_some())
            {
                return list
                    .iter()
                    .map(|v| Ok(class_index(&v, what)?.expect("checked")))
                    .collect::<PyResult<Vec<_>>>()
                    .map(Some);
            }
        }
        return Ok(None);
    };
    if array.ndim() != 1 || !matches!(array.dtype().kind(), b'i' | b'u') {
        return Ok(None);
    }
    let numpy = obj.py().import("numpy")?;
    let as_i64 = numpy
        .call_method1("asarray", (obj, "int64"))?
        .cast_into::<numpy::PyArray1<i64>>()?;
    let readonly = as_i64.try_readonly()?;
    readonly
        .as_array()
        .iter()
        .map(|&c| non_negative(c, what))
        .collect::<PyResult<Vec<_>>>()
        .map(Some)
}

/// Whether `obj` is a 1-D array of floats (a regression target of one output per sample).
pub(crate) fn is_1d(obj: &Bound<'_, PyAny>) -> bool {
    obj.cast::<PyUntypedArray>()
        .map(|a| a.ndim() == 1)
        .unwrap_or(false)
}
