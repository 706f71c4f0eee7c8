//! Activation and loss functions: the original's classes (`ActivationFunction` with `f`
//! and `df`, `LossFunction` with `loss` and `dloss`), the built-in ones computed by the
//! Rust engine, and the wrappers that let a subclass written in Python train too.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use ndarray::{Array2, ArrayView2, ArrayViewMut2, IxDyn};
use nn_core::{Activation, Loss, Target};
use numpy::{PyArray2, PyArrayDyn, PyArrayMethods};
use pyo3::exceptions::{PyNotImplementedError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::convert::{self, Layout, Real};
use crate::errors::IntoPy;

/// The first Python exception raised inside a callback during a Rust call, kept until the
/// call returns (the engine's traits cannot return it; the callback fills its outputs with
/// NaN instead, which stops the step before any update).
pub(crate) type ErrorSlot = Arc<Mutex<Option<PyErr>>>;

/// Stores `error` in `slot` unless an earlier one is there.
fn keep_first(slot: &ErrorSlot, error: PyErr) {
    let mut kept = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if kept.is_none() {
        *kept = Some(error);
    }
}

/// Whether `slot` holds an error.
fn failed(slot: &ErrorSlot) -> bool {
    slot.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_some()
}

/// A Python object whose methods the engine calls back (an activation's `f` and `df`, a
/// loss's `loss` and `dloss`): the object, a name for messages and `Debug`, and the slot
/// where the first exception raised in a call waits for the network to re-raise it.
pub(crate) struct PyCallback {
    object: Py<PyAny>,
    name: String,
    slot: ErrorSlot,
}

impl PyCallback {
    /// A callback on `object`, named after its class, e.g. `python(Softplus)`.
    fn new(object: &Bound<'_, PyAny>, slot: &ErrorSlot) -> PyResult<Self> {
        Ok(PyCallback {
            object: object.clone().unbind(),
            name: format!("python({})", object.get_type().qualname()?),
            slot: slot.clone(),
        })
    }

    /// Runs `call` with the GIL, unless an earlier call raised. `None` if it did not run
    /// or raised (its exception then kept in the slot): the caller fills its output with
    /// NaN, which stops the step before any update.
    fn run<T>(&self, call: impl FnOnce(Python<'_>, &Bound<'_, PyAny>) -> PyResult<T>) -> Option<T> {
        if failed(&self.slot) {
            return None;
        }
        match Python::attach(|py| call(py, self.object.bind(py))) {
            Ok(value) => Some(value),
            Err(e) => {
                keep_first(&self.slot, e);
                None
            }
        }
    }
}

impl Clone for PyCallback {
    fn clone(&self) -> Self {
        PyCallback {
            object: Python::attach(|py| self.object.clone_ref(py)),
            name: self.name.clone(),
            slot: self.slot.clone(),
        }
    }
}

impl fmt::Debug for PyCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)
    }
}

/// Base class of activation functions, as in the original `nn.py`: a subclass defines
/// ``f(x)`` and ``df(x)`` on NumPy arrays (the pre-activation ``y = W·x + b``).
///
/// The built-in subclasses (``LeakyReLU``, ``ReLU``, ``Sigmoid``, ``Tanh``, ``Identity``)
/// are computed by the Rust engine; a subclass written in Python works too, on a slower
/// path that calls its ``f`` and ``df`` once per layer and step.
#[pyclass(module = "nn", subclass, name = "ActivationFunction")]
pub(crate) struct ActivationFunction {
    /// The engine's name of a built-in activation (`parse_activation`), `None` for the base.
    pub(crate) native: Option<String>,
}

#[pymethods]
impl ActivationFunction {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        ActivationFunction { native: None }
    }

    /// The function, elementwise: ``f(x)``.
    fn f<'py>(&self, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        self.apply(x, |a, v| a.f(v), "f")
    }

    /// Its derivative, elementwise: ``df(x) = f'(x)``.
    fn df<'py>(&self, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        self.apply(x, |a, v| a.df(v), "df")
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let name = slf.get_type().name()?;
        Ok(match &slf.borrow().native {
            Some(spec) if spec.starts_with("leaky_relu") => {
                let alpha = spec.trim_start_matches("leaky_relu(").trim_end_matches(')');
                format!("{name}({alpha})")
            }
            _ => format!("{name}()"),
        })
    }
}

