//! `Layer` and `NeuralNetwork`: the original's classes, backed by the engine's
//! `nn_train::NeuralNetwork`.
//!
//! A `Layer` owns its parameters until a `NeuralNetwork` is built from it; from then on the
//! network's engine holds them and the layer reads and writes them there, so that
//! `layer._W` always shows the trained weights (as the original, whose `train` changes the
//! layers' arrays in place). The arrays `_W`, `_b`, `W` and `b` return are read-only views
//! of the engine's memory (no copy, and always current); assigning to the attribute
//! (`layer._W = new`) writes new values. An in-place change such as `layer._W += 1` raises
//! `ValueError` (the array is read-only) instead of being silently lost on a copy.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use ndarray::{Array2, ArrayView2};
use nn_core::{Error, Float, Init, Samples, Target};
use nn_layers::Dense;
use nn_train::{FitOptions, NeuralNetwork, Progress, SampleStream};
use numpy::{PyArray1, PyArray2};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::convert::{self, Layout, Real};
use crate::errors::{busy, to_py, IntoPy};
use crate::functions::{
    self, CrossEntropyLoss, ErrorSlot, Identity, LeakyReLU, MSELoss, ReLU, Sigmoid, Tanh,
};
use crate::optim::optimizer_for;

/// From this many samples on, a step or a pass releases the GIL while it runs (one sample
/// takes a few microseconds, about what releasing and taking back the GIL costs).
const DETACH_BATCH: usize = 64;

/// The generator of layers built without a seed (`nn.seed(n)` seeds it; by default it is
/// seeded from the operating system, as the original's unseeded NumPy generator).
static GLOBAL_RNG: Mutex<Option<StdRng>> = Mutex::new(None);

/// Seeds the generator of every later ``Layer(...)`` built without ``seed=``, so that a
/// script draws the same initial weights on every run (the original draws from NumPy's
/// unseeded global generator).
#[pyfunction]
pub(crate) fn seed(seed: i64) {
    *GLOBAL_RNG.lock().unwrap_or_else(PoisonError::into_inner) =
        Some(StdRng::seed_from_u64(seed as u64));
}

/// The engine and the buffers the per-sample calls reuse.
pub(crate) struct Engine<F: Real> {
    /// The network, in a stream that may hold the first layer's update of the last
    /// `train(x, t)` (applied with the next one's forward product); `stream.network()`
    /// applies it, and every use but `train` goes through it.
    stream: SampleStream<F, NeuralNetwork<F>>,
    /// The last input, converted to `F`.
    x: Array2<F>,
    /// The last value target, converted to `F`.
    t: Array2<F>,
    /// The last class targets.
    classes: Vec<usize>,
}

/// The network of `stream`, with every queued `train(x, t)` trained and every update
/// applied; the error of a queued step that diverged is raised here.
fn flushed<'s, F: Real>(
    stream: &'s mut SampleStream<F, NeuralNetwork<F>>,
    core: &Core,
) -> PyResult<&'s mut NeuralNetwork<F>> {
    let result = stream.flush();
    core.finish(result)?;
    Ok(stream.network())
}

impl<F: Real> Engine<F> {
    fn new(net: NeuralNetwork<F>) -> Self {
        Engine {
            stream: SampleStream::new(net),
            x: Array2::zeros((0, 0)),
            t: Array2::zeros((0, 0)),
            classes: Vec::new(),
        }
    }
}

/// A network in one of the two float types.
pub(crate) enum Net {
    F64(Engine<f64>),
    F32(Engine<f32>),
}

/// Runs `$body` with `$e` bound to the `Engine<F>` of either float type.
macro_rules! dispatch {
    ($net:expr, $e:ident => $body:expr) => {
        match $net {
            Net::F64($e) => $body,
            Net::F32($e) => $body,
        }
    };
}

/// What a network and its layers share: the engine behind a lock (taken without waiting:
/// a network busy in another thread is an error, never a deadlock), and the slot where a
/// Python callback's exception waits for the end of the call.
pub(crate) struct Core {
    net: Mutex<Net>,
    slot: ErrorSlot,
    /// Whether an activation or the loss is written in Python.
    python_parts: bool,
    /// How many NumPy views of the first layer's `_W` or `_b` are alive: they read the
    /// parameters' memory without the lock, so while there are any, `train(x, t)` applies
    /// its whole update at once instead of leaving the first layer's for the next step.
    first_layer_views: AtomicUsize,
}

impl Core {
    fn lock(&self) -> PyResult<MutexGuard<'_, Net>> {
        match self.net.try_lock() {
            Ok(guard) => Ok(guard),
            Err(TryLockError::Poisoned(poisoned)) => Ok(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => Err(busy()),
        }
    }

    /// The result of an engine call: a Python callback's exception first, if one was
    /// raised during the call, else nn's error as a Python exception.
    fn finish<T>(&self, result: nn_core::Result<T>) -> PyResult<T> {
        if !self.python_parts {
            // Only the functions written in Python hold the slot: nothing can be there.
            return result.py_err();
        }
        let raised = self
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match raised {
            Some(error) => Err(error),
            None => result.py_err(),
        }
    }

    /// Whether a call on `batch` samples may release the GIL.
    fn detach(&self, batch: usize) -> bool {
        batch >= DETACH_BATCH && !self.python_parts
    }
}

/// Keeps a network's memory alive for as long as NumPy views of its parameters exist (the
/// views' base object).
#[pyclass(module = "nn", frozen)]
struct Storage {
    core: Arc<Core>,
    /// Whether this is a view of the first layer's parameters (counted in the core).
    first_layer: bool,
}

