//! PyTorch's own layout: the `state_dict` of an `nn.Sequential` of `Linear` layers, as
//! `safetensors.torch.save_file(model.state_dict(), path)` writes it.
//!
//! Its tensors are named `{index}.weight` (`[outs, ins]`, the shape of `W`) and
//! `{index}.bias` (`[outs]`), where `index` is the `Linear` module's position in the
//! `Sequential` (0, 2, 4, … when an activation module sits between them), possibly behind
//! a prefix such as `net.` for a `Sequential` held as an attribute. There is no
//! architecture metadata: the activations and the loss are given in code.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use ndarray::Array2;
use nn_core::{Activation, Error, Float, Loss, Result};
use nn_layers::Dense;
use safetensors::tensor::TensorInfo;

use super::read_file;
use super::reader::FileReader;
use super::write_atomically;
use crate::NeuralNetwork;

impl<F: Float> NeuralNetwork<F> {
    /// Loads a PyTorch `state_dict` saved as safetensors from `path` (see
    /// [`NeuralNetwork::from_torch_bytes`]).
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read; otherwise those of
    /// [`NeuralNetwork::from_torch_bytes`], naming `path`.
    pub fn load_torch(
        path: impl AsRef<Path>,
        activations: Vec<Box<dyn Activation<F>>>,
        loss: Box<dyn Loss<F>>,
        learning_rate: F,
    ) -> Result<Self> {
        let path = path.as_ref();
        Self::from_torch_bytes(&read_file(path)?, path, activations, loss, learning_rate)
    }

    /// A network from the bytes of a PyTorch `state_dict` in safetensors form, with
    /// `activations[i]` after the `i`-th `Linear` layer (in the order of their indices)
    /// and `loss` for training. `source` names the bytes in errors.
    ///
    /// For `nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))` the file
    /// holds `0.weight`, `0.bias`, `2.weight` and `2.bias`, and the activations are
    /// `[Relu, Identity]`. Tensors may be `F16`, `BF16`, `F32` or `F64`; they are
    /// converted to `F`. A `Linear(bias=False)` has no bias tensor: its bias is 0.
    ///
    /// # Errors
    /// [`Error::Format`] naming `source` and a byte offset for bytes that are not a
    /// safetensors file, a tensor that is not a `Linear` layer's (its name is not
    /// `[prefix]{index}.weight` or `.bias`, or the prefixes differ), a missing weight, a
    /// shape that is not `[outs, ins]` / `[outs]`, another dtype, or a non-finite value;
    /// [`Error::ShapeMismatch`] when the number of layers differs from the number of
    /// activations; [`Error::LayerMismatch`] if consecutive layers do not fit;
    /// [`Error::InvalidHyperparameter`] for a learning rate that is not finite and
    /// positive.
    ///
    /// # Example
    /// ```no_run
    /// use nn_layers::{Identity, Relu};
    /// use nn_train::NeuralNetwork;
    ///
    /// // Saved in Python with safetensors.torch.save_file(model.state_dict(), "model.safetensors").
    /// let net = NeuralNetwork::<f32>::load_torch(
    ///     "model.safetensors",
    ///     vec![Box::new(Relu), Box::new(Identity)],
    ///     Box::new(nn_loss::CrossEntropy),
    ///     1e-3,
    /// )?;
    /// # Ok::<(), nn_core::Error>(())
    /// ```
    pub fn from_torch_bytes(
        bytes: &[u8],
        source: impl AsRef<Path>,
        activations: Vec<Box<dyn Activation<F>>>,
        loss: Box<dyn Loss<F>>,
        learning_rate: F,
    ) -> Result<Self> {
        let reader = FileReader::new(bytes, source.as_ref())?;
        let tensors = reader.header().tensors();
        let modules = reader.torch_modules(&tensors)?;
        if modules.len() != activations.len() {
            return Err(Error::ShapeMismatch {
                what: "activations (one per Linear layer of the state_dict)".into(),
                expected: (modules.len(), 1),
                actual: (activations.len(), 1),
            });
        }
        let layers = (modules.into_iter().zip(activations))
            .map(|((index, module), activation)| reader.torch_layer(index, module, activation))
            .collect::<Result<Vec<_>>>()?;
        Self::with_boxed_loss(layers, loss, learning_rate)
    }

    /// The bytes of [`NeuralNetwork::save_torch`]'s file.
    ///
    /// # Errors
    /// [`Error::NonFiniteInput`] if a parameter is NaN or infinite.
    pub fn to_torch_bytes(&self) -> Result<Vec<u8>> {
        // What safetensors.torch.save_file writes; readers ignore it.
        let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
        let names = |i: usize| (format!("{}.weight", 2 * i), format!("{}.bias", 2 * i));
        match self.preprocessing() {
            None => self.encode_safetensors(&metadata, &[], names),
            Some(_) => self
                .with_preprocessing_folded()
                .encode_safetensors(&metadata, &[], names),
        }
    }