impl ActivationFunction {
    fn apply<'py>(
        &self,
        x: &Bound<'py, PyAny>,
        op: impl Fn(&dyn Activation<f64>, f64) -> f64,
        method: &str,
    ) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let Some(spec) = &self.native else {
            return Err(PyNotImplementedError::new_err(format!(
                "ActivationFunction.{method} is abstract: a subclass defines it"
            )));
        };
        let activation = nn_layers::parse_activation::<f64>(spec).py_err()?;
        let array = convert::as_float_array::<f64>(x, "x")?;
        let out = array
            .try_readonly()?
            .as_array()
            .mapv(|v| op(activation.as_ref(), v));
        Ok(PyArrayDyn::from_owned_array(x.py(), out))
    }
}

/// Leaky rectified linear unit: ``f(x) = max(x, alpha·x)``, ``df(x) = 1 if x > 0 else
/// alpha``, with ``alpha = leaky_param`` (0.1 by default), kept as ``alpha``.
#[pyclass(module = "nn", extends = ActivationFunction, subclass, name = "LeakyReLU")]
pub(crate) struct LeakyReLU {
    alpha: f64,
}

#[pymethods]
impl LeakyReLU {
    #[new]
    #[pyo3(signature = (leaky_param = 0.1))]
    fn new(leaky_param: f64) -> PyResult<PyClassInitializer<Self>> {
        let spec = format!("leaky_relu({leaky_param:?})");
        // Checks alpha as the engine will (finite).
        nn_layers::parse_activation::<f64>(&spec).py_err()?;
        Ok(
            PyClassInitializer::from(ActivationFunction { native: Some(spec) })
                .add_subclass(LeakyReLU { alpha: leaky_param }),
        )
    }

    /// The slope for negative inputs.
    #[getter]
    fn alpha(&self) -> f64 {
        self.alpha
    }
}

macro_rules! simple_activation {
    ($rust:ident, $py:literal, $spec:literal, $doc:literal) => {
        #[doc = $doc]
        #[pyclass(module = "nn", extends = ActivationFunction, subclass, name = $py)]
        pub(crate) struct $rust;

        #[pymethods]
        impl $rust {
            #[new]
            fn new() -> PyClassInitializer<$rust> {
                PyClassInitializer::from(ActivationFunction {
                    native: Some($spec.into()),
                })
                .add_subclass($rust)
            }
        }
    };
}

simple_activation!(
    ReLU,
    "ReLU",
    "relu",
    "Rectified linear unit: ``f(x) = max(x, 0)``, ``df(x) = 1 if x > 0 else 0``."
);
simple_activation!(
    Sigmoid,
    "Sigmoid",
    "sigmoid",
    "The logistic function: ``f(x) = 1/(1 + e^-x)``, ``df(x) = f(x)·(1 - f(x))``."
);
simple_activation!(
    Tanh,
    "Tanh",
    "tanh",
    "Hyperbolic tangent: ``f(x) = tanh(x)``, ``df(x) = 1 - tanh(x)²``."
);
simple_activation!(
    Identity,
    "Identity",
    "identity",
    "The identity: ``f(x) = x``, ``df(x) = 1`` (a last layer of logits). Also named ``Id``."
);

/// The engine's activation for the Python object `act`: the built-in one when `act` is
/// exactly one of the built-in classes, else a wrapper calling its `f` and `df`.
pub(crate) fn activation_for<F: Real>(
    act: &Bound<'_, PyAny>,
    slot: &ErrorSlot,
) -> PyResult<(Box<dyn Activation<F>>, bool)> {
    let builtin = act.cast_exact::<LeakyReLU>().is_ok()
        || act.cast_exact::<ReLU>().is_ok()
        || act.cast_exact::<Sigmoid>().is_ok()
        || act.cast_exact::<Tanh>().is_ok()
        || act.cast_exact::<Identity>().is_ok();
    if builtin {
        let base = act.cast::<ActivationFunction>()?.borrow();
        let spec = base.native.as_deref().expect("built-in classes set it");
        return Ok((nn_layers::parse_activation::<F>(spec).py_err()?, false));
    }
    if !(act.hasattr("f")? && act.hasattr("df")?) {
        return Err(PyTypeError::new_err(format!(
            "act_function must be an ActivationFunction (with f and df), got {}",
            act.repr()?
        )));
    }
    Ok((Box::new(PyActivation(PyCallback::new(act, slot)?)), true))
}

/// An activation written in Python: the engine calls its `f` and `df` on each layer's
/// whole pre-activation array (one call per layer and pass, not per entry).
#[derive(Clone, Debug)]
pub(crate) struct PyActivation(PyCallback);

