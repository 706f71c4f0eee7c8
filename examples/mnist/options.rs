//! The command line: the flags, their checks, and the training plan they make with the
//! configuration's defaults.

use std::error::Error;
use std::path::PathBuf;

use lexopt::prelude::*;

use crate::cli::{self, percent};
use crate::config::{Config, OptimizerKind};
use crate::data;

pub struct Options {
    pub config: Option<Config>,
    pub optimizer: Option<OptimizerKind>,
    pub data: PathBuf,
    pub seed: u64,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub learning_rate: Option<f32>,
    pub dropout: Option<f64>,
    pub limit: Option<usize>,
    pub save: Option<PathBuf>,
    pub load: Option<PathBuf>,
    pub plot: Option<PathBuf>,
    pub min_accuracy: Option<f64>,
}

const USAGE: &str = "\
usage: mnist [--config mse|sigmoid|cross-entropy|small|modern] [--optimizer adam|sgd]
             [--epochs N] [--batch-size N] [--learning-rate LR] [--dropout RATE]
             [--data DIR] [--limit N] [--seed N] [--save FILE] [--plot FILE.png]
             [--min-accuracy PERCENT]
       mnist --load FILE [--data DIR] [--min-accuracy PERCENT]

Trains a network of the MNIST articles (or a modern one) and prints its test accuracy
before and after; or, with --load, evaluates a saved network.

  --config NAME           mse (default): 784→16→16→10 LeakyReLU, MSE, raw pixels, rate 0.001;
                          sigmoid: the same with a sigmoid last, inputs /255, rate 0.3;
                          cross-entropy: 784→16→16→10, cross-entropy, /255, rate 0.03;
                          small: 784→10, cross-entropy, /255, rate 0.001 (all one pass, one
                          image per step); modern: 784→256→128→10 ReLU, mini-batches, early
                          stopping, 10 epochs
  --optimizer NAME        modern only: adam (default, rate 1e-3) or sgd (momentum 0.9,
                          rate 0.01)
  --epochs N              passes over the training images (default: 1; modern: 10)
  --batch-size N          modern only: images per step (default 128)
  --learning-rate LR      the optimizer's learning rate (default: the configuration's)
  --dropout RATE          modern only: drop each hidden unit in training with this
                          probability (0 to 1, e.g. 0.3; default 0: no dropout)
  --data DIR              the directory of the MNIST-format files, IDX (plain or .gz) or
                          CSV (default /usr/share/datasets/fashion-mnist)
  --limit N               train on the first N training images only (default: all 60 000)
  --seed N                seed of the weights and the shuffles (an integer; default 0)
  --save FILE             save the trained network (a safetensors file, with its
                          preprocessing step)
  --load FILE             evaluate a network saved by --save instead of training one
  --plot FILE.png         draw the loss and accuracy curves (a PNG file)
  --min-accuracy PERCENT  fail (exit status 1) below this test accuracy, in % (0-100;
                          default: no floor)
  --help                  this text";

impl Default for Options {
    /// No flag given.
    fn default() -> Self {
        Options {
            config: None,
            optimizer: None,
            data: PathBuf::from(data::DEFAULT_DATA),
            seed: 0,
            epochs: None,
            batch_size: None,
            learning_rate: None,
            dropout: None,
            limit: None,
            save: None,
            load: None,
            plot: None,
            min_accuracy: None,
        }
    }
}

/// The options of the command line; `--help` prints the usage and exits.
pub fn parse() -> Result<Options, Box<dyn Error>> {
    let mut options = Options::default();
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        // Every flag is long; the name is copied out of `arg`, which borrows the parser
        // that reads the flag's value.
        let flag = match arg {
            Long(flag) => flag.to_owned(),
            _ => return Err(arg.unexpected().into()),
        };
        read_flag(&mut options, &mut parser, &flag)?;
    }
    check_combination(&options)?;
    Ok(options)
}

/// Reads the long flag `--{flag}`, and its value from `parser`, into `options`.
fn read_flag(
    options: &mut Options,
    parser: &mut lexopt::Parser,
    flag: &str,
) -> Result<(), Box<dyn Error>> {
    match flag {
        "config" => options.config = Some(config_named(&parser.value()?.string()?)?),
        "optimizer" => options.optimizer = Some(optimizer_named(&parser.value()?.string()?)?),
        "data" => options.data = parser.value()?.into(),
        "seed" => options.seed = cli::value(parser, "--seed")?,
        "epochs" => options.epochs = Some(cli::value(parser, "--epochs")?),
        "batch-size" => options.batch_size = Some(cli::value(parser, "--batch-size")?),
        "learning-rate" => options.learning_rate = Some(cli::value(parser, "--learning-rate")?),
        "dropout" => options.dropout = Some(cli::value(parser, "--dropout")?),
        "limit" => options.limit = Some(cli::value(parser, "--limit")?),
        "save" => options.save = Some(parser.value()?.into()),
        "load" => options.load = Some(parser.value()?.into()),
        "plot" => options.plot = Some(parser.value()?.into()),
        "min-accuracy" => {
            let value = cli::value(parser, "--min-accuracy")?;
            options.min_accuracy = Some(percent(value, "--min-accuracy")?)
        }
        "help" => {
            println!("{USAGE}");
            std::process::exit(0);
        }
        _ => return Err(Long(flag).unexpected().into()),
    }
    Ok(())
}

