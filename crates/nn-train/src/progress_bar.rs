//! A terminal progress bar for [`NeuralNetwork::fit_with`](crate::NeuralNetwork::fit_with)
//! (the `progress` feature): indicatif's bar, fed by the fit loop's [`Progress`] events.
//!
//! The bar and its lines go to stderr, and only when stderr is a terminal (indicatif's
//! rule): output piped to a file or a CI log stays free of them, and nothing is ever
//! written to stdout.

use std::ops::ControlFlow;

use indicatif::{ProgressDrawTarget, ProgressStyle};

use crate::{EpochReport, Progress};

/// A progress bar for [`NeuralNetwork::fit_with`](crate::NeuralNetwork::fit_with): it
/// counts the batches of every epoch (from the [`Progress::Batch`] events, sent every
/// `FitOptions::report_every` batches), shows the running loss of the epoch, and prints a
/// line per finished epoch (training loss and accuracy, validation loss and accuracy)
/// above the bar. The bar is cleared when it is dropped; the epoch lines stay.
///
/// It draws on stderr only when stderr is a terminal, and never writes to stdout.
///
/// # Example
///
/// [`NeuralNetwork::fit`](crate::NeuralNetwork::fit) with a bar is `fit_with` with a
/// generator seeded by `options.seed` (the same run as `fit`'s) and the bar's
/// [`ProgressBar::update`] as the callback:
///
/// ```
/// use ndarray::array;
/// use nn_core::Target;
/// use nn_layers::{Identity, Tanh};
/// use nn_loss::CrossEntropy;
/// use nn_train::{FitOptions, NeuralNetwork, ProgressBar, Samples};
/// use rand::{rngs::StdRng, SeedableRng};
///
/// let x = array![[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]];
/// let data = Samples::new(x.view(), Target::Classes(&[0, 1, 1, 0]))?;
/// let mut net = NeuralNetwork::<f64>::builder(2)
///     .dense(8, Tanh)
///     .dense(2, Identity)
///     .loss(CrossEntropy)
///     .learning_rate(0.1)
///     .build()?;
/// // report_every: move the bar every batch (0 would move it once per epoch).
/// let options = FitOptions { epochs: 20, batch_size: 2, report_every: 1, ..FitOptions::default() };
/// let mut bar = ProgressBar::new(options.epochs);
/// let mut rng = StdRng::seed_from_u64(options.seed);
/// let history = net.fit_with(data, None, &options, &mut rng, |event| bar.update(event))?;
/// drop(bar); // clears the bar
/// assert_eq!(history.epochs.len(), 20);
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Debug)]
pub struct ProgressBar {
    bar: indicatif::ProgressBar,
    /// The number of epochs `fit` was asked for.
    epochs: usize,
    /// Batches per epoch, once a [`Progress::Batch`] event has told it.
    batches: Option<usize>,
}

impl ProgressBar {
    /// A bar for a fit of `epochs` epochs (`FitOptions::epochs`), drawn on stderr when it
    /// is a terminal.
    pub fn new(epochs: usize) -> Self {
        Self::with_target(epochs, ProgressDrawTarget::stderr())
    }

    fn with_target(epochs: usize, target: ProgressDrawTarget) -> Self {
        let bar = indicatif::ProgressBar::with_draw_target(Some(epochs as u64), target);
        // The template is ours and valid; should indicatif ever reject it, its default
        // style is still a progress bar.
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] epoch {prefix} ({eta} left) {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(format!("1/{epochs}"));
        ProgressBar {
            bar,
            epochs,
            batches: None,
        }
    }

    /// Shows `event`: a batch event moves the bar and shows the epoch's running loss; an
    /// epoch event prints the epoch's line above the bar. Always returns
    /// `ControlFlow::Continue(())`, so that it can be the whole callback of `fit_with`
    /// (`|event| bar.update(event)`); a callback that may stop training calls it and then
    /// decides.
    pub fn update(&mut self, event: Progress<'_>) -> ControlFlow<()> {
        match event {
            Progress::Batch {
                epoch,
                batch,
                batches,
                loss,
            } => {
                if self.batches != Some(batches) {
                    self.batches = Some(batches);
                    self.bar.set_length((self.epochs * batches) as u64);
                }
                self.bar.set_position((epoch * batches + batch) as u64);
                self.bar
                    .set_prefix(format!("{}/{}", epoch + 1, self.epochs));
                self.bar.set_message(format!("loss {loss:.4}"));
            }
            Progress::Epoch(report) => {
                let done = report.epoch + 1;
                self.bar
                    .set_position((done * self.batches.unwrap_or(1)) as u64);
                self.bar
                    .set_prefix(format!("{}/{}", (done + 1).min(self.epochs), self.epochs));
                self.bar.println(epoch_line(report, self.epochs));
            }
        }
        ControlFlow::Continue(())
    }
}