/// Calls `object.method(y)` and copies the result, which must have `y`'s shape, to `out`.
fn call_elementwise<F: Real>(
    py: Python<'_>,
    object: &Bound<'_, PyAny>,
    method: &str,
    y: ArrayView2<'_, F>,
    out: &mut Array2<F>,
) -> PyResult<()> {
    let argument = PyArray2::from_array(py, &y);
    let result = object.call_method1(method, (argument,))?;
    let class = || {
        (object.get_type().qualname())
            .map(|q| q.to_string())
            .unwrap_or_default()
    };
    if result.is_none() {
        return Err(PyTypeError::new_err(format!(
            "{}.{method} returned None, expected an array of shape {} (a missing return?)",
            class(),
            convert::shape_text(&[y.nrows(), y.ncols()])
        )));
    }
    let what = format!("the result of {method}");
    let array = convert::as_float_array::<F>(&result, &what)?;
    let readonly = array.try_readonly()?;
    let view = readonly.as_array();
    // A scalar or a broadcastable result (e.g. `np.ones(1)`) is spread over y's shape.
    let spread = view
        .broadcast(IxDyn(&[y.nrows(), y.ncols()]))
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "{}.{method} returned shape {}, expected {}",
                class(),
                convert::shape_text(view.shape()),
                convert::shape_text(&[y.nrows(), y.ncols()])
            ))
        })?;
    *out = Array2::from_shape_vec(y.dim(), spread.iter().copied().collect())
        .expect("broadcast to y's shape");
    Ok(())
}

impl<F: Real> Activation<F> for PyActivation {
    fn f(&self, y: F) -> F {
        let mut a = Array2::zeros((1, 1));
        self.forward_into(Array2::from_elem((1, 1), y).view(), a.view_mut());
        a[(0, 0)]
    }

    fn df(&self, y: F) -> F {
        let mut d = Array2::zeros((1, 1));
        let y = Array2::from_elem((1, 1), y);
        let one = Array2::from_elem((1, 1), F::one());
        self.backward_into(y.view(), y.view(), one.view(), d.view_mut());
        d[(0, 0)]
    }

    fn name(&self) -> String {
        self.0.name.clone()
    }

    fn clone_box(&self) -> Box<dyn Activation<F>> {
        Box::new(self.clone())
    }

    fn forward_into(&self, y: ArrayView2<'_, F>, mut a: ArrayViewMut2<'_, F>) {
        let mut out = Array2::zeros((0, 0));
        match self
            .0
            .run(|py, object| call_elementwise(py, object, "f", y, &mut out))
        {
            Some(()) => a.assign(&out),
            None => a.fill(F::nan()),
        }
    }

    /// One call of the Python `f` for the whole batch, as `forward_into` (the default
    /// would call it once per entry).
    fn forward_in_place(&self, mut values: ArrayViewMut2<'_, F>) -> (bool, bool) {
        let y = values.to_owned();
        self.forward_into(y.view(), values.view_mut());
        let finite = |a: ArrayView2<'_, F>| a.iter().all(|v| v.is_finite());
        (finite(y.view()), finite(values.view()))
    }

    fn backward_into(
        &self,
        y: ArrayView2<'_, F>,
        _a: ArrayView2<'_, F>,
        upstream: ArrayView2<'_, F>,
        mut delta: ArrayViewMut2<'_, F>,
    ) {
        let mut d = Array2::zeros((0, 0));
        match self
            .0
            .run(|py, object| call_elementwise(py, object, "df", y, &mut d))
        {
            Some(()) => ndarray::Zip::from(&mut delta)
                .and(&d)
                .and(upstream)
                .for_each(|delta, &d, &u| *delta = d * u),
            None => delta.fill(F::nan()),
        }
    }
}

/// Base class of loss functions, as in the original `nn.py`: a subclass defines
/// ``loss(values, expected)`` (a float) and ``dloss(values, expected)`` (the gradient with
/// respect to ``values``), for one sample: ``values`` is the network's output column and
/// ``expected`` a column of target values or a class index.
///
/// ``MSELoss`` and ``CrossEntropyLoss`` are computed by the Rust engine; a subclass written
/// in Python works too, on a slower path that calls it once per sample.
#[pyclass(module = "nn", subclass, name = "LossFunction")]
pub(crate) struct LossFunction {
    /// The engine's name of a built-in loss (`parse_loss`), `None` for the base.
    pub(crate) native: Option<String>,
}