fn config_named(name: &str) -> Result<Config, String> {
    let config = Config::ALL.into_iter().find(|c| c.name() == name);
    config.ok_or_else(|| {
        format!("unknown config {name:?} (mse, sigmoid, cross-entropy, small or modern)")
    })
}

fn optimizer_named(name: &str) -> Result<OptimizerKind, String> {
    match name {
        "adam" => Ok(OptimizerKind::Adam),
        "sgd" => Ok(OptimizerKind::Sgd),
        other => Err(format!("unknown optimizer {other:?} (adam or sgd)")),
    }
}

/// Flags that would be silently ignored, or that cannot work, are errors instead.
fn check_combination(options: &Options) -> Result<(), String> {
    let modern = options.config == Some(Config::Modern);
    if options.load.is_some() {
        let training_flags = [
            ("--config", options.config.is_some()),
            ("--optimizer", options.optimizer.is_some()),
            ("--epochs", options.epochs.is_some()),
            ("--batch-size", options.batch_size.is_some()),
            ("--learning-rate", options.learning_rate.is_some()),
            ("--dropout", options.dropout.is_some()),
            ("--limit", options.limit.is_some()),
            ("--save", options.save.is_some()),
            ("--plot", options.plot.is_some()),
        ];
        if let Some((flag, _)) = training_flags.iter().find(|(_, given)| *given) {
            return Err(format!(
                "{flag} is about training, and --load trains nothing"
            ));
        }
    } else if !modern && options.optimizer.is_some() {
        return Err("--optimizer is for --config modern (the articles use plain SGD)".into());
    } else if !modern && options.batch_size.is_some() {
        return Err(
            "--batch-size is for --config modern (the articles train on one image per step)".into(),
        );
    } else if !modern && options.dropout.is_some() {
        return Err("--dropout is for --config modern (the articles use none)".into());
    }
    if options.epochs == Some(0) {
        return Err("--epochs must be at least 1".into());
    }
    if options.batch_size == Some(0) {
        return Err("--batch-size must be at least 1".into());
    }
    Ok(())
}

/// What a training run does: the flags' values, or else the configuration's defaults.
pub struct Plan {
    pub config: Config,
    pub optimizer: OptimizerKind,
    pub learning_rate: f32,
    pub epochs: usize,
    /// Images per mini-batch, for `modern` only.
    pub batch_size: usize,
    /// The probability of dropping a hidden unit in training, for `modern` only.
    pub dropout: f64,
}

impl Plan {
    pub fn of(options: &Options) -> Plan {
        let config = options.config.unwrap_or(Config::Mse);
        let optimizer = options.optimizer.unwrap_or(OptimizerKind::Adam);
        Plan {
            config,
            optimizer,
            learning_rate: options
                .learning_rate
                .unwrap_or_else(|| config.default_learning_rate(optimizer)),
            epochs: options.epochs.unwrap_or(config.default_epochs()),
            batch_size: options.batch_size.unwrap_or(128),
            dropout: options.dropout.unwrap_or(0.0),
        }
    }

    /// How the network will be trained, in one line.
    pub fn describe(&self) -> String {
        let (learning_rate, epochs) = (self.learning_rate, self.epochs);
        if self.config == Config::Modern {
            let dropout = match self.dropout {
                0.0 => String::new(),
                rate => format!(", dropout {rate} on the hidden units"),
            };
            format!(
                "{} at learning rate {learning_rate}, shuffled batches of {}, at most {epochs} epoch{}{dropout}",
                self.optimizer.describe(),
                self.batch_size,
                if epochs == 1 { "" } else { "s" }
            )
        } else {
            format!(
                "plain SGD at learning rate {learning_rate}, one image per step, {epochs} ordered pass{}",
                if epochs == 1 { "" } else { "es" }
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_the_help_explains_is_read_and_no_other() {
        let explained: Vec<&str> = (USAGE.lines())
            .filter_map(|line| line.strip_prefix("  --"))
            .map(|rest| rest.split_whitespace().next().unwrap())
            .filter(|&flag| flag != "help") // --help prints and exits
            .collect();
        assert_eq!(explained.len(), 13, "{explained:?}");
        for flag in explained {
            let mut options = Options::default();
            let mut parser = lexopt::Parser::from_args(["1"]);
            if let Err(e) = read_flag(&mut options, &mut parser, flag) {
                // A value this flag does not take is fine; an unknown flag is not.
                assert!(!e.to_string().contains("invalid option"), "--{flag}: {e}");
            }
        }
        let mut parser = lexopt::Parser::from_args(["1"]);
        let e = read_flag(&mut Options::default(), &mut parser, "colour").unwrap_err();
        assert!(e.to_string().contains("invalid option"), "{e}");
    }

    #[test]
    fn min_accuracy_is_a_finite_percentage() {
        assert_eq!(percent(87.5, "--min-accuracy"), Ok(87.5));
        assert_eq!(percent(0.0, "--min-accuracy"), Ok(0.0));
        assert_eq!(percent(100.0, "--min-accuracy"), Ok(100.0));
        for bad in [f64::NAN, -1.0, 100.5, f64::INFINITY] {
            let err = percent(bad, "--min-accuracy").unwrap_err();
            assert!(err.starts_with("--min-accuracy: "), "{err}");
        }
    }
}