impl Drop for Storage {
    fn drop(&mut self) {
        if self.first_layer {
            self.core.first_layer_views.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// A read-only NumPy view of `array`, whose memory `owner` keeps alive.
///
/// # Safety
/// `array`'s memory must stay where it is, and allocated, for as long as `owner` lives.
unsafe fn view<'py, F: Real>(
    array: ArrayView2<'_, F>,
    owner: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: the caller's guarantee.
    let numpy = unsafe { PyArray2::borrow_from_array(&array, owner) };
    numpy.getattr("flags")?.setattr("writeable", false)?;
    Ok(numpy.into_any())
}

/// A dense layer: ``ins`` inputs, ``outs`` outputs, weights ``_W`` of shape
/// ``(outs, ins)``, bias ``_b`` of shape ``(outs, 1)`` and an activation function;
/// ``forward_pass(x) = act_function.f(_W·x + _b)``.
///
/// The weights are drawn as the original draws them, from ``N(0, σ²)`` with
/// ``σ = 1/(rows·cols)`` of each matrix (``init="original"``); ``init="he_normal"``,
/// ``"he_uniform"``, ``"xavier_normal"`` or ``"xavier_uniform"`` pick a modern scheme.
/// ``seed`` makes the draw reproducible (else ``nn.seed`` or the operating system seeds it).
///
/// ``_W`` and ``_b`` (also ``W`` and ``b``) are read-only NumPy views that follow training;
/// assign a new array to change them.
#[pyclass(module = "nn", name = "Layer", subclass)]
pub(crate) struct Layer {
    ins: usize,
    outs: usize,
    act: Py<PyAny>,
    /// The parameters until the layer joins a network (never reallocated: views of them
    /// may be alive).
    w: Array2<f64>,
    b: Array2<f64>,
    /// The network holding the parameters, and this layer's index in it.
    attached: Option<(Arc<Core>, usize)>,
}

fn size(value: i64, what: &str) -> PyResult<usize> {
    match usize::try_from(value) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(PyValueError::new_err(format!(
            "{what} = {value}: a layer needs at least 1 input and 1 output"
        ))),
    }
}

/// A count (epochs, batch size) from a Python int: a negative one is the engine's error for
/// 0 (`ValueError`), not an `OverflowError`.
fn count(value: i64, name: &'static str) -> PyResult<usize> {
    usize::try_from(value).map_err(|_| {
        to_py(Error::InvalidHyperparameter {
            name,
            value: value as f64,
            reason: "must be at least 1",
        })
    })
}

fn init_named(name: &str) -> PyResult<Init> {
    Ok(match name {
        "original" => Init::Original,
        "he_normal" => Init::HeNormal,
        "he_uniform" => Init::HeUniform,
        "xavier_normal" => Init::XavierNormal,
        "xavier_uniform" => Init::XavierUniform,
        other => {
            return Err(PyValueError::new_err(format!(
                "init = {other:?} is unknown: use \"original\", \"he_normal\", \"he_uniform\", \
                 \"xavier_normal\" or \"xavier_uniform\""
            )))
        }
    })
}

/// Checks a new parameter array's shape and values.
fn parameter(value: &Bound<'_, PyAny>, name: &str, shape: (usize, usize)) -> PyResult<Array2<f64>> {
    let mut array = Array2::zeros((0, 0));
    convert::fill(value, &mut array, name, Layout::Rows)?;
    if array.dim() != shape {
        return Err(PyValueError::new_err(format!(
            "{name} must have shape {}, got {}",
            convert::shape_text(&[shape.0, shape.1]),
            convert::shape_text(array.shape())
        )));
    }
    if let Some(v) = array.iter().find(|v: &&f64| !v.is_finite()) {
        return Err(PyValueError::new_err(format!(
            "{name} holds the non-finite value {v}"
        )));
    }
    Ok(array)
}

#[pymethods]
impl Layer {
    #[new]
    #[pyo3(signature = (ins, outs, act_function, *, init = "original", seed = None))]
    fn new(
        ins: i64,
        outs: i64,
        act_function: &Bound<'_, PyAny>,
        init: &str,
        seed: Option<i64>,
    ) -> PyResult<Self> {
        let (ins, outs) = (size(ins, "ins")?, size(outs, "outs")?);
        // The activation is checked now, not when the network is built.
        let slot = ErrorSlot::default();
        functions::activation_for::<f64>(act_function, &slot)?;
        let init = init_named(init)?;
        let draw = |rng: &mut StdRng| -> nn_core::Result<(Array2<f64>, Array2<f64>)> {
            Ok((init.weights(outs, ins, rng)?, init.bias(outs, rng)?))
        };
        let (w, b) = match seed {
            // Any int seeds: a negative one by its two's-complement bits.
            Some(seed) => draw(&mut StdRng::seed_from_u64(seed as u64)),
            None => {
                let mut global = GLOBAL_RNG.lock().unwrap_or_else(PoisonError::into_inner);
                draw(global.get_or_insert_with(StdRng::from_os_rng))
            }
        }
        .py_err()?;
        Ok(Layer {
            ins,
            outs,
            act: act_function.clone().unbind(),
            w,
            b,
            attached: None,
        })
    }

    /// Number of inputs (columns of ``_W``).
    #[getter]
    fn ins(&self) -> usize {
        self.ins
    }