#[pymethods]
impl LossFunction {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        LossFunction { native: None }
    }

    /// The loss of ``values`` (a column, or several) against ``expected`` (a column of
    /// values of the same shape, or a class index), averaged over the columns.
    fn loss(&self, values: &Bound<'_, PyAny>, expected: &Bound<'_, PyAny>) -> PyResult<f64> {
        let loss = self.native_loss("loss")?;
        let mut v = Array2::<f64>::zeros((0, 0));
        convert::fill(values, &mut v, "values", Layout::Columns)?;
        let mut t = Array2::zeros((0, 0));
        let mut classes = Vec::new();
        let target = target_of(expected, &mut t, &mut classes, true)?;
        loss.loss(v.view(), target).py_err()
    }

    /// The gradient of :meth:`loss` with respect to ``values``, of ``values``' shape.
    fn dloss<'py>(
        &self,
        values: &Bound<'py, PyAny>,
        expected: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let loss = self.native_loss("dloss")?;
        let mut v = Array2::<f64>::zeros((0, 0));
        convert::fill(values, &mut v, "values", Layout::Columns)?;
        let mut t = Array2::zeros((0, 0));
        let mut classes = Vec::new();
        let target = target_of(expected, &mut t, &mut classes, true)?;
        let gradient = loss.dloss(v.view(), target).py_err()?;
        Ok(PyArray2::from_owned_array(values.py(), gradient))
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        Ok(format!("{}()", slf.get_type().name()?))
    }
}

impl LossFunction {
    fn native_loss(&self, method: &str) -> PyResult<Box<dyn Loss<f64>>> {
        match &self.native {
            Some(name) => nn_loss::parse_loss::<f64>(name).py_err(),
            None => Err(PyNotImplementedError::new_err(format!(
                "LossFunction.{method} is abstract: a subclass defines it"
            ))),
        }
    }
}

/// Mean squared error: ``loss = mean((values - expected)²)``,
/// ``dloss = 2·(values - expected)/n`` for ``n`` entries. ``expected`` is a column of the
/// output's shape (the series' one-hot columns, or another network's output).
#[pyclass(module = "nn", extends = LossFunction, subclass, name = "MSELoss")]
pub(crate) struct MSELoss;

#[pymethods]
impl MSELoss {
    #[new]
    fn new() -> PyClassInitializer<MSELoss> {
        PyClassInitializer::from(LossFunction {
            native: Some("mse".into()),
        })
        .add_subclass(MSELoss)
    }
}

/// Cross-entropy on raw outputs (logits) and a class index ``c``, as PyTorch's
/// ``CrossEntropyLoss``: ``loss = -values[c] + log(Σ e^values)``,
/// ``dloss = softmax(values) - onehot(c)``. Computed stably (the original overflows to NaN
/// on large outputs); ``expected`` may also be a column of probabilities.
#[pyclass(module = "nn", extends = LossFunction, subclass, name = "CrossEntropyLoss")]
pub(crate) struct CrossEntropyLoss;

#[pymethods]
impl CrossEntropyLoss {
    #[new]
    fn new() -> PyClassInitializer<CrossEntropyLoss> {
        PyClassInitializer::from(LossFunction {
            native: Some("cross_entropy".into()),
        })
        .add_subclass(CrossEntropyLoss)
    }
}

/// A target from Python: a class index (an `int`, a NumPy integer scalar), a 1-D integer
/// array of class indices (one per column), or a 2-D array of values, copied into `values`
/// or `classes` as needed.
///
/// With `allow_classes` false (an MSE network's `train`: the original would compare every
/// output with the number), a class index is refused.
///
/// # Errors
/// `ValueError` for what is none of these.
pub(crate) fn target_of<'a, F: Real>(
    t: &Bound<'_, PyAny>,
    values: &'a mut Array2<F>,
    classes: &'a mut Vec<usize>,
    allow_classes: bool,
) -> PyResult<Target<'a, F>> {
    let refuse_classes = || {
        PyValueError::new_err(
            "t is a class index, but MSELoss compares the output with a column of \
             expected values of the output's shape (outs, 1): pass a one-hot column, or \
             use CrossEntropyLoss for class indices",
        )
    };
    // A 2-D array is a column of values (the series' one-hot columns): no class index
    // or scalar to look for first.
    if let Ok(array) = t.cast::<numpy::PyUntypedArray>() {
        if numpy::PyUntypedArrayMethods::ndim(array) == 2 {
            convert::fill(t, values, "t", Layout::Columns)?;
            return Ok(Target::Values(values.view()));
        }
    }
    // One class index (the series' per-sample call) goes into the reused buffer, with no
    // allocation; several come as a new list.
    if let Some(c) = convert::class_index(t, "t")? {
        if !allow_classes {
            return Err(refuse_classes());
        }
        classes.clear();
        classes.push(c);
        return Ok(Target::Classes(classes));
    }
    if let Some(found) = convert::class_indices(t, "t")? {
        if !allow_classes {
            return Err(refuse_classes());
        }
        *classes = found;
        return Ok(Target::Classes(classes));
    }
    // A single number that is not a class index (a float, a bool, an int beyond i64):
    // say what a target is, rather than that its shape () is not 2-D.
    let scalar = match t.cast::<numpy::PyUntypedArray>() {
        Ok(array) => numpy::PyUntypedArrayMethods::ndim(array) == 0,
        Err(_) => t.extract::<f64>().is_ok(),
    };
    if scalar {
        return Err(PyValueError::new_err(format!(
            "t is the number {}: a target is a class index (an int or a NumPy integer, \
             from 0) or a column of expected values of shape (outs, 1)",
            t.repr()?
        )));
    }
    convert::fill(t, values, "t", Layout::Columns)?;
    Ok(Target::Values(values.view()))
}

