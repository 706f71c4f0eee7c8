//! The articles' training: one SGD step per image, the images in the file's order, as the
//! series' `train(x, t)` does.

use std::error::Error;
use std::ops::Range;
use std::time::Instant;

use indicatif::ProgressBar;
use nn::prelude::*;
use nn_data::Dataset;

use nn_plot::{Curve, Point};

use crate::{progress, EVAL_BATCH};

/// The two curves of the per-sample training.
struct Curves {
    train: Curve,
    test: Curve,
}

/// A tenth of a pass over the training set, after which the test set is evaluated: the
/// images `images` of the `n`, in pass `epoch` (from 0).
struct Stretch {
    epoch: usize,
    images: Range<usize>,
    n: usize,
}

impl Stretch {
    /// The stretch's middle, in passes over the training set: where its mean training loss
    /// belongs.
    fn middle(&self) -> f64 {
        self.epoch as f64 + (self.images.start + self.images.end) as f64 / (2 * self.n) as f64
    }

    /// The stretch's end, in passes over the training set: where the test set is measured.
    fn end(&self) -> f64 {
        self.epoch as f64 + self.images.end as f64 / self.n as f64
    }
}

/// The article's training: one SGD step per image, the images in the file's order, `epochs`
/// times over. Every tenth of a pass, the test set is evaluated (outside the timed part) to
/// show how learning goes. Returns the curves (the training loss, the test loss and
/// accuracy), the number of training images seen and the seconds spent in training steps.
pub fn train_per_sample(
    net: &mut NeuralNetwork<f32>,
    train: &Dataset<f32>,
    test: Samples<'_, f32>,
    epochs: usize,
) -> Result<(Vec<Curve>, usize, f64), Box<dyn Error>> {
    let n = train.len();
    let stretch_len = n.div_ceil(10).max(1);
    let mut curves = Curves {
        train: Curve {
            name: "training (mean since the last point)".into(),
            points: Vec::new(),
        },
        test: Curve {
            name: "test".into(),
            points: Vec::new(),
        },
    };
    let bar = progress::bar((epochs * n) as u64, "images");
    let mut seconds = 0.0;
    for epoch in 0..epochs {
        for first in (0..n).step_by(stretch_len) {
            let stretch = Stretch {
                epoch,
                images: first..(first + stretch_len).min(n),
                n,
            };
            let started = Instant::now();
            let mean_loss = train_stretch(net, train, stretch.images.clone())?;
            seconds += started.elapsed().as_secs_f64();
            bar.inc(stretch.images.len() as u64);
            record_stretch(net, test, &stretch, mean_loss, &mut curves, &bar)?;
        }
    }
    bar.finish_and_clear();
    Ok((vec![curves.train, curves.test], epochs * n, seconds))
}

/// One SGD step per image of `images`, in order. Returns the mean of the losses, each
/// measured before its step.
fn train_stretch(
    net: &mut NeuralNetwork<f32>,
    train: &Dataset<f32>,
    images: Range<usize>,
) -> nn::Result<f64> {
    let (inputs, labels) = (train.inputs(), train.labels());
    let mut loss_sum = 0.0;
    for j in images.clone() {
        // Image j as a column (784, 1) and its class: one step of the article's
        // `train(x, t)`: forward, backpropagate, `W -= lr·dW`, `b -= lr·db`. It returns
        // the loss before the step.
        let x = inputs.slice(s![.., j..j + 1]);
        let loss = net.train(x, Target::Classes(&labels[j..j + 1]))?;
        loss_sum += f64::from(loss);
    }
    Ok(loss_sum / images.len() as f64)
}

/// After a stretch: evaluates the test set, adds the stretch's points to the curves and
/// prints a line above the bar.
fn record_stretch(
    net: &NeuralNetwork<f32>,
    test: Samples<'_, f32>,
    stretch: &Stretch,
    mean_loss: f64,
    curves: &mut Curves,
    bar: &ProgressBar,
) -> nn::Result<()> {
    curves.train.points.push(Point {
        epoch: stretch.middle(),
        loss: mean_loss,
        accuracy: None,
    });
    let now = net.evaluate(test, EVAL_BATCH)?;
    let accuracy = now.accuracy.unwrap_or_default();
    curves.test.points.push(Point {
        epoch: stretch.end(),
        loss: now.loss,
        accuracy: now.accuracy,
    });
    bar.set_message(format!("test accuracy {:.1}%", 100.0 * accuracy));
    bar.suspend(|| {
        println!(
            "pass {}, {:>5} images: training loss {mean_loss:.4}, test loss {:.4}, test accuracy {:.2}%",
            stretch.epoch + 1,
            stretch.images.end,
            now.loss,
            100.0 * accuracy
        )
    });
    Ok(())
}
