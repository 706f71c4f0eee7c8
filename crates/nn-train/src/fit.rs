//! The fit loop: epochs of shuffled mini-batches, a learning-rate schedule, validation,
//! early stopping and progress callbacks.

use std::ops::ControlFlow;
use std::time::Instant;

use nn_core::compute::team::with_team;
use nn_core::{Error, Float, Gatherer, Result, Samples, Target};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::model::Snapshot;
use crate::{NeuralNetwork, Schedule};

/// Stop when the monitored loss (validation loss if there is a validation set, else the
/// training loss) has not improved by more than `min_delta` for `patience` epochs, and
/// restore the parameters of the best epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping (at least 1).
    pub patience: usize,
    /// The smallest decrease that counts as an improvement (≥ 0).
    pub min_delta: f64,
}

/// What early stopping makes of an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The monitored loss improved: this epoch is the new best.
    Improved,
    /// No improvement, but fewer than `patience` epochs since the best one.
    Wait,
    /// `patience` epochs without improvement: stop.
    Stop,
}

impl EarlyStopping {
    /// The verdict on epoch `epoch`, whose monitored loss is `loss`, given the best so far
    /// as `(loss, epoch)`: an improvement is a loss below `best - min_delta` (the first
    /// epoch always improves); without one, training stops once `patience` epochs have
    /// passed since the best.
    pub(crate) fn judge(&self, epoch: usize, loss: f64, best: Option<(f64, usize)>) -> Verdict {
        match best {
            None => Verdict::Improved,
            Some((best_loss, _)) if loss < best_loss - self.min_delta => Verdict::Improved,
            Some((_, best_epoch)) if epoch - best_epoch >= self.patience => Verdict::Stop,
            Some(_) => Verdict::Wait,
        }
    }
}

/// Options of [`NeuralNetwork::fit`].
#[derive(Clone, Debug, PartialEq)]
pub struct FitOptions {
    /// Number of passes over the training set (at least 1).
    pub epochs: usize,
    /// Samples per mini-batch (at least 1); the last batch of an epoch may be smaller.
    pub batch_size: usize,
    /// Whether to visit the samples in a new random order each epoch (drawn from the
    /// generator seeded by `seed`, or the one passed to `fit_with`).
    pub shuffle: bool,
    /// How the learning rate changes per epoch, as a factor of the optimizer's rate when
    /// `fit` starts.
    pub schedule: Schedule,
    /// Early stopping, off by default.
    pub early_stopping: Option<EarlyStopping>,
    /// Call the progress callback every this many batches (0: only after each epoch).
    pub report_every: usize,
    /// The seed of the generator [`NeuralNetwork::fit`] shuffles with (0 by default), so
    /// that the same options give the same run; [`NeuralNetwork::fit_with`] takes a
    /// generator instead.
    pub seed: u64,
}

impl Default for FitOptions {
    /// One shuffled epoch of batches of 32, constant learning rate, no early stopping.
    fn default() -> Self {
        FitOptions {
            epochs: 1,
            batch_size: 32,
            shuffle: true,
            schedule: Schedule::Constant,
            early_stopping: None,
            report_every: 0,
            seed: 0,
        }
    }
}

