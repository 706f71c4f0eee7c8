//! [`NetworkBuilder`]: a network described layer by layer, without repeating sizes or
//! passing a generator to each layer.

use nn_core::{Activation, Error, Float, Init, Loss, Preprocessing, Result};
use nn_layers::Dense;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::optimizer::Optimizer;
use crate::NeuralNetwork;

/// One layer of a [`NetworkBuilder`], before its weights are drawn.
#[derive(Debug)]
struct LayerPlan<F: Float> {
    outs: usize,
    activation: Box<dyn Activation<F>>,
    init: Option<Init>,
    /// The rate of the dropout on the layer's inputs, if any.
    dropout: Option<f64>,
}

/// Builds a [`NeuralNetwork`] layer by layer: each layer takes the previous one's outputs
/// as its inputs, and the weights are drawn from one generator seeded by
/// [`seed`](Self::seed). Made by [`NeuralNetwork::builder`].
///
/// Each layer's weights are drawn with its own initialisation if given
/// ([`dense_with_init`](Self::dense_with_init)), else the builder's ([`init`](Self::init)),
/// else the one that suits its activation: He (normal) for ReLU and LeakyReLU,
/// Xavier (normal) for the others. The weights of layer 0 are drawn first, then its bias,
/// then layer 1's, and so on: a builder seeded with `s` gives the network
/// `Dense::new` gives, layer by layer, with `StdRng::seed_from_u64(s)`.
///
/// A network needs a loss, and either an optimizer or a learning rate (plain SGD at that
/// rate, the article's).
///
/// # Example
/// ```
/// use nn_core::Init;
/// use nn_layers::{Identity, Relu};
/// use nn_loss::CrossEntropy;
/// use nn_train::{Adam, NeuralNetwork};
///
/// let net = NeuralNetwork::<f32>::builder(784)
///     .dense(256, Relu)
///     .dense(128, Relu)
///     .dense(10, Identity)
///     .init(Init::HeUniform)
///     .loss(CrossEntropy)
///     .optimizer(Adam::new(1e-3)?)
///     .seed(0)
///     .build()?;
/// assert_eq!((net.ins(), net.outs(), net.parameter_count()), (784, 10, 235_146));
/// assert_eq!(net.learning_rate(), 1e-3);
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until build() is called"]
pub struct NetworkBuilder<F: Float> {
    ins: usize,
    layers: Vec<LayerPlan<F>>,
    init: Option<Init>,
    loss: Option<Box<dyn Loss<F>>>,
    optimizer: Option<Box<dyn Optimizer<F>>>,
    learning_rate: Option<F>,
    seed: u64,
    preprocessing: Option<Preprocessing<F>>,
    class_names: Option<Vec<String>>,
    /// The rate of a `.dropout(..)` waiting for the layer it comes before.
    pending_dropout: Option<f64>,
    /// Whether two `.dropout(..)` came before one layer.
    repeated_dropout: bool,
}

impl<F: Float> NeuralNetwork<F> {
    /// A [`NetworkBuilder`] for a network of `ins` inputs.
    pub fn builder(ins: usize) -> NetworkBuilder<F> {
        NetworkBuilder {
            ins,
            layers: Vec::new(),
            init: None,
            loss: None,
            optimizer: None,
            learning_rate: None,
            seed: 0,
            preprocessing: None,
            class_names: None,
            pending_dropout: None,
            repeated_dropout: false,
        }
    }
}

impl<F: Float> NetworkBuilder<F> {
    /// Adds a dense layer of `outs` outputs with `activation`.
    pub fn dense(self, outs: usize, activation: impl Activation<F> + 'static) -> Self {
        self.layer(outs, Box::new(activation), None)
    }

    /// Adds a dense layer of `outs` outputs with `activation`, its weights drawn with
    /// `init` whatever the builder's [`init`](Self::init).
    pub fn dense_with_init(
        self,
        outs: usize,
        activation: impl Activation<F> + 'static,
        init: Init,
    ) -> Self {
        self.layer(outs, Box::new(activation), Some(init))
    }

    /// Adds a dense layer with an activation already boxed (e.g. from
    /// `nn_layers::parse_activation`).
    pub fn layer(
        mut self,
        outs: usize,
        activation: Box<dyn Activation<F>>,
        init: Option<Init>,
    ) -> Self {
        self.layers.push(LayerPlan {
            outs,
            activation,
            init,
            dropout: self.pending_dropout.take(),
        });
        self
    }

    /// Dropout on the inputs of the next layer: in training steps each is dropped with
    /// probability `rate` and the others scaled by `1/(1 - rate)` (see
    /// `nn_layers::Dense::with_dropout`); inference never drops. Written where PyTorch's
    /// `Dropout(rate)` goes in a `Sequential`: `.dense(256, Relu).dropout(0.5).dense(10,
    /// Identity)` drops units of the 256. Before the first layer it drops the network's
    /// inputs.
    ///
    /// The masks are drawn from the network's own generator, seeded by
    /// [`seed`](Self::seed) (see `NeuralNetwork::seed_dropout`).
    pub fn dropout(mut self, rate: f64) -> Self {
        self.repeated_dropout |= self.pending_dropout.is_some();
        self.pending_dropout = Some(rate);
        self
    }