    /// Number of outputs (rows of ``_W``).
    #[getter]
    fn outs(&self) -> usize {
        self.outs
    }

    /// The activation function given to the constructor.
    #[getter]
    fn act_function(&self, py: Python<'_>) -> Py<PyAny> {
        self.act.clone_ref(py)
    }

    /// The weights, ``(outs, ins)``: a read-only view that follows training.
    #[getter(_W)]
    fn get_w_private<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::parameter_view(slf, true)
    }

    #[setter(_W)]
    fn set_w_private(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.set_parameter(value, true)
    }

    /// The bias, ``(outs, 1)``: a read-only view that follows training.
    #[getter(_b)]
    fn get_b_private<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::parameter_view(slf, false)
    }

    #[setter(_b)]
    fn set_b_private(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.set_parameter(value, false)
    }

    /// The weights, ``(outs, ins)`` (the same as ``_W``).
    #[getter(W)]
    fn get_w<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::parameter_view(slf, true)
    }

    #[setter(W)]
    fn set_w(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.set_parameter(value, true)
    }

    /// The bias, ``(outs, 1)`` (the same as ``_b``).
    #[getter(b)]
    fn get_b<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::parameter_view(slf, false)
    }

    #[setter(b)]
    fn set_b(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.set_parameter(value, false)
    }

    /// ``act_function.f(_W·x + _b)`` for a column ``x`` of shape ``(ins, 1)`` (or several
    /// columns), as a float column.
    fn forward_pass<'py>(&self, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = x.py();
        if let Some((core, index)) = &self.attached {
            let mut guard = core.lock()?;
            return dispatch!(&mut *guard, e => {
                convert::fill(x, &mut e.x, "x", Layout::Columns)?;
                let out = core.finish(flushed(&mut e.stream, core)?.layers()[*index].forward(e.x.view()))?;
                Ok(PyArray2::from_owned_array(py, out).into_any())
            });
        }
        let slot = ErrorSlot::default();
        let (activation, _) = functions::activation_for::<f64>(self.act.bind(py), &slot)?;
        let dense = Dense::from_parameters(self.w.clone(), self.b.clone(), activation).py_err()?;
        let mut input = Array2::zeros((0, 0));
        convert::fill(x, &mut input, "x", Layout::Columns)?;
        let out = dense.forward(input.view());
        if let Some(e) = slot.lock().unwrap_or_else(PoisonError::into_inner).take() {
            return Err(e);
        }
        Ok(PyArray2::from_owned_array(py, out.py_err()?).into_any())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Layer({}, {}, {})",
            self.ins,
            self.outs,
            self.act.bind(py).repr()?
        ))
    }
}

impl Layer {
    fn parameter_view<'py>(slf: &Bound<'py, Self>, weights: bool) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let layer = slf.borrow();
        match &layer.attached {
            None => {
                let array = if weights {
                    layer.w.view()
                } else {
                    layer.b.view()
                };
                // SAFETY: `w` and `b` are only ever assigned in place, never reallocated,
                // and the layer (the owner) lives as long as the view.
                unsafe { view(array, slf.clone().into_any()) }
            }
            Some((core, index)) => {
                let mut guard = core.lock()?;
                let first_layer = *index == 0;
                if first_layer {
                    // Counted before the view reads the parameters, which the
                    // `stream.network()` below brings up to date.
                    core.first_layer_views.fetch_add(1, Ordering::SeqCst);
                }
                let owner = Bound::new(
                    py,
                    Storage {
                        core: core.clone(),
                        first_layer,
                    },
                )?
                .into_any();
                dispatch!(&mut *guard, e => {
                    let dense = &flushed(&mut e.stream, core)?.layers()[*index];
                    let array = if weights { dense.weights() } else { dense.bias() };
                    // SAFETY: the engine's parameters are updated in place and never
                    // reallocated (no method of this module replaces a layer of a built
                    // network), and `owner` keeps the engine alive as long as the view.
                    unsafe { view(array, owner) }
                })
            }
        }
    }

    fn set_parameter(&mut self, value: &Bound<'_, PyAny>, weights: bool) -> PyResult<()> {
        let (name, shape) = if weights {
            ("_W", (self.outs, self.ins))
        } else {
            ("_b", (self.outs, 1))
        };
        let new = parameter(value, name, shape)?;
        match &self.attached {
            None => {
                if weights {
                    self.w.assign(&new)
                } else {
                    self.b.assign(&new)
                }
            }
            Some((core, index)) => {
                let mut guard = core.lock()?;
                dispatch!(&mut *guard, e => assign_parameter(flushed(&mut e.stream, core)?, *index, weights, &new))
            }
        }
        Ok(())
    }
}

/// Writes new values into the weights (or the bias) of layer `index`.
fn assign_parameter<F: Real>(
    net: &mut NeuralNetwork<F>,
    index: usize,
    weights: bool,
    new: &Array2<f64>,
) {
    let (mut w, mut b) = net.parameters_mut(index).expect("index < layers");
    let target = if weights { &mut w } else { &mut b };
    target.assign(&new.mapv(F::from_f64));
}