impl FitOptions {
    /// Checks the options.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] for zero epochs or batch size, an invalid schedule,
    /// or early stopping with zero patience or a negative `min_delta`.
    pub fn validate(&self) -> Result<()> {
        let invalid = |name, value: usize, reason| Error::InvalidHyperparameter {
            name,
            value: value as f64,
            reason,
        };
        if self.epochs == 0 {
            return Err(invalid("epochs", 0, "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(invalid("batch_size", 0, "must be at least 1"));
        }
        self.schedule.validate()?;
        if let Some(stop) = self.early_stopping {
            if stop.patience == 0 {
                return Err(invalid("patience", 0, "must be at least 1"));
            }
            if !(stop.min_delta >= 0.0 && stop.min_delta.is_finite()) {
                return Err(Error::InvalidHyperparameter {
                    name: "min_delta",
                    value: stop.min_delta,
                    reason: "must be finite and non-negative",
                });
            }
        }
        Ok(())
    }
}

/// What happened in one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// The epoch's index, from 0.
    pub epoch: usize,
    /// The learning rate used in this epoch.
    pub learning_rate: f64,
    /// Mean training loss over the epoch, each batch's loss taken before its update.
    pub train_loss: f64,
    /// Training accuracy over the epoch (predictions before each batch's update), for class
    /// targets.
    pub train_accuracy: Option<f64>,
    /// Loss on the validation set after the epoch, if there is one.
    pub validation_loss: Option<f64>,
    /// Accuracy on the validation set after the epoch, for class targets.
    pub validation_accuracy: Option<f64>,
    /// Wall-clock seconds the epoch's training took (validation excluded).
    pub seconds: f64,
}

/// A progress event passed to the callback of [`NeuralNetwork::fit_with`].
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Progress<'a> {
    /// Every `report_every` batches.
    Batch {
        /// The epoch, from 0.
        epoch: usize,
        /// Batches done in this epoch.
        batch: usize,
        /// Batches per epoch.
        batches: usize,
        /// Mean training loss over the epoch's batches so far.
        loss: f64,
    },
    /// After each epoch, with its report.
    Epoch(&'a EpochReport),
}

/// The record of a [`NeuralNetwork::fit`] run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// One report per epoch run.
    pub epochs: Vec<EpochReport>,
    /// With early stopping: the epoch whose parameters the network holds at the end.
    pub best_epoch: Option<usize>,
    /// Whether early stopping (or the callback) ended training before the last epoch.
    pub stopped_early: bool,
}

impl<F: Float> NeuralNetwork<F> {
    /// Trains on `train` for `options.epochs` epochs of mini-batches, with the network's
    /// optimizer, and returns the per-epoch history: [`NeuralNetwork::fit_with`] with a
    /// generator seeded by `options.seed` and no progress callback.
    ///
    /// # Errors
    /// As [`NeuralNetwork::fit_with`].
    ///
    /// # Example
    /// ```
    /// use ndarray::array;
    /// use nn_core::Target;
    /// use nn_layers::{Identity, Tanh};
    /// use nn_loss::CrossEntropy;
    /// use nn_train::{Adam, FitOptions, NeuralNetwork, Samples};
    ///
    /// // XOR, one sample per column.
    /// let x = array![[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]];
    /// let data = Samples::new(x.view(), Target::Classes(&[0, 1, 1, 0]))?;
    /// let mut net = NeuralNetwork::<f64>::builder(2)
    ///     .dense(8, Tanh)
    ///     .dense(2, Identity)
    ///     .loss(CrossEntropy)
    ///     .optimizer(Adam::new(0.05)?)
    ///     .build()?;
    /// let options = FitOptions { epochs: 300, batch_size: 4, ..FitOptions::default() };
    /// let history = net.fit(data, None, &options)?;
    /// assert_eq!(history.epochs.len(), 300);
    /// assert_eq!(net.predict(x.view())?, [0, 1, 1, 0]);
    /// # Ok::<(), nn_core::Error>(())
    /// ```
    pub fn fit(
        &mut self,
        train: Samples<'_, F>,
        validation: Option<Samples<'_, F>>,
        options: &FitOptions,
    ) -> Result<History> {
        let mut rng = StdRng::seed_from_u64(options.seed);
        self.fit_with(train, validation, options, &mut rng, |_| {
            ControlFlow::Continue(())
        })
    }

