//! Learning-rate schedules: constant, step decay and cosine annealing, per epoch.

use nn_core::{Error, Result};

/// How the learning rate changes from epoch to epoch, as a factor of the base rate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum Schedule {
    /// The base rate throughout.
    #[default]
    Constant,
    /// `rate = base·factor^⌊epoch/every⌋`: multiply by `factor` every `every` epochs.
    StepDecay {
        /// Number of epochs between decays (at least 1).
        every: usize,
        /// Multiplier applied at each decay, in `(0, 1]`.
        factor: f64,
    },
    /// Cosine annealing over `epochs` epochs, from the base rate down to
    /// `base·min_factor`: `rate = base·(min + (1 - min)·(1 + cos(π·epoch/epochs))/2)`,
    /// and `base·min_factor` after the last epoch.
    Cosine {
        /// Length of the annealing, in epochs (at least 1).
        epochs: usize,
        /// The final fraction of the base rate, in `[0, 1]`.
        min_factor: f64,
    },
}

impl Schedule {
    /// Checks the schedule's parameters.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] for `every = 0`, `epochs = 0` or a factor out of
    /// range.
    pub fn validate(&self) -> Result<()> {
        let invalid = |name, value: f64, reason| {
            Err(Error::InvalidHyperparameter {
                name,
                value,
                reason,
            })
        };
        match *self {
            Schedule::Constant => Ok(()),
            Schedule::StepDecay { every: 0, .. } => invalid("every", 0.0, "must be at least 1"),
            Schedule::StepDecay { factor, .. } if !(factor > 0.0 && factor <= 1.0) => {
                invalid("factor", factor, "must be in (0, 1]")
            }
            Schedule::Cosine { epochs: 0, .. } => invalid("epochs", 0.0, "must be at least 1"),
            Schedule::Cosine { min_factor, .. } if !(0.0..=1.0).contains(&min_factor) => {
                invalid("min_factor", min_factor, "must be in [0, 1]")
            }
            _ => Ok(()),
        }
    }

    /// The factor of the base rate for `epoch` (0-based).
    pub fn factor(&self, epoch: usize) -> f64 {
        match *self {
            Schedule::Constant => 1.0,
            Schedule::StepDecay { every, factor } => {
                // Past 2^31 decays the factor is 0 or 1 anyway: saturate, never wrap.
                let decays = i32::try_from(epoch / every.max(1)).unwrap_or(i32::MAX);
                factor.powi(decays)
            }
            Schedule::Cosine { epochs, min_factor } => {
                let progress = (epoch as f64 / epochs.max(1) as f64).min(1.0);
                min_factor
                    + (1.0 - min_factor) * (1.0 + (std::f64::consts::PI * progress).cos()) / 2.0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_follow_the_formulas() {
        assert_eq!(Schedule::Constant.factor(7), 1.0);
        let step = Schedule::StepDecay {
            every: 2,
            factor: 0.5,
        };
        let factors: Vec<f64> = (0..5).map(|e| step.factor(e)).collect();
        assert_eq!(factors, [1.0, 1.0, 0.5, 0.5, 0.25]);
        // Far past 2^31 decays: 0 (or 1 for a factor of 1), not a wrapped exponent.
        assert_eq!(step.factor(usize::MAX), 0.0);
        let no_decay = Schedule::StepDecay {
            every: 1,
            factor: 1.0,
        };
        assert_eq!(no_decay.factor(usize::MAX), 1.0);
        // Every factor falls or stays from epoch to epoch (fit checks only the last).
        let cosine_to_zero = Schedule::Cosine {
            epochs: 7,
            min_factor: 0.0,
        };
        for schedule in [Schedule::Constant, step, no_decay, cosine_to_zero] {
            for epoch in 0..20 {
                assert!(
                    schedule.factor(epoch + 1) <= schedule.factor(epoch),
                    "{schedule:?}"
                );
            }
        }
        let cosine = Schedule::Cosine {
            epochs: 4,
            min_factor: 0.1,
        };
        assert_eq!(cosine.factor(0), 1.0);
        approx::assert_abs_diff_eq!(cosine.factor(2), 0.55, epsilon = 1e-12);
        approx::assert_abs_diff_eq!(cosine.factor(4), 0.1, epsilon = 1e-12);
        approx::assert_abs_diff_eq!(cosine.factor(9), 0.1, epsilon = 1e-12);
        assert!(Schedule::StepDecay {
            every: 0,
            factor: 0.5
        }
        .validate()
        .is_err());
        assert!(Schedule::Cosine {
            epochs: 3,
            min_factor: 2.0
        }
        .validate()
        .is_err());
        assert!(cosine.validate().is_ok());
    }

    #[test]
    fn validate_names_each_bad_parameter_and_accepts_the_edges() {
        let name = |s: Schedule| match s.validate() {
            Err(Error::InvalidHyperparameter { name, .. }) => Some(name),
            Ok(()) => None,
            Err(other) => panic!("{other:?}"),
        };
        let step = |every, factor| Schedule::StepDecay { every, factor };
        let cosine = |epochs, min_factor| Schedule::Cosine { epochs, min_factor };
        assert_eq!(name(Schedule::Constant), None);
        assert_eq!(name(step(0, 0.5)), Some("every"));
        for factor in [0.0, -0.5, 1.5, f64::NAN] {
            assert_eq!(name(step(2, factor)), Some("factor"), "{factor}");
        }
        assert_eq!(name(step(1, 1.0)), None);
        assert_eq!(name(step(1, f64::MIN_POSITIVE)), None);
        assert_eq!(name(cosine(0, 0.5)), Some("epochs"));
        for min_factor in [-0.1, 1.1, f64::NAN] {
            assert_eq!(
                name(cosine(3, min_factor)),
                Some("min_factor"),
                "{min_factor}"
            );
        }
        assert_eq!(name(cosine(1, 0.0)), None);
        assert_eq!(name(cosine(1, 1.0)), None);
    }
}