/// Builds the engine of a network from its layers and loss.
fn build<F: Real>(
    layers: &[Bound<'_, Layer>],
    loss: &Bound<'_, PyAny>,
    learning_rate: f64,
    slot: &ErrorSlot,
) -> PyResult<(NeuralNetwork<F>, bool)> {
    let py = loss.py();
    let mut python_parts = false;
    let mut dense = Vec::with_capacity(layers.len());
    for layer in layers {
        let layer = layer.borrow();
        let (activation, in_python) = functions::activation_for::<F>(layer.act.bind(py), slot)?;
        python_parts |= in_python;
        dense.push(
            Dense::from_parameters(
                layer.w.mapv(F::from_f64),
                layer.b.mapv(F::from_f64),
                activation,
            )
            .py_err()?,
        );
    }
    let (loss, in_python) = functions::loss_for::<F>(loss, slot)?;
    python_parts |= in_python;
    let mut net =
        NeuralNetwork::with_boxed_loss(dense, loss, F::from_f64(learning_rate)).py_err()?;
    if python_parts {
        // Every step on the calling thread, which the callbacks take the GIL from.
        net.set_threads(1).py_err()?;
    }
    Ok((net, python_parts))
}

/// A stack of compatible layers, a loss function and a learning rate, as in the original:
/// ``forward_pass(x)``, ``loss(values, expected)`` and ``train(x, t)`` (one step of
/// stochastic gradient descent on one sample, a column ``x``).
///
/// Beyond the original, in Python's conventions (one sample per row, as NumPy,
/// scikit-learn and PyTorch hold data): ``fit``, ``predict``, ``predict_proba``,
/// ``evaluate``; and ``backprop`` (the article's ``dxs, dWs, dbs``), ``save`` and ``load``
/// (safetensors files, shared with the Rust side).
///
/// ``dtype`` is ``"float64"`` (the original's, and the default) or ``"float32"``.
#[pyclass(module = "nn", name = "NeuralNetwork", subclass)]
pub(crate) struct Network {
    core: Arc<Core>,
    layers: Vec<Py<Layer>>,
    loss: Py<PyAny>,
    /// Whether a class index is a valid target of `train` (not for MSE, where the
    /// original would compare every output with the number).
    allow_classes: bool,
    /// The optimizer object last given to `fit`: the same object keeps its state.
    optimizer: Mutex<Option<Py<PyAny>>>,
}

/// Whether `loss` takes class indices in `train(x, t)`.
fn takes_classes(loss: &Bound<'_, PyAny>) -> bool {
    loss.cast_exact::<MSELoss>().is_err()
}

impl Network {
    fn from_parts(
        layers: Vec<Bound<'_, Layer>>,
        loss: &Bound<'_, PyAny>,
        net: Net,
        python_parts: bool,
        slot: ErrorSlot,
    ) -> Self {
        let core = Arc::new(Core {
            net: Mutex::new(net),
            slot,
            python_parts,
            first_layer_views: AtomicUsize::new(0),
        });
        for (i, layer) in layers.iter().enumerate() {
            layer.borrow_mut().attached = Some((core.clone(), i));
        }
        Network {
            core,
            layers: layers.into_iter().map(Bound::unbind).collect(),
            loss: loss.clone().unbind(),
            allow_classes: takes_classes(loss),
            optimizer: Mutex::new(None),
        }
    }
}

/// The rows of `x` as the engine's columns, with the target `y` (class labels, or values
/// with one row per sample), converted or borrowed.
struct Data<'py, F: Real> {
    x: convert::Matrix<'py, F>,
    values: Option<Array2<F>>,
    classes: Option<Vec<usize>>,
}

impl<'py, F: Real> Data<'py, F> {
    fn new(x: &Bound<'py, PyAny>, y: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        let x = convert::matrix::<F>(x, what, Layout::Rows)?;
        if let Some(classes) = convert::class_indices(y, "y")? {
            return Ok(Data {
                x,
                values: None,
                classes: Some(classes),
            });
        }
        let mut values = Array2::zeros((0, 0));
        if convert::is_1d(y) {
            // One value per sample: a regression target of one output.
            convert::fill(
                &y.call_method1("reshape", (-1, 1))?,
                &mut values,
                "y",
                Layout::Rows,
            )?;
        } else {
            convert::fill(y, &mut values, "y", Layout::Rows)?;
        }
        Ok(Data {
            x,
            values: Some(values),
            classes: None,
        })
    }

    fn samples(&self) -> PyResult<Samples<'_, F>> {
        let target = match (&self.classes, &self.values) {
            (Some(c), _) => Target::Classes(c),
            (None, Some(v)) => Target::Values(v.view()),
            (None, None) => unreachable!("one of the two is set"),
        };
        Samples::from_rows(self.x.view(), target).py_err()
    }
}

/// Checks that `rows` holds one sample of `ins` features per row.
fn check_rows<F>(rows: ArrayView2<'_, F>, ins: usize, what: &str) -> PyResult<()> {
    let (n, features) = rows.dim();
    if features == ins {
        return Ok(());
    }
    let hint = if n == ins {
        format!("; its transpose would fit ({what} holds one sample per row: pass {what}.T)")
    } else {
        String::new()
    };
    Err(PyValueError::new_err(format!(
        "{what} has shape ({n}, {features}), expected one sample of {ins} features per row, \
         ({n}, {ins}){hint}"
    )))
}

fn forward<'py, F: Real>(
    py: Python<'py>,
    core: &Core,
    e: &mut Engine<F>,
    x: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    convert::fill(x, &mut e.x, "x", Layout::Columns)?;
    let (net, x) = (&*flushed(&mut e.stream, core)?, e.x.view());
    // One column takes the engine's per-sample kernels (Model::forward_pass).
    let out = if core.detach(x.ncols()) {
        py.detach(|| net.forward_pass(x))
    } else {
        net.forward_pass(x)
    };
    Ok(PyArray2::from_owned_array(py, core.finish(out)?).into_any())
}

