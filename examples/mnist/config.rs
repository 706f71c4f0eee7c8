//! The example's configurations (the table of the crate doc): each one's network, loss,
//! input scaling, default learning rate and epochs.

use nn::prelude::*;
use nn::rand::{rngs::StdRng, SeedableRng};

/// The network's shape in one line, e.g. `784→16→16→10 (leaky_relu(0.1), …), loss mse`.
pub fn signature(net: &NeuralNetwork<f32>) -> String {
    let mut sizes = vec![net.ins().to_string()];
    sizes.extend(net.layers().iter().map(|l| l.outs().to_string()));
    let activations: Vec<String> = net.layers().iter().map(|l| l.activation().name()).collect();
    format!(
        "{} ({}), loss {}",
        sizes.join("→"),
        activations.join(", "),
        net.loss_function().name()
    )
}

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

    /// The configuration's network, with its loss and optimizer.
    pub fn build(
        self,
        learning_rate: f32,
        optimizer: OptimizerKind,
        rng: &mut StdRng,
    ) -> nn::Result<NeuralNetwork<f32>> {
        let leaky = LeakyRelu::default; // alpha = 0.1, as the article's
        let original = Init::Original; // N(0, 1/(rows·cols)): the article's initialisation
        let layers = match self {
            // The first MNIST article: LeakyReLU everywhere, MSE against the one-hot
            // column of the class (the loss takes class targets and builds it).
            Config::Mse | Config::Sigmoid | Config::CrossEntropy => {
                let first = Dense::new(784, 16, leaky(), original, rng)?;
                let second = Dense::new(16, 16, leaky(), original, rng)?;
                let last = match self {
                    // "Subtleties": a sigmoid keeps the outputs in (0, 1), like the one-hot
                    // targets.
                    Config::Sigmoid => Dense::new(16, 10, Sigmoid, original, rng)?,
                    // The series keeps LeakyReLU on the last layer with cross-entropy too
                    // (as for its teacher network); `modern` drops it.
                    _ => Dense::new(16, 10, leaky(), original, rng)?,
                };
                vec![first, second, last]
            }
            Config::Small => vec![Dense::new(784, 10, leaky(), original, rng)?],
            Config::Modern => vec![
                Dense::new(784, 256, Relu, Init::HeNormal, rng)?,
                Dense::new(256, 128, Relu, Init::HeNormal, rng)?,
                // No activation: the outputs are logits, which cross-entropy turns into
                // probabilities with a softmax.
                Dense::new(128, 10, Identity, Init::XavierNormal, rng)?,
            ],
        };
        let mut net = match self {
            Config::Mse | Config::Sigmoid => NeuralNetwork::new(layers, Mse, learning_rate)?,
            _ => NeuralNetwork::new(layers, CrossEntropy, learning_rate)?,
        };
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

    /// The configuration whose network has the shape, activations and loss of `net`.
    pub fn of(net: &NeuralNetwork<f32>) -> nn::Result<Option<Config>> {
        let wanted = signature(net);
        let mut rng = StdRng::seed_from_u64(0);
        for config in Config::ALL {
            let candidate = config.build(1.0, OptimizerKind::Sgd, &mut rng)?;
            if signature(&candidate) == wanted {
                return Ok(Some(config));
            }
        }
        Ok(None)
    }
}