impl Drop for ProgressBar {
    /// Clears the bar from the terminal (the epoch lines stay).
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// The line printed after an epoch, e.g. `epoch  3/10: training loss 0.4123, accuracy
/// 85.12% | validation loss 0.4012, accuracy 86.00% | 1.2 s`; the accuracies and the
/// validation part only when they were measured.
fn epoch_line(report: &EpochReport, epochs: usize) -> String {
    let width = epochs.to_string().len();
    let mut line = format!(
        "epoch {:>width$}/{epochs}: training loss {:.4}",
        report.epoch + 1,
        report.train_loss
    );
    if let Some(accuracy) = report.train_accuracy {
        line += &format!(", accuracy {:.2}%", 100.0 * accuracy);
    }
    if let Some(loss) = report.validation_loss {
        line += &format!(" | validation loss {loss:.4}");
    }
    if let Some(accuracy) = report.validation_accuracy {
        line += &format!(", accuracy {:.2}%", 100.0 * accuracy);
    }
    line + &format!(" | {:.1} s", report.seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FitOptions, History, NeuralNetwork};
    use nn_core::{Samples, Target};
    use nn_layers::{Identity, Tanh};
    use nn_loss::CrossEntropy;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn hidden(epochs: usize) -> ProgressBar {
        ProgressBar::with_target(epochs, ProgressDrawTarget::hidden())
    }

    /// A network, its data (10 samples: 4 batches of 3, the last of 1) and the options of
    /// a 3-epoch fit reporting every batch.
    fn fit(bar: Option<&mut ProgressBar>) -> History {
        let x = ndarray::Array2::from_shape_fn((2, 10), |(i, j)| (i + 2 * j) as f64 / 10.0);
        let classes: Vec<usize> = (0..10).map(|j| j % 2).collect();
        let data = Samples::new(x.view(), Target::Classes(&classes)).unwrap();
        let mut net = NeuralNetwork::<f64>::builder(2)
            .dense(4, Tanh)
            .dense(2, Identity)
            .loss(CrossEntropy)
            .learning_rate(0.1)
            .seed(1)
            .build()
            .unwrap();
        let options = FitOptions {
            epochs: 3,
            batch_size: 3,
            report_every: 1,
            ..FitOptions::default()
        };
        let mut rng = StdRng::seed_from_u64(5);
        let mut history = match bar {
            Some(bar) => net.fit_with(data, Some(data), &options, &mut rng, |e| bar.update(e)),
            None => net.fit_with(data, Some(data), &options, &mut rng, |_| {
                ControlFlow::Continue(())
            }),
        }
        .unwrap();
        // The wall-clock times differ from run to run.
        history.epochs.iter_mut().for_each(|r| r.seconds = 0.0);
        history
    }

    #[test]
    fn counts_the_batches_of_every_epoch_and_leaves_the_fit_unchanged() {
        let mut bar = hidden(3);
        let with_bar = fit(Some(&mut bar));
        assert_eq!(with_bar, fit(None));
        assert_eq!(with_bar.epochs.len(), 3);
        assert_eq!(bar.batches, Some(4));
        assert_eq!(bar.bar.length(), Some(12));
        assert_eq!(bar.bar.position(), 12);
        assert_eq!(bar.bar.prefix(), "3/3");
    }

    #[test]
    fn passes_every_event_through_and_moves_by_batch_then_by_epoch() {
        let mut bar = hidden(2);
        let batch = |epoch, batch| Progress::Batch {
            epoch,
            batch,
            batches: 5,
            loss: 0.5,
        };
        assert_eq!(bar.update(batch(0, 2)), ControlFlow::Continue(()));
        assert_eq!((bar.bar.position(), bar.bar.length()), (2, Some(10)));
        assert_eq!(bar.bar.message(), "loss 0.5000");
        assert_eq!(bar.bar.prefix(), "1/2");
        let report = EpochReport {
            epoch: 0,
            learning_rate: 0.1,
            train_loss: 0.5,
            train_accuracy: None,
            validation_loss: None,
            validation_accuracy: None,
            seconds: 0.0,
        };
        assert_eq!(
            bar.update(Progress::Epoch(&report)),
            ControlFlow::Continue(())
        );
        assert_eq!(bar.bar.position(), 5);
        assert_eq!(bar.bar.prefix(), "2/2");
        assert!(bar.update(batch(1, 4)).is_continue());
        assert_eq!(bar.bar.position(), 9);

        // Without batch events (report_every 0), the bar counts epochs.
        let mut bar = hidden(4);
        assert!(bar
            .update(Progress::Epoch(&EpochReport { epoch: 1, ..report }))
            .is_continue());
        assert_eq!((bar.bar.position(), bar.bar.length()), (2, Some(4)));
    }

    #[test]
    fn an_epoch_line_shows_what_was_measured() {
        let report = EpochReport {
            epoch: 2,
            learning_rate: 0.1,
            train_loss: 0.41234,
            train_accuracy: Some(0.8512),
            validation_loss: Some(0.4),
            validation_accuracy: Some(0.86),
            seconds: 1.23,
        };
        assert_eq!(
            epoch_line(&report, 10),
            "epoch  3/10: training loss 0.4123, accuracy 85.12% | validation loss 0.4000, accuracy 86.00% | 1.2 s"
        );
        let values = EpochReport {
            train_accuracy: None,
            validation_loss: None,
            validation_accuracy: None,
            ..report
        };
        assert_eq!(
            epoch_line(&values, 3),
            "epoch 3/3: training loss 0.4123 | 1.2 s"
        );
    }
}