fn train<F: Real>(
    py: Python<'_>,
    core: &Core,
    e: &mut Engine<F>,
    x: &Bound<'_, PyAny>,
    t: &Bound<'_, PyAny>,
    allow_classes: bool,
) -> PyResult<()> {
    convert::fill(x, &mut e.x, "x", Layout::Columns)?;
    let target = functions::target_of(t, &mut e.t, &mut e.classes, allow_classes)?;
    // NumPy views of the first layer's parameters must see every update at once.
    let deferring = core.first_layer_views.load(Ordering::SeqCst) == 0;
    let (stream, x) = (&mut e.stream, e.x.view());
    let mut step = move || {
        if deferring {
            stream.push(x, target)
        } else {
            stream.network().train(x, target).map(|_| ())
        }
    };
    let result = if core.detach(x.ncols()) {
        py.detach(step)
    } else {
        step()
    };
    core.finish(result)
}

fn to_list<'py, F: Real>(py: Python<'py>, arrays: Vec<Array2<F>>) -> PyResult<Bound<'py, PyList>> {
    PyList::new(
        py,
        arrays
            .into_iter()
            .map(|a| PyArray2::from_owned_array(py, a)),
    )
}

#[allow(clippy::too_many_arguments)]
fn fit<'py, F: Real>(
    py: Python<'py>,
    core: &Core,
    e: &mut Engine<F>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    validation: Option<&Bound<'py, PyAny>>,
    options: &FitOptions,
    verbose: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let data = Data::<F>::new(x, y, "X")?;
    check_rows(data.x.view(), flushed(&mut e.stream, core)?.ins(), "X")?;
    let train = data.samples()?;
    let validation_data = match validation {
        None => None,
        Some(pair) => {
            let pair = pair.cast::<PyTuple>().map_err(|_| {
                PyTypeError::new_err("validation must be a tuple (X_validation, y_validation)")
            })?;
            if pair.len() != 2 {
                return Err(PyTypeError::new_err(
                    "validation must be a tuple (X_validation, y_validation)",
                ));
            }
            let data = Data::<F>::new(&pair.get_item(0)?, &pair.get_item(1)?, "X_validation")?;
            check_rows(
                data.x.view(),
                flushed(&mut e.stream, core)?.ins(),
                "X_validation",
            )?;
            Some(data)
        }
    };
    let validation = validation_data.as_ref().map(Data::samples).transpose()?;
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut interrupted: Option<PyErr> = None;
    let net = flushed(&mut e.stream, core)?;
    let on_progress = |progress: Progress<'_>| -> std::ops::ControlFlow<()> {
        let outcome = Python::attach(|py| -> PyResult<()> {
            match progress {
                // Ctrl-C (and any other signal handler's exception) stops within a batch.
                Progress::Batch { .. } => py.check_signals(),
                Progress::Epoch(report) if verbose => {
                    let mut line =
                        format!("epoch {}: loss {:.4}", report.epoch + 1, report.train_loss);
                    if let Some(a) = report.train_accuracy {
                        line += &format!(", accuracy {:.2}%", 100.0 * a);
                    }
                    if let Some(l) = report.validation_loss {
                        line += &format!(", validation loss {l:.4}");
                    }
                    if let Some(a) = report.validation_accuracy {
                        line += &format!(", validation accuracy {:.2}%", 100.0 * a);
                    }
                    line += &format!(" ({:.2} s)", report.seconds);
                    py.import("builtins")?.getattr("print")?.call1((line,))?;
                    Ok(())
                }
                _ => Ok(()),
            }
        });
        match outcome {
            Ok(()) => std::ops::ControlFlow::Continue(()),
            Err(error) => {
                interrupted = Some(error);
                std::ops::ControlFlow::Break(())
            }
        }
    };
    let result = if core.python_parts {
        net.fit_with(train, validation, options, &mut rng, on_progress)
    } else {
        py.detach(|| net.fit_with(train, validation, options, &mut rng, on_progress))
    };
    if let Some(error) = interrupted {
        return Err(error);
    }
    let history = core.finish(result)?;
    let dict = PyDict::new(py);
    let column = |f: &dyn Fn(&nn_train::EpochReport) -> Option<f64>| -> Vec<Option<f64>> {
        history.epochs.iter().map(f).collect()
    };
    dict.set_item("loss", column(&|r| Some(r.train_loss)))?;
    if matches!(train.targets(), Target::Classes(_)) {
        dict.set_item("accuracy", column(&|r| r.train_accuracy))?;
    }
    if validation.is_some() {
        dict.set_item("val_loss", column(&|r| r.validation_loss))?;
        if matches!(validation.map(|v| v.targets()), Some(Target::Classes(_))) {
            dict.set_item("val_accuracy", column(&|r| r.validation_accuracy))?;
        }
    }
    dict.set_item("learning_rate", column(&|r| Some(r.learning_rate)))?;
    dict.set_item("seconds", column(&|r| Some(r.seconds)))?;
    Ok(dict)
}