    /// [`NeuralNetwork::fit`] with the caller's generator and a progress callback.
    ///
    /// Each epoch draws a new order of the samples from `rng` (so a seed fixes the whole
    /// run; `options.seed` is not used), gathers each batch into buffers reused for the whole run, and takes one
    /// [`NeuralNetwork::train`] step per batch. After each epoch it evaluates `validation`
    /// if given, and calls `on_progress`; returning `ControlFlow::Break(())` from it stops
    /// training. With the `progress` feature, `ProgressBar::update` is a ready callback
    /// that draws a terminal bar (`|event| bar.update(event)`). With early stopping, the parameters of the best epoch are restored at the
    /// end. The optimizer's learning rate is set back to its starting value at the end.
    ///
    /// # Errors
    /// The errors of [`FitOptions::validate`]; [`Error::InvalidHyperparameter`] if the
    /// schedule brings the learning rate to 0 in some epoch; the errors of
    /// [`NeuralNetwork::train`] for data that does not fit the network, with nothing
    /// trained; and [`Error::Diverged`] if training
    /// produces a non-finite loss or gradient, the parameters keeping their last finite
    /// values.
    pub fn fit_with<R: Rng + ?Sized>(
        &mut self,
        train: Samples<'_, F>,
        validation: Option<Samples<'_, F>>,
        options: &FitOptions,
        rng: &mut R,
        mut on_progress: impl FnMut(Progress<'_>) -> ControlFlow<()>,
    ) -> Result<History> {
        options.validate()?;
        // The run's hand-offs between threads go to helpers that spin between steps: a
        // sleeping thread takes 10–40 µs to wake, several times a step (see nn-core's
        // `compute::team`). The callback still runs on this thread.
        with_team(self.threads(), || {
            // Check every sample once here, so that no epoch fails half-way on bad data.
            self.check_data(train.inputs(), train.targets())?;
            if let Some(v) = validation {
                self.check_data(v.inputs(), v.targets())?;
            }
            let base_rate = self.learning_rate();
            // A schedule may bring the rate to 0 (a cosine down to 0, a decay that
            // underflows): refuse before training rather than fail at that epoch. Every
            // schedule's factor falls or stays from one epoch to the next, so the last
            // epoch's rate is the smallest, and one check covers any number of epochs.
            let last = options.schedule.factor(options.epochs - 1);
            crate::check_learning_rate(F::from_f64(base_rate.as_f64() * last))?;
            // Drawn only with dropout, so that a network without it shuffles as it
            // always has.
            if self.model().has_dropout() {
                self.seed_dropout(rng.next_u64());
            }
            let result =
                self.fit_epochs(train, validation, options, rng, &mut on_progress, base_rate);
            self.set_learning_rate(base_rate)?;
            result
        })
    }

    /// The epochs of [`NeuralNetwork::fit_with`], after its checks.
    fn fit_epochs<R: Rng + ?Sized>(
        &mut self,
        train: Samples<'_, F>,
        validation: Option<Samples<'_, F>>,
        options: &FitOptions,
        rng: &mut R,
        on_progress: &mut impl FnMut(Progress<'_>) -> ControlFlow<()>,
        base_rate: F,
    ) -> Result<History> {
        let batch_size = options.batch_size.min(train.len());
        let mut order: Vec<usize> = (0..train.len()).collect();
        let mut gatherer = Gatherer::new(train, batch_size).with_threads(self.threads());
        let mut history = History::default();
        // The best epoch's monitored loss and index, and its parameters.
        let mut best: Option<(f64, usize, Snapshot<F>)> = None;

        for epoch in 0..options.epochs {
            let rate = base_rate.as_f64() * options.schedule.factor(epoch);
            self.set_learning_rate(F::from_f64(rate))?;
            if options.shuffle {
                order.shuffle(rng);
            }
            let started = Instant::now();
            let pass = self.train_epoch(train, &order, &mut gatherer, epoch, options, on_progress);
            let (loss_sum, correct) = match pass? {
                ControlFlow::Continue(sums) => sums,
                ControlFlow::Break(()) => {
                    history.stopped_early = true;
                    break;
                }
            };
            let seconds = started.elapsed().as_secs_f64();
            let evaluation = validation
                .map(|v| self.evaluate(v, batch_size.max(256)))
                .transpose()?;
            let n = train.len() as f64;
            let report = EpochReport {
                epoch,
                learning_rate: rate,
                train_loss: loss_sum / n,
                train_accuracy: matches!(train.targets(), Target::Classes(_))
                    .then(|| correct as f64 / n),
                validation_loss: evaluation.map(|e| e.loss),
                validation_accuracy: evaluation.and_then(|e| e.accuracy),
                seconds,
            };
            let stop_requested = on_progress(Progress::Epoch(&report)).is_break();
            let monitored = report.validation_loss.unwrap_or(report.train_loss);
            history.epochs.push(report);

            if let Some(stop) = options.early_stopping {
                let best_so_far = best.as_ref().map(|&(loss, epoch, _)| (loss, epoch));
                match stop.judge(epoch, monitored, best_so_far) {
                    Verdict::Improved => {
                        best = Some((monitored, epoch, self.snapshot()));
                        history.best_epoch = Some(epoch);
                    }
                    Verdict::Wait => {}
                    Verdict::Stop => {
                        history.stopped_early = epoch + 1 < options.epochs;
                        break;
                    }
                }
            }
            if stop_requested {
                history.stopped_early = epoch + 1 < options.epochs;
                break;
            }
        }
        // However training stopped, the best epoch's parameters come back.
        if let Some((_, _, parameters)) = best {
            self.restore(&parameters);
        }
        Ok(history)
    }

    /// One pass over `train` in `order`: one [`NeuralNetwork::train`] step per batch,
    /// gathered by `gatherer`, with a [`Progress::Batch`] event every
    /// `options.report_every` batches. Returns the sum over samples of the loss and the
    /// number of correct predictions (each before its batch's update), or
    /// `ControlFlow::Break` when the callback stopped training.
    fn train_epoch(
        &mut self,
        train: Samples<'_, F>,
        order: &[usize],
        gatherer: &mut Gatherer<F>,
        epoch: usize,
        options: &FitOptions,
        on_progress: &mut impl FnMut(Progress<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<(), (f64, usize)>> {
        let batch_size = options.batch_size.min(train.len());
        let batches = order.len().div_ceil(batch_size);
        let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
        for (b, positions) in order.chunks(batch_size).enumerate() {
            let batch = (gatherer.gather(train, positions))
                .expect("positions come from 0..n in chunks of the gatherer's batch size");
            // The data set was checked on entry; its copy needs no second scan.
            let loss = self.train_step(batch.inputs(), batch.targets(), false)?;
            seen += batch.len();
            loss_sum += loss.as_f64() * batch.len() as f64;
            if let Target::Classes(classes) = batch.targets() {
                correct += self.count_correct_last(classes);
            }
            if options.report_every > 0 && (b + 1) % options.report_every == 0 {
                let event = Progress::Batch {
                    epoch,
                    batch: b + 1,
                    batches,
                    loss: loss_sum / seen as f64,
                };
                if on_progress(event).is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
        }
        Ok(ControlFlow::Continue((loss_sum, correct)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verdicts on a sequence of monitored losses, as `fit` feeds them, until a stop.
    fn verdicts(stop: EarlyStopping, losses: &[f64]) -> Vec<Verdict> {
        let mut best: Option<(f64, usize)> = None;
        let mut out = Vec::new();
        for (epoch, &loss) in losses.iter().enumerate() {
            let verdict = stop.judge(epoch, loss, best);
            out.push(verdict);
            match verdict {
                Verdict::Improved => best = Some((loss, epoch)),
                Verdict::Wait => {}
                Verdict::Stop => break,
            }
        }
        out
    }

    #[test]
    fn early_stopping_waits_patience_epochs_after_the_best() {
        use Verdict::*;
        let stop = EarlyStopping {
            patience: 2,
            min_delta: 0.0,
        };
        // Best at epoch 1; epochs 2 and 3 do not improve on it: stop at 3 = 1 + patience.
        assert_eq!(
            verdicts(stop, &[1.0, 0.5, 0.75, 0.625, 0.25]),
            [Improved, Improved, Wait, Stop]
        );
        // Equal is not better.
        assert_eq!(verdicts(stop, &[1.0, 1.0, 1.0]), [Improved, Wait, Stop]);
        let stop = EarlyStopping {
            patience: 1,
            min_delta: 0.25,
        };
        // With min_delta 0.25, 0.75 is not below 1 - 0.25 but 0.5 is.
        assert_eq!(verdicts(stop, &[1.0, 0.75]), [Improved, Stop]);
        assert_eq!(
            verdicts(stop, &[1.0, 0.5, 0.375]),
            [Improved, Improved, Stop]
        );
        let stop = EarlyStopping {
            patience: 3,
            min_delta: 0.0,
        };
        assert_eq!(
            verdicts(stop, &[4.0, 3.0, 2.0, 5.0, 5.0, 1.0, 5.0, 5.0, 5.0, 0.0]),
            [Improved, Improved, Improved, Wait, Wait, Improved, Wait, Wait, Stop]
        );
    }
}