    /// The initialisation of every layer not given its own.
    pub fn init(mut self, init: Init) -> Self {
        self.init = Some(init);
        self
    }

    /// The loss the network is trained on.
    pub fn loss(mut self, loss: impl Loss<F> + 'static) -> Self {
        self.loss = Some(Box::new(loss));
        self
    }

    /// The optimizer (its learning rate is the network's).
    pub fn optimizer(mut self, optimizer: impl Optimizer<F> + 'static) -> Self {
        self.optimizer = Some(Box::new(optimizer));
        self
    }

    /// Plain SGD at `learning_rate`, when no [`optimizer`](Self::optimizer) is given.
    pub fn learning_rate(mut self, learning_rate: F) -> Self {
        self.learning_rate = Some(learning_rate);
        self
    }

    /// The seed of the generator the weights are drawn from, and of the network's dropout
    /// masks (0 if not given).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The step applied to every input first (see `NeuralNetwork::set_preprocessing`).
    pub fn preprocessing(mut self, preprocessing: Preprocessing<F>) -> Self {
        self.preprocessing = Some(preprocessing);
        self
    }

    /// The names of the outputs (see `NeuralNetwork::set_class_names`).
    pub fn class_names(mut self, names: Vec<String>) -> Self {
        self.class_names = Some(names);
        self
    }

    /// The network, its weights drawn from the seeded generator.
    ///
    /// # Errors
    /// - [`Error::EmptyNetwork`] for no layer;
    /// - [`Error::ZeroSizedLayer`] naming the first layer of 0 inputs or outputs;
    /// - [`Error::NotApplicable`] without a loss, or with both an optimizer and a
    ///   learning rate, or neither; for a `.dropout(..)` after the last layer, or two
    ///   before one layer;
    /// - [`Error::InvalidHyperparameter`] for a dropout rate outside `[0, 1)`;
    /// - [`Error::InvalidHyperparameter`] for a learning rate that is not finite and
    ///   positive;
    /// - [`Error::ShapeMismatch`] for a preprocessing step or class names that do not fit
    ///   the inputs or outputs.
    pub fn build(self) -> Result<NeuralNetwork<F>> {
        let missing = |reason: &str| Error::NotApplicable {
            operation: "NetworkBuilder::build",
            reason: reason.into(),
        };
        let loss = self
            .loss
            .ok_or_else(|| missing("no loss: call .loss(...)"))?;
        if self.repeated_dropout {
            return Err(missing(
                "two .dropout(..) before one layer: a layer's inputs take one dropout",
            ));
        }
        if let Some(rate) = self.pending_dropout {
            return Err(missing(&format!(
                ".dropout({rate}) after the last layer: dropout applies to the inputs of \
                 the layer it comes before"
            )));
        }
        let learning_rate = match (&self.optimizer, self.learning_rate) {
            (Some(optimizer), None) => optimizer.learning_rate(),
            (None, Some(rate)) => rate,
            (Some(_), Some(_)) => {
                return Err(missing(
                    "both an optimizer and a learning rate: the optimizer has its own rate",
                ))
            }
            (None, None) => {
                return Err(missing(
                    "no optimizer and no learning rate: call .optimizer(...) or \
                     .learning_rate(...) (plain SGD)",
                ))
            }
        };
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut ins = self.ins;
        let mut layers = Vec::with_capacity(self.layers.len());
        for (index, plan) in self.layers.into_iter().enumerate() {
            let init = (plan.init.or(self.init)).unwrap_or_else(|| default_init(&*plan.activation));
            let layer =
                Dense::new_boxed(ins, plan.outs, plan.activation, init, &mut rng).map_err(|e| {
                    match e {
                        // Dense knows no index: name the layer of the builder.
                        Error::ZeroSizedLayer { ins, outs, .. } => {
                            Error::ZeroSizedLayer { index, ins, outs }
                        }
                        other => other,
                    }
                })?;
            layers.push(match plan.dropout {
                Some(rate) => layer.with_dropout(rate)?,
                None => layer,
            });
            ins = plan.outs;
        }
        let mut net = NeuralNetwork::with_boxed_loss(layers, loss, learning_rate)?;
        if let Some(optimizer) = self.optimizer {
            net.set_boxed_optimizer(optimizer);
        }
        net.set_preprocessing(self.preprocessing)?;
        net.set_class_names(self.class_names)?;
        net.seed_dropout(self.seed);
        Ok(net)
    }
}

/// He for the rectifiers, whose gradient vanishes on half the inputs; Xavier for the
/// others (tanh, sigmoid, identity).
fn default_init<F: Float>(activation: &dyn Activation<F>) -> Init {
    let name = activation.name();
    if name == "relu" || name.starts_with("leaky_relu") {
        Init::HeNormal
    } else {
        Init::XavierNormal
    }
}