    /// A copy of the network whose first layer does the preprocessing step's work:
    /// with `x' = (x − s) ⊙ c`,
    ///
    /// ```text
    /// W·x' + b = (W·diag(c))·x + (b − W·diag(c)·s)
    /// ```
    ///
    /// so the first layer becomes `W' = W·diag(c)` (`W'ₒᵢ = Wₒᵢ·cᵢ`) and
    /// `b' = b − W'·s`, and the copy has no preprocessing step. It computes the same
    /// function, up to rounding.
    fn with_preprocessing_folded(&self) -> Self {
        let mut folded = self.clone();
        let Some(p) = self.preprocessing() else {
            return folded;
        };
        let (shift, scale) = (p.shift(), p.scale_factors());
        let (mut weights, mut bias) = folded.parameters_mut(0).expect("a network has a layer");
        for (mut row, b) in weights.rows_mut().into_iter().zip(bias.iter_mut()) {
            row.zip_mut_with(&scale, |w, &c| *w *= c);
            *b -= row.dot(&shift);
        }
        folded
            .set_preprocessing(None)
            .expect("removing a step always succeeds");
        folded
    }

    /// Saves the parameters in PyTorch's layout: tensors `{2i}.weight` and `{2i}.bias` for
    /// layer `i`, in `F`'s dtype, so that in Python
    /// `model.load_state_dict(safetensors.torch.load_file(path))` loads them into
    /// `nn.Sequential(Linear, activation, Linear, activation, …, Linear[, activation])`.
    /// The activations and the loss are not saved (the `Sequential` holds them in
    /// Python); [`NeuralNetwork::save`] keeps them. A [preprocessing
    /// step](NeuralNetwork::set_preprocessing), which a state_dict has no place for, is
    /// folded into the first layer (`W' = W·diag(c)`, `b' = b − W'·s`), so that the
    /// PyTorch model takes raw inputs too and computes the same outputs up to rounding.
    /// The write is atomic, as `save`'s.
    ///
    /// # Errors
    /// [`Error::Io`] naming `path` if the file cannot be written; those of
    /// [`NeuralNetwork::to_torch_bytes`].
    pub fn save_torch(&self, path: impl AsRef<Path>) -> Result<()> {
        let bytes = self.to_torch_bytes()?;
        write_atomically(path, &bytes)
    }
}

/// A `Linear` module's tensors, by its index in the `Sequential`.
#[derive(Default)]
struct Module<'h> {
    weight: Option<(&'h str, &'h TensorInfo)>,
    bias: Option<(&'h str, &'h TensorInfo)>,
}

/// Reading PyTorch's layout with the safetensors reader of nn's own files.
impl FileReader<'_> {
    /// The `Linear` modules of the tensors, in the order of their indices.
    fn torch_modules<'h>(
        &self,
        tensors: &'h HashMap<String, &'h TensorInfo>,
    ) -> Result<Vec<(usize, Module<'h>)>> {
        let mut modules: BTreeMap<usize, Module<'h>> = BTreeMap::new();
        let mut prefix: Option<&str> = None;
        for (name, &info) in tensors {
            let parsed = (name.rsplit_once('.')).and_then(|(stem, kind)| {
                let (before, index) = stem.rsplit_once('.').map_or(("", stem), |(p, i)| (p, i));
                let index: usize = index.parse().ok()?;
                Some((before, index, kind))
            });
            let Some((stem, index, kind)) = parsed else {
                return Err(self.header_error(format!(
                    "tensor {name:?} is not a Linear layer's: its name is not \
                     [prefix.]index.weight or .bias"
                )));
            };
            if *prefix.get_or_insert(stem) != stem {
                return Err(self.header_error(format!(
                    "tensor {name:?} is under another module than {:?}: one Sequential only",
                    prefix.unwrap_or_default()
                )));
            }
            let module = modules.entry(index).or_default();
            let slot = match kind {
                "weight" => &mut module.weight,
                "bias" => &mut module.bias,
                _ => {
                    return Err(self.header_error(format!(
                        "tensor {name:?} is neither a weight nor a bias (only Linear layers \
                         are read)"
                    )))
                }
            };
            // `0.weight` and `00.weight` name the same module: one would be lost.
            if let Some((other, _)) = slot.replace((name, info)) {
                return Err(self.header_error(format!(
                    "tensors {other:?} and {name:?} are the same parameter of module {index}"
                )));
            }
        }
        if modules.is_empty() {
            return Err(self.header_error("the state_dict holds no tensor"));
        }
        Ok(modules.into_iter().collect())
    }

    /// The dense layer of module `index`.
    fn torch_layer<F: Float>(
        &self,
        index: usize,
        module: Module<'_>,
        activation: Box<dyn Activation<F>>,
    ) -> Result<Dense<F>> {
        let Some((weight_name, weight)) = module.weight else {
            return Err(self.header_error(format!("module {index} has a bias but no weight")));
        };
        let &[outs, ins] = &weight.shape[..] else {
            return Err(self.header_error(format!(
                "tensor {weight_name} has shape {:?}; a Linear weight is [outs, ins]",
                weight.shape
            )));
        };
        let weights = self.float_values::<F>(weight_name, weight)?;
        let bias = match module.bias {
            None => vec![F::zero(); outs],
            Some((name, info)) if info.shape == [outs] => self.float_values::<F>(name, info)?,
            Some((name, info)) => {
                return Err(self.header_error(format!(
                    "tensor {name} has shape {:?}, but its weight has {outs} rows",
                    info.shape
                )))
            }
        };
        let weights = Array2::from_shape_vec((outs, ins), weights)
            .expect("the safetensors crate checked the data's size against the shape");
        let bias = Array2::from_shape_vec((outs, 1), bias).expect("checked above");
        Dense::from_parameters(weights, bias, activation)
    }
}
