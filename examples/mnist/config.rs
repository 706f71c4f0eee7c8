//! The example's configurations (the table of the crate doc): each one's layers, loss,
//! input scaling, default learning rate and epochs, and how a saved network is matched
//! back to one of them.

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

/// What a network file records of a network, and so what `--load` recognises a
/// configuration by: the layer sizes, each layer's activation and the loss, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Architecture {
    /// The number of inputs, then each layer's number of outputs.
    sizes: Vec<usize>,
    /// Each layer's activation, e.g. `leaky_relu(0.1)`.
    activations: Vec<String>,
    /// `mse` or `cross_entropy`.
    loss: String,
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
        }
    }
}

impl fmt::Display for Architecture {
    /// The network's shape in one line, e.g. `784→16→16→10 (leaky_relu(0.1), …), loss mse`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sizes: Vec<String> = self.sizes.iter().map(usize::to_string).collect();
        write!(
            f,
            "{} ({}), loss {}",
            sizes.join("→"),
            self.activations.join(", "),
            self.loss
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

    /// The layer, its weights then its bias drawn from `rng` (as `Dense::new` draws them).
    fn build(self, rng: &mut StdRng) -> nn::Result<Dense<f32>> {
        let weights = self.init.weights(self.outs, self.ins, rng)?;
        let bias = self.init.bias(self.outs, rng)?;
        Dense::from_parameters(weights, bias, self.activation)
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

    /// The factor applied to the raw pixels: 1 in the first article, 1/255 since the
    /// "subtleties" article.
    pub fn input_scale(self) -> f32 {
        match self {
            Config::Mse => 1.0,
            _ => 1.0 / 255.0,
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
        let leaky = LeakyRelu::default; // alpha = 0.1, as the article's
        let original = Init::Original; // N(0, 1/(rows·cols)): the article's initialisation
        match self {
            // The first MNIST article: LeakyReLU everywhere, MSE against the one-hot
            // column of the class (the loss takes class targets and builds it).
            Config::Mse | Config::Sigmoid | Config::CrossEntropy => {
                let first = LayerPlan::new(784, 16, leaky(), original);
                let second = LayerPlan::new(16, 16, leaky(), original);
                let last = match self {
                    // "Subtleties": a sigmoid keeps the outputs in (0, 1), like the one-hot
                    // targets.
                    Config::Sigmoid => LayerPlan::new(16, 10, Sigmoid, original),
                    // The series keeps LeakyReLU on the last layer with cross-entropy too
                    // (as for its teacher network); `modern` drops it.
                    _ => LayerPlan::new(16, 10, leaky(), original),
                };
                vec![first, second, last]
            }
            Config::Small => vec![LayerPlan::new(784, 10, leaky(), original)],
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

    /// What a file saved from this configuration's network records: read from the
    /// configuration's table, without drawing any weights.
    pub fn architecture(self) -> Architecture {
        let layers = self.layers();
        let mut sizes = vec![layers[0].ins];
        sizes.extend(layers.iter().map(|l| l.outs));
        Architecture {
            sizes,
            activations: layers.iter().map(|l| l.activation.name()).collect(),
            loss: self.loss().name(),
        }
    }

    /// The configuration a network of `architecture` was trained in, if any. The file
    /// holds the layers and the loss, not how the inputs were scaled: that is part of the
    /// configuration, which this finds back.
    pub fn of(architecture: &Architecture) -> Option<Config> {
        Config::ALL
            .into_iter()
            .find(|config| config.architecture() == *architecture)
    }

    /// The configuration's network, with its loss and optimizer, its weights drawn from
    /// `rng` layer by layer.
    pub fn build(
        self,
        learning_rate: f32,
        optimizer: OptimizerKind,
        rng: &mut StdRng,
    ) -> nn::Result<NeuralNetwork<f32>> {
        let layers = self
            .layers()
            .into_iter()
            .map(|layer| layer.build(rng))
            .collect::<nn::Result<_>>()?;
        let mut net = NeuralNetwork::with_boxed_loss(layers, self.loss(), learning_rate)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use nn::rand::SeedableRng;

    #[test]
    fn each_configuration_is_recognised_by_what_its_network_records() {
        let mut rng = StdRng::seed_from_u64(0);
        for config in Config::ALL {
            let net = config.build(0.01, OptimizerKind::Adam, &mut rng).unwrap();
            let recorded = Architecture::of(&net);
            assert_eq!(recorded, config.architecture(), "{}", config.name());
            assert_eq!(Config::of(&recorded), Some(config));
        }
    }
}