fn evaluate<'py, F: Real>(
    py: Python<'py>,
    core: &Core,
    e: &mut Engine<F>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    batch_size: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let data = Data::<F>::new(x, y, "X")?;
    check_rows(data.x.view(), flushed(&mut e.stream, core)?.ins(), "X")?;
    let samples = data.samples()?;
    let net = &*flushed(&mut e.stream, core)?;
    let result = if core.python_parts {
        net.evaluate(samples, batch_size)
    } else {
        py.detach(|| net.evaluate(samples, batch_size))
    };
    let evaluation = core.finish(result)?;
    let dict = PyDict::new(py);
    dict.set_item("loss", evaluation.loss)?;
    if let Some(a) = evaluation.accuracy {
        dict.set_item("accuracy", a)?;
    }
    if let Some(v) = evaluation.mean_absolute_error {
        dict.set_item("mean_absolute_error", v)?;
    }
    if let Some(v) = evaluation.mean_squared_error {
        dict.set_item("mean_squared_error", v)?;
    }
    if let Some(v) = evaluation.r_squared {
        dict.set_item("r_squared", v)?;
    }
    dict.set_item("samples", evaluation.samples)?;
    Ok(dict)
}

/// The Python activation object for an engine activation's name.
fn activation_object<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    Ok(match name {
        "relu" => py.get_type::<ReLU>().call0()?,
        "sigmoid" => py.get_type::<Sigmoid>().call0()?,
        "tanh" => py.get_type::<Tanh>().call0()?,
        "identity" => py.get_type::<Identity>().call0()?,
        other => {
            // Every other name the Rust loader accepts is `leaky_relu(α)`; anything else
            // (an activation added on the Rust side and not here) is refused rather than
            // read as some other function.
            let alpha = other
                .strip_prefix("leaky_relu(")
                .and_then(|a| a.strip_suffix(')'))
                .and_then(|a| a.trim().parse::<f64>().ok())
                .ok_or_else(|| PyValueError::new_err(format!("unknown activation {other:?}")))?;
            py.get_type::<LeakyReLU>().call1((alpha,))?
        }
    })
}

fn loaded<F: Real>(
    py: Python<'_>,
    net: NeuralNetwork<F>,
    wrap: fn(Engine<F>) -> Net,
) -> PyResult<Network> {
    let mut layers = Vec::new();
    for dense in net.layers() {
        let act = activation_object(py, &dense.activation().name())?;
        let layer = Layer {
            ins: dense.ins(),
            outs: dense.outs(),
            act: act.unbind(),
            w: dense.weights().mapv(|v| v.as_f64()),
            b: dense.bias().mapv(|v| v.as_f64()),
            attached: None,
        };
        layers.push(Bound::new(py, layer)?);
    }
    let loss = match net.loss_function().name().as_str() {
        "mse" => py.get_type::<MSELoss>().call0()?,
        "cross_entropy" => py.get_type::<CrossEntropyLoss>().call0()?,
        other => return Err(PyValueError::new_err(format!("unknown loss {other:?}"))),
    };
    Ok(Network::from_parts(
        layers,
        &loss,
        wrap(Engine::new(net)),
        false,
        ErrorSlot::default(),
    ))
}