/// The engine's loss for the Python object `loss`: the built-in one for exactly `MSELoss`
/// or `CrossEntropyLoss`, else a wrapper calling its `loss` and `dloss`.
pub(crate) fn loss_for<F: Real>(
    loss: &Bound<'_, PyAny>,
    slot: &ErrorSlot,
) -> PyResult<(Box<dyn Loss<F>>, bool)> {
    if loss.cast_exact::<MSELoss>().is_ok() || loss.cast_exact::<CrossEntropyLoss>().is_ok() {
        let base = loss.cast::<LossFunction>()?.borrow();
        let name = base.native.as_deref().expect("built-in classes set it");
        return Ok((nn_loss::parse_loss::<F>(name).py_err()?, false));
    }
    if !(loss.hasattr("loss")? && loss.hasattr("dloss")?) {
        return Err(PyTypeError::new_err(format!(
            "loss_function must be a LossFunction (with loss and dloss), got {}",
            loss.repr()?
        )));
    }
    Ok((Box::new(PyLoss(PyCallback::new(loss, slot)?)), true))
}

/// A loss written in Python, called once per sample (column) as the original's losses
/// are; the batch loss is the mean, and its gradient the per-sample gradients over `B`.
#[derive(Clone, Debug)]
pub(crate) struct PyLoss(PyCallback);

impl PyLoss {
    /// The Python target of sample `j`: a column, or the class index.
    fn sample_target<'py, F: Real>(
        py: Python<'py>,
        target: Target<'_, F>,
        j: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        Ok(match target {
            Target::Values(v) => {
                let column = v.slice(ndarray::s![.., j..j + 1]);
                PyArray2::from_array(py, &column).into_any()
            }
            Target::Classes(c) => c[j].into_pyobject(py)?.into_any(),
        })
    }
}

impl<F: Real> Loss<F> for PyLoss {
    fn name(&self) -> String {
        self.0.name.clone()
    }

    fn clone_box(&self) -> Box<dyn Loss<F>> {
        Box::new(self.clone())
    }

    fn evaluate(&self, values: ArrayView2<'_, F>, target: Target<'_, F>) -> F {
        let batch = values.ncols();
        let mean = self.0.run(|py, object| -> PyResult<f64> {
            let mut sum = 0.0;
            for j in 0..batch {
                let column = PyArray2::from_array(py, &values.slice(ndarray::s![.., j..j + 1]));
                let t = Self::sample_target(py, target, j)?;
                sum += object.call_method1("loss", (column, t))?.extract::<f64>()?;
            }
            Ok(sum / batch as f64)
        });
        mean.map_or(F::nan(), F::from_f64)
    }

    fn gradient_into(
        &self,
        values: ArrayView2<'_, F>,
        target: Target<'_, F>,
        mut grad: ArrayViewMut2<'_, F>,
    ) {
        let batch = values.ncols();
        let scale = F::from_f64(1.0 / batch as f64);
        let done = self.0.run(|py, object| -> PyResult<()> {
            let mut d = Array2::zeros((0, 0));
            for j in 0..batch {
                let column = values.slice(ndarray::s![.., j..j + 1]);
                let t = Self::sample_target(py, target, j)?;
                let argument = PyArray2::from_array(py, &column);
                let result = object.call_method1("dloss", (argument, t))?;
                convert::fill(&result, &mut d, "the result of dloss", Layout::Columns)?;
                if d.dim() != column.dim() {
                    return Err(PyValueError::new_err(format!(
                        "{}.dloss returned shape {}, expected {}",
                        self.0.name,
                        convert::shape_text(d.shape()),
                        convert::shape_text(column.shape())
                    )));
                }
                grad.column_mut(j).assign(&(&d.column(0) * scale));
            }
            Ok(())
        });
        if done.is_none() {
            grad.fill(F::nan());
        }
    }
}
