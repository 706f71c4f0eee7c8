//! The example's configurations (the table of the crate doc): each one's layers, loss,
//! input scaling (a preprocessing step of the network, saved with it), default learning
//! rate and epochs.

use std::fmt;

use nn::prelude::*;
use nn::rand::rngs::StdRng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Config {
    Mse,
    Sigmoid,
    CrossEntropy,
    Small,
    Modern,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerKind {
    Sgd,
    Adam,
}

impl OptimizerKind {
    pub fn describe(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "SGD with momentum 0.9",
            OptimizerKind::Adam => "Adam",
        }
    }
}

/// What a network file records of a network: the layer sizes, each layer's activation
/// and the loss, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Architecture {
    /// The number of inputs, then each layer's number of outputs.
    sizes: Vec<usize>,
    /// Each layer's activation, e.g. `leaky_relu(0.1)`.
    activations: Vec<String>,
    /// `mse` or `cross_entropy`.
    loss: String,
    /// The preprocessing step's kind, if any.
    preprocessing: Option<PreprocessingKind>,
}

impl Architecture {
    /// The architecture of `net`, as read from its layers and loss.
    pub fn of(net: &NeuralNetwork<f32>) -> Self {
        let mut sizes = vec![net.ins()];
        sizes.extend(net.layers().iter().map(|l| l.outs()));
        Architecture {
            sizes,
            activations: net.layers().iter().map(|l| l.activation().name()).collect(),
            loss: net.loss_function().name(),
            preprocessing: net.preprocessing().map(|p| p.kind()),
        }
    }
}

impl fmt::Display for Architecture {
    /// The network's shape in one line, e.g. `784→16→16→10 (leaky_relu(0.1), …), loss
    /// cross_entropy, inputs scale`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sizes: Vec<String> = self.sizes.iter().map(usize::to_string).collect();
        write!(
            f,
            "{} ({}), loss {}, inputs {}",
            sizes.join("→"),
            self.activations.join(", "),
            self.loss,
            self.preprocessing.map_or("raw", PreprocessingKind::name)
        )
    }
}

/// One layer of a configuration, before its weights are drawn.
struct LayerPlan {
    ins: usize,
    outs: usize,
    activation: Box<dyn Activation<f32>>,
    init: Init,
}

impl LayerPlan {
    fn new(
        ins: usize,
        outs: usize,
        activation: impl Activation<f32> + 'static,
        init: Init,
    ) -> Self {
        LayerPlan {
            ins,
            outs,
            activation: Box::new(activation),
            init,
        }
    }

    /// The layer, its weights then its bias drawn from `rng`.
    fn build(self, rng: &mut StdRng) -> nn::Result<Dense<f32>> {
        Dense::new_boxed(self.ins, self.outs, self.activation, self.init, rng)
    }
}