#[pymethods]
impl Network {
    #[new]
    #[pyo3(signature = (layers, loss_function, learning_rate, *, dtype = "float64"))]
    fn new(
        layers: &Bound<'_, PyAny>,
        loss_function: &Bound<'_, PyAny>,
        learning_rate: f64,
        dtype: &str,
    ) -> PyResult<Self> {
        let mut list = Vec::new();
        for item in layers.try_iter()? {
            let item = item?;
            let layer = item.cast_into::<Layer>().map_err(|e| {
                PyTypeError::new_err(format!(
                    "layers must be Layer objects, got {}",
                    e.into_inner()
                        .repr()
                        .map(|r| r.to_string())
                        .unwrap_or_default()
                ))
            })?;
            list.push(layer);
        }
        if list.is_empty() {
            return Err(to_py(Error::EmptyNetwork));
        }
        for (i, pair) in list.windows(2).enumerate() {
            let (from, to) = (pair[0].borrow(), pair[1].borrow());
            if from.outs != to.ins {
                return Err(PyValueError::new_err(format!(
                    "Layers should have compatible shapes: {}",
                    Error::LayerMismatch {
                        index: i,
                        outs: from.outs,
                        ins: to.ins,
                    }
                )));
            }
        }
        for (i, layer) in list.iter().enumerate() {
            if layer.borrow().attached.is_some() {
                return Err(PyValueError::new_err(format!(
                    "layer {i} already belongs to a network: build each network from new \
                     Layer objects (a layer's weights live in its network)"
                )));
            }
            if list[..i].iter().any(|other| other.is(layer)) {
                return Err(PyValueError::new_err(format!(
                    "layer {i} appears twice in the list: build each layer once"
                )));
            }
        }
        let slot = ErrorSlot::default();
        let (net, python_parts) = match dtype {
            "float64" | "f64" | "double" => {
                let (net, p) = build::<f64>(&list, loss_function, learning_rate, &slot)?;
                (Net::F64(Engine::new(net)), p)
            }
            "float32" | "f32" | "single" => {
                let (net, p) = build::<f32>(&list, loss_function, learning_rate, &slot)?;
                (Net::F32(Engine::new(net)), p)
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "dtype = {other:?}: use \"float64\" or \"float32\""
                )))
            }
        };
        Ok(Network::from_parts(
            list,
            loss_function,
            net,
            python_parts,
            slot,
        ))
    }

    /// The network's output for ``x``: a column ``(ins, 1)`` (or one column per sample) of
    /// any real or integer dtype. Returns a float column ``(outs, 1)`` (``(outs, n)``).
    fn forward_pass<'py>(&self, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = x.py();
        let mut guard = self.core.lock()?;
        dispatch!(&mut *guard, e => forward(py, &self.core, e, x))
    }

    /// The loss of the output ``values`` against ``expected``: a column of values of the
    /// same shape (MSE), or a class index (cross-entropy).
    fn loss(&self, values: &Bound<'_, PyAny>, expected: &Bound<'_, PyAny>) -> PyResult<f64> {
        let mut guard = self.core.lock()?;
        dispatch!(&mut *guard, e => {
            let mut v = Array2::zeros((0, 0));
            convert::fill(values, &mut v, "values", Layout::Columns)?;
            let target = functions::target_of(expected, &mut e.t, &mut e.classes, self.allow_classes)?;
            let loss = self.core.finish(flushed(&mut e.stream, &self.core)?.loss(v.view(), target))?;
            Ok(loss.as_f64())
        })
    }

    /// One step of stochastic gradient descent on ``x`` (a column ``(ins, 1)``, or several
    /// columns for one step on their mean gradient) and its target ``t``: a column of
    /// expected values ``(outs, 1)`` for ``MSELoss`` (any numeric dtype), or a class index
    /// (an ``int`` or a NumPy integer) for ``CrossEntropyLoss``. Returns ``None``, as the
    /// original; raises ``DivergedError`` (and changes nothing) if the step would make a
    /// weight NaN or infinite.
    ///
    /// After 64 one-sample steps in a row, steps are queued and trained five at a time
    /// with one pass over the first layer's weights (the same SGD steps, in order, to
    /// rounding); anything that reads the network trains the queue first. A queued step
    /// that diverges raises ``DivergedError`` (naming its step) from the call that trained
    /// it: a later ``train``, or a read such as ``forward_pass``; that step changes
    /// nothing, and the samples queued after it are dropped.
    fn train(&self, x: &Bound<'_, PyAny>, t: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = x.py();
        let mut guard = self.core.lock()?;
        dispatch!(&mut *guard, e => train(py, &self.core, e, x, t, self.allow_classes))
    }

    /// Backpropagation without an update: the gradients of the loss at ``(x, t)`` as the
    /// article's three lists ``dxs, dWs, dbs``: ``dxs[i]`` of each layer input ``xs[i]``
    /// (``xs[0] = x``, the last is the output), ``dWs[i]`` and ``dbs[i]`` of each layer's
    /// weights and bias (their shapes). ``x`` and ``t`` are as in :meth:`train`.
    fn backprop<'py>(
        &self,
        x: &Bound<'py, PyAny>,
        t: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let py = x.py();
        let mut guard = self.core.lock()?;
        dispatch!(&mut *guard, e => {
            convert::fill(x, &mut e.x, "x", Layout::Columns)?;
            let target = functions::target_of(t, &mut e.t, &mut e.classes, self.allow_classes)?;
            let g = self.core.finish(flushed(&mut e.stream, &self.core)?.backprop(e.x.view(), target))?;
            PyTuple::new(py, [
                to_list(py, g.dxs)?.into_any(),
                to_list(py, g.dws)?.into_any(),
                to_list(py, g.dbs)?.into_any(),
            ])
        })
    }

    /// Trains on ``X`` (one sample per row, ``(n, ins)``) and ``y`` (``n`` class indices,
    /// or values ``(n, outs)``) for ``epochs`` passes of shuffled mini-batches of
    /// ``batch_size``, with ``optimizer`` (``nn.SGD(...)`` or ``nn.Adam(...)``; without one,
    /// the optimizer in use: the network's plain SGD at ``learning_rate``, or the one last
    /// given; giving the same object again keeps its state, a new one starts afresh). ``validation=(X_val, y_val)`` is evaluated after each epoch. ``seed`` seeds
    /// the shuffle. The GIL is released while the engine trains; Ctrl-C stops within a
    /// batch (``KeyboardInterrupt``; the weights keep the steps already taken).
    ///
    /// Returns the history: a dict of per-epoch lists ``loss``, ``accuracy`` (class
    /// targets), ``val_loss`` and ``val_accuracy`` (with ``validation``),
    /// ``learning_rate`` and ``seconds``.
    #[pyo3(signature = (x, y, *, epochs = 1, batch_size = 32, optimizer = None, validation = None, seed = None, shuffle = true, verbose = false))]
    #[allow(clippy::too_many_arguments)]
    fn fit<'py>(
        &self,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        epochs: i64,
        batch_size: i64,
        optimizer: Option<&Bound<'py, PyAny>>,
        validation: Option<&Bound<'py, PyAny>>,
        seed: Option<i64>,
        shuffle: bool,
        verbose: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let py = x.py();
        let mut guard = self.core.lock()?;
        if let Some(optimizer) = optimizer {
            let mut last = self
                .optimizer
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !last.as_ref().is_some_and(|o| o.bind(py).is(optimizer)) {
                dispatch!(&mut *guard, e => flushed(&mut e.stream, &self.core)?.set_boxed_optimizer(optimizer_for(optimizer)?));
                *last = Some(optimizer.clone().unbind());
            }
        }
        let options = FitOptions {
            epochs: count(epochs, "epochs")?,
            batch_size: count(batch_size, "batch_size")?,
            shuffle,
            report_every: 1,
            seed: seed.map_or_else(|| rand::rng().random(), |s| s as u64),
            ..FitOptions::default()
        };
        dispatch!(&mut *guard, e => fit(py, &self.core, e, x, y, validation, &options, verbose))
    }

    /// The predicted class of each row of ``X`` (``(n, ins)``): the index of its largest
    /// output, as an ``int64`` array of ``n``.
    fn predict<'py>(&self, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = x.py();
        let mut guard = self.core.lock()?;
        dispatch!(&mut *guard, e => {
            let rows = convert::matrix::<_>(x, "X", Layout::Rows)?;
            let (net, view) = (&*flushed(&mut e.stream, &self.core)?, rows.view());
            check_rows(view, net.ins(), "X")?;
            let result = if self.core.detach(view.nrows()) {
                py.detach(|| net.predict(view.t()))
            } else {
                net.predict(view.t())
            };
            let classes: Vec<i64> = self.core.finish(result)?.into_iter().map(|c| c as i64).collect();
            Ok(PyArray1::from_vec(py, classes).into_any())
        })
    }

    /// Class probabilities for each row of ``X``: the softmax of its outputs (logits),
    /// ``(n, outs)``, each row summing to 1.
    fn predict_proba<'py>(&self, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = x.py();
        let mut guard = self.core.lock()?;
        dispatch!(&mut *guard, e => {
            let rows = convert::matrix::<_>(x, "X", Layout::Rows)?;
            let (net, view) = (&*flushed(&mut e.stream, &self.core)?, rows.view());
            check_rows(view, net.ins(), "X")?;
            let result = if self.core.detach(view.nrows()) {
                py.detach(|| net.predict_probabilities(view.t()))
            } else {
                net.predict_probabilities(view.t())
            };
            let p = self.core.finish(result)?;
            Ok(PyArray2::from_owned_array(py, p.t().as_standard_layout().into_owned()).into_any())
        })
    }

    /// The mean loss over ``X``, ``y`` (as in :meth:`fit`), with the accuracy for class
    /// targets, or the mean absolute and squared errors and R² for values: a dict.
    #[pyo3(signature = (x, y, *, batch_size = 256))]
    fn evaluate<'py>(
        &self,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        batch_size: i64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let py = x.py();
        let batch_size = count(batch_size, "batch_size")?;
        let mut guard = self.core.lock()?;
        dispatch!(&mut *guard, e => evaluate(py, &self.core, e, x, y, batch_size))
    }

    /// Saves the network (layers, activations, loss, learning rate, dtype) to a
    /// safetensors file, the format of the Rust side's ``NeuralNetwork::save``. The write
    /// is atomic.
    fn save(&self, path: std::path::PathBuf) -> PyResult<()> {
        let mut guard = self.core.lock()?;
        dispatch!(&mut *guard, e => self.core.finish(flushed(&mut e.stream, &self.core)?.save(&path)))
    }

    /// Loads a network saved by :meth:`save` or by the Rust side, in the file's dtype.
    #[staticmethod]
    fn load(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        // The file is read once; its bytes are parsed as a float64 network, else as a
        // float32 one (each parse checks the header's dtype first).
        let bytes = std::fs::read(&path).map_err(|source| {
            to_py(Error::Io {
                path: path.clone(),
                source,
            })
        })?;
        match NeuralNetwork::<f64>::from_safetensors_bytes(&bytes, &path) {
            Ok(net) => loaded(py, net, Net::F64),
            Err(f64_error) => match NeuralNetwork::<f32>::from_safetensors_bytes(&bytes, &path) {
                Ok(net) => loaded(py, net, Net::F32),
                Err(_) => Err(to_py(f64_error)),
            },
        }
    }

    /// The learning rate (of the optimizer in use); assigning changes it.
    #[getter]
    fn lr(&self) -> PyResult<f64> {
        let mut guard = self.core.lock()?;
        Ok(
            dispatch!(&mut *guard, e => flushed(&mut e.stream, &self.core)?.learning_rate().as_f64()),
        )
    }

    #[setter]
    fn set_lr(&self, value: f64) -> PyResult<()> {
        let mut guard = self.core.lock()?;
        dispatch!(&mut *guard, e => flushed(&mut e.stream, &self.core)?.set_learning_rate(Float::from_f64(value)).py_err())
    }

    /// The layers, first to last (a new list of the same ``Layer`` objects).
    #[getter(_layers)]
    fn layers_private<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.layers.iter().map(|l| l.clone_ref(py)))
    }

    /// The layers, first to last (the same as ``_layers``).
    #[getter]
    fn layers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.layers_private(py)
    }

    /// The loss function given to the constructor.
    #[getter(_loss_function)]
    fn loss_function_private(&self, py: Python<'_>) -> Py<PyAny> {
        self.loss.clone_ref(py)
    }

    /// The loss function given to the constructor (the same as ``_loss_function``).
    #[getter]
    fn loss_function(&self, py: Python<'_>) -> Py<PyAny> {
        self.loss.clone_ref(py)
    }

    /// ``"float64"`` or ``"float32"``.
    #[getter]
    fn dtype(&self) -> PyResult<&'static str> {
        let guard = self.core.lock()?;
        Ok(match &*guard {
            Net::F64(_) => "float64",
            Net::F32(_) => "float32",
        })
    }

    /// Number of training steps taken.
    #[getter]
    fn steps(&self) -> PyResult<u64> {
        let mut guard = self.core.lock()?;
        Ok(dispatch!(&mut *guard, e => flushed(&mut e.stream, &self.core)?.steps()))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let layers = self
            .layers
            .iter()
            .map(|l| l.bind(py).borrow().__repr__(py))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(format!(
            "NeuralNetwork([{}], {}, {}, dtype={:?})",
            layers.join(", "),
            self.loss.bind(py).repr()?,
            self.lr()?,
            self.dtype()?
        ))
    }
}