impl Config {
    pub const ALL: [Config; 5] = [
        Config::Mse,
        Config::Sigmoid,
        Config::CrossEntropy,
        Config::Small,
        Config::Modern,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Config::Mse => "mse",
            Config::Sigmoid => "sigmoid",
            Config::CrossEntropy => "cross-entropy",
            Config::Small => "small",
            Config::Modern => "modern",
        }
    }

    /// The network's preprocessing of the raw pixels (0..=255): none in the first
    /// article; since the "subtleties" article, a division by 255, which keeps the first
    /// layer's outputs, and so its gradients, of a sensible size. As a step of the network
    /// (rather than of the data), it is saved with it, and a loaded network takes raw
    /// pixels.
    fn preprocessing(self) -> nn::Result<Option<Preprocessing<f32>>> {
        match self {
            Config::Mse => Ok(None),
            _ => Preprocessing::scale(784, 1.0 / 255.0).map(Some),
        }
    }

    pub fn default_learning_rate(self, optimizer: OptimizerKind) -> f32 {
        match (self, optimizer) {
            // The first MNIST article's rate, and the small network's.
            (Config::Mse | Config::Small, _) => 0.001,
            // The series' rate for this very network with cross-entropy (its teacher).
            // At 0.001 it stays at chance (10%) after one pass: from the original's tiny
            // initial weights and inputs divided by 255, the gradients of the first
            // layers are too small for so small a rate.
            (Config::CrossEntropy, _) => 0.03,
            // The articles give no rate for this one. A sigmoid's slope is at most 1/4
            // and MSE divides by the 10 outputs, so its gradients are small: after one
            // pass, 0.001 leaves it at 10%, 0.03 at 19%; of 0.1, 0.2, 0.3 and 1, 0.3
            // does best (about 80% on Fashion-MNIST, seeds 0 to 4).
            (Config::Sigmoid, _) => 0.3,
            (Config::Modern, OptimizerKind::Adam) => 1e-3,
            (Config::Modern, OptimizerKind::Sgd) => 0.01,
        }
    }

    pub fn default_epochs(self) -> usize {
        match self {
            Config::Modern => 10,
            _ => 1,
        }
    }

    /// The configuration's layers, first to last.
    fn layers(self) -> Vec<LayerPlan> {
        let leaky = LeakyRelu; // alpha = 0.1, as the article's
        let original = Init::Original; // N(0, 1/(rows·cols)): the article's initialisation
        match self {
            // The first MNIST article: LeakyReLU everywhere, MSE against the one-hot
            // column of the class (the loss takes class targets and builds it).
            Config::Mse | Config::Sigmoid | Config::CrossEntropy => {
                let first = LayerPlan::new(784, 16, leaky, original);
                let second = LayerPlan::new(16, 16, leaky, original);
                let last = match self {
                    // "Subtleties": a sigmoid keeps the outputs in (0, 1), like the one-hot
                    // targets.
                    Config::Sigmoid => LayerPlan::new(16, 10, Sigmoid, original),
                    // The series keeps LeakyReLU on the last layer with cross-entropy too
                    // (as for its teacher network); `modern` drops it.
                    _ => LayerPlan::new(16, 10, leaky, original),
                };
                vec![first, second, last]
            }
            Config::Small => vec![LayerPlan::new(784, 10, leaky, original)],
            Config::Modern => vec![
                LayerPlan::new(784, 256, Relu, Init::HeNormal),
                LayerPlan::new(256, 128, Relu, Init::HeNormal),
                // No activation: the outputs are logits, which cross-entropy turns into
                // probabilities with a softmax.
                LayerPlan::new(128, 10, Identity, Init::XavierNormal),
            ],
        }
    }

    fn loss(self) -> Box<dyn Loss<f32>> {
        match self {
            Config::Mse | Config::Sigmoid => Box::new(Mse),
            _ => Box::new(CrossEntropy),
        }
    }

    /// The configuration's network, with its loss and optimizer, its weights drawn from
    /// `rng` layer by layer.
    ///
    /// `dropout` (modern only) drops the hidden units in training: the inputs of every
    /// layer but the first.
    pub fn build(
        self,
        learning_rate: f32,
        optimizer: OptimizerKind,
        dropout: f64,
        rng: &mut StdRng,
    ) -> nn::Result<NeuralNetwork<f32>> {
        let layers = (self.layers().into_iter().enumerate())
            .map(|(i, layer)| match layer.build(rng)? {
                layer if i > 0 => layer.with_dropout(dropout),
                layer => Ok(layer),
            })
            .collect::<nn::Result<_>>()?;
        let mut net = NeuralNetwork::with_boxed_loss(layers, self.loss(), learning_rate)?;
        net.set_preprocessing(self.preprocessing()?)?;
        if self == Config::Modern {
            match optimizer {
                OptimizerKind::Sgd => {
                    net.set_optimizer(Sgd::new(learning_rate)?.with_momentum(0.9)?)
                }
                OptimizerKind::Adam => net.set_optimizer(Adam::new(learning_rate)?),
            }
        }
        Ok(net)
    }
}
