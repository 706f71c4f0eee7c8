//! The series' student-teacher experiment: can a small network learn from a bigger one's
//! outputs instead of from the labels?
//!
//! 1. The teacher, 784→16→16→10 LeakyReLU, learns the classes with cross-entropy (learning
//!    rate 0.03, inputs divided by 255, one ordered pass, one image per step): the same
//!    network as `mnist --config cross-entropy`.
//! 2. Its raw outputs on every training image become the targets of six students,
//!    784→10 LeakyReLU, each trained with MSE to reproduce them (one pass, one image per
//!    step) at learning rates 0.001, 0.003, 0.01, 0.03, 0.1 and 0.3. The students never
//!    see a label. The article reported 82.0, 82.7, 82.6, 82.3, 69.4 and 36.6% for them,
//!    86.7% for the teacher, on the MNIST digits.
//! 3. With `--distill` (or `--temperature T`, default 2), six more students learn the
//!    teacher's softened probabilities `softmax(v/T)` with cross-entropy, as in knowledge
//!    distillation: a high temperature spreads the probability over the classes the
//!    teacher finds similar, which tells the student more than the top class alone. A
//!    student matching `softmax(v/T)` learns logits of about `v/T`, whose largest entry is
//!    the teacher's.
//!
//! Every network starts from the original's initialisation (`Init::Original`), and every
//! student sees the images in the same order as the teacher. The data is Fashion-MNIST by
//! default; `--data DIR` takes the MNIST digits.
//!
//! ```text
//! cargo run --release --example teacher_student -- [--distill] [--temperature T]
//!     [--data DIR] [--limit N] [--seed N]
//! ```

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use indicatif::ProgressBar;
use nn::ndarray::ShapeBuilder;
use nn::prelude::*;
use nn::rand::{rngs::StdRng, SeedableRng};
use nn::train::accuracy;
use nn_data::Dataset;

#[path = "common/cli.rs"]
mod cli;
#[path = "common/data.rs"]
mod data;
#[path = "common/progress.rs"]
mod progress;

/// The students' learning rates, as in the article.
const STUDENT_RATES: [f32; 6] = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3];

fn main() {
    // Every failure, from a bad flag to a corrupted file, ends here as one line.
    if let Err(message) = run() {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let options = parse_args()?;
    let mut rng = StdRng::seed_from_u64(options.seed);

    // The data, raw pixels 0..=255 (every network divides them by 255 itself).
    let (train, test) = data::load(&options.data, options.limit)?;
    let (inputs, n) = (train.inputs().view(), train.len());
    println!(
        "data {}: {} training images, {} test images",
        options.data.display(),
        n,
        test.len()
    );
    let runs = 1 + STUDENT_RATES.len() * if options.temperature.is_some() { 2 } else { 1 };
    let bar = progress::bar((runs * n) as u64, "images");

    // Step 1: the teacher learns from the labels.
    let teacher = train_teacher(&train, &test, &bar, &mut rng)?;

    // Step 2: the teacher's raw outputs on every training image, one column per image:
    // the students' targets.
    let targets = teacher_outputs(&teacher.net, inputs)?;
    let lesson = Lesson {
        inputs,
        test: &test,
        teacher_predictions: &teacher.predictions,
        bar: &bar,
    };

    // Step 3: the students learn to reproduce those outputs with MSE.
    bar.suspend(|| {
        println!(
            "students 784→10 LeakyReLU, MSE on the teacher's outputs, one pass each \
             (the article, on digits: 82.0, 82.7, 82.6, 82.3, 69.4, 36.6%):"
        )
    });
    let mut results = lesson.teach(&Mse, &targets, &mut rng)?;

    // Step 4 (--distill): the students learn the teacher's probabilities, softened by the
    // temperature, with cross-entropy.
    if let Some(temperature) = options.temperature {
        let softened = soften(&targets, temperature);
        bar.suspend(|| {
            println!(
                "distilled students 784→10 LeakyReLU, cross-entropy on softmax(outputs/{temperature}), one pass each:"
            )
        });
        results.extend(lesson.teach(&CrossEntropy, &softened, &mut rng)?);
    }
    bar.finish_and_clear();

    let best = results.iter().cloned().fold(0.0, f64::max);
    println!(
        "teacher: {:.2}%, best student: {:.2}%",
        100.0 * teacher.accuracy,
        100.0 * best
    );
    Ok(())
}

/// The trained teacher, with its predicted class of each test image and its test accuracy.
struct Teacher {
    net: NeuralNetwork<f32>,
    predictions: Vec<usize>,
    accuracy: f64,
}

/// The teacher, 784→16→16→10 LeakyReLU, after one pass of cross-entropy on the labels of
/// `train`; its test accuracy is printed.
fn train_teacher(
    train: &Dataset<f32>,
    test: &Dataset<f32>,
    bar: &ProgressBar,
    rng: &mut StdRng,
) -> Result<Teacher, Box<dyn Error>> {
    let mut net = NeuralNetwork::new(
        vec![
            Dense::new(784, 16, LeakyRelu, Init::Original, rng)?,
            Dense::new(16, 16, LeakyRelu, Init::Original, rng)?,
            Dense::new(16, 10, LeakyRelu, Init::Original, rng)?,
        ],
        CrossEntropy,
        0.03,
    )?;
    net.set_preprocessing(Some(pixels_to_unit()?))?;
    let labels = train.labels();
    let started = Instant::now();
    one_pass(
        &mut net,
        train.inputs().view(),
        |j| Target::Classes(&labels[j..j + 1]),
        bar,
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let predictions = net.predict(test.inputs().view())?;
    let accuracy = accuracy(&predictions, test.labels())?;
    bar.suspend(|| {
        println!(
            "teacher 784→16→16→10 LeakyReLU, cross-entropy, learning rate 0.03, one pass: \
             test accuracy {:.2}% ({seconds:.2} s)",
            100.0 * accuracy
        )
    });
    Ok(Teacher {
        net,
        predictions,
        accuracy,
    })
}

/// The teacher's raw outputs on `inputs`, one column per image, copied into column-major
/// order so that each image's target column is contiguous, like its input column.
fn teacher_outputs(
    teacher: &NeuralNetwork<f32>,
    inputs: ArrayView2<'_, f32>,
) -> nn::Result<Array2<f32>> {
    let outputs = teacher.forward_pass(inputs)?;
    let mut targets = Array2::zeros(outputs.raw_dim().f());
    targets.assign(&outputs);
    Ok(targets)
}

/// `softmax(v/T)` of each column `v` of `targets`, for temperature `T`.
fn soften(targets: &Array2<f32>, temperature: f32) -> Array2<f32> {
    let mut softened = Array2::zeros(targets.raw_dim().f());
    for (v, p) in targets.columns().into_iter().zip(softened.columns_mut()) {
        nn::loss::softmax_into((&v / temperature).view(), p);
    }
    softened
}

/// What every student shares: the training images, the test set, the teacher's
/// predictions on it (to measure agreement) and the progress bar.
struct Lesson<'a> {
    inputs: ArrayView2<'a, f32>,
    test: &'a Dataset<f32>,
    teacher_predictions: &'a [usize],
    bar: &'a ProgressBar,
}

impl Lesson<'_> {
    /// One student per rate of [`STUDENT_RATES`], each learning `targets` (a column per
    /// training image) with `loss` in one ordered pass. Returns their test accuracies.
    fn teach(
        &self,
        loss: &dyn Loss<f32>,
        targets: &Array2<f32>,
        rng: &mut StdRng,
    ) -> Result<Vec<f64>, Box<dyn Error>> {
        let mut results = Vec::new();
        for rate in STUDENT_RATES {
            let mut student = student(loss, rate, rng)?;
            let trained = one_pass(
                &mut student,
                self.inputs,
                |j| Target::Values(targets.slice(s![.., j..j + 1])),
                self.bar,
            );
            results.push(self.report(rate, trained, &student)?);
        }
        Ok(results)
    }

    /// Prints a student's test accuracy, and how often it agrees with the teacher, and
    /// returns the accuracy. A student whose training diverged is reported as such: at
    /// the highest rates that is a result of the experiment, not a failure of the
    /// program.
    fn report(
        &self,
        rate: f32,
        trained: nn::Result<()>,
        student: &NeuralNetwork<f32>,
    ) -> Result<f64, Box<dyn Error>> {
        if let Err(e @ nn::Error::Diverged { .. }) = trained {
            self.bar
                .suspend(|| println!("  learning rate {rate:<5}: diverged ({e})"));
            return Ok(0.0);
        }
        trained?;
        let predictions = student.predict(self.test.inputs().view())?;
        let student_accuracy = accuracy(&predictions, self.test.labels())?;
        let agreement = accuracy(&predictions, self.teacher_predictions)?;
        self.bar.suspend(|| {
            println!(
                "  learning rate {rate:<5}: test accuracy {:.2}%, agrees with the teacher on {:.2}% of test images",
                100.0 * student_accuracy,
                100.0 * agreement
            )
        });
        Ok(student_accuracy)
    }
}

/// A student: 784→10 LeakyReLU with the original's initialisation.
fn student(loss: &dyn Loss<f32>, rate: f32, rng: &mut StdRng) -> nn::Result<NeuralNetwork<f32>> {
    let layer = Dense::new(784, 10, LeakyRelu, Init::Original, rng)?;
    let mut net = NeuralNetwork::with_boxed_loss(vec![layer], loss.clone_box(), rate)?;
    net.set_preprocessing(Some(pixels_to_unit()?))?;
    Ok(net)
}

/// Every network's first step: the pixels 0..=255 divided by 255, as the series does.
fn pixels_to_unit() -> nn::Result<Preprocessing<f32>> {
    Preprocessing::scale(784, 1.0 / 255.0)
}

/// One ordered pass over the training images, one SGD step per image: `target(j)` is the
/// target of image `j`.
fn one_pass<'t>(
    net: &mut NeuralNetwork<f32>,
    inputs: ArrayView2<'_, f32>,
    target: impl Fn(usize) -> Target<'t, f32>,
    bar: &ProgressBar,
) -> nn::Result<()> {
    for j in 0..inputs.ncols() {
        net.train(inputs.slice(s![.., j..j + 1]), target(j))?;
        if (j + 1) % 1000 == 0 {
            bar.inc(1000);
        }
    }
    bar.inc((inputs.ncols() % 1000) as u64);
    Ok(())
}

struct Options {
    data: PathBuf,
    seed: u64,
    limit: Option<usize>,
    /// `Some(T)` with `--distill` or `--temperature T`.
    temperature: Option<f32>,
}

const HELP: &str = "\
usage: teacher_student [--distill] [--temperature T] [--data DIR] [--limit N] [--seed N]

The student-teacher experiment: a 784→16→16→10 teacher learns the labels in one pass, then
784→10 students learn the teacher's outputs at six learning rates; prints each one's test
accuracy and agreement with the teacher.

  --distill         also train students on the teacher's probabilities softened at
                    temperature 2, with cross-entropy (default: off)
  --temperature T   as --distill, at temperature T (a positive number)
  --data DIR        the directory of the MNIST-format files, IDX (plain or .gz) or CSV
                    (default /usr/share/datasets/fashion-mnist)
  --limit N         train on the first N training images only (default: all 60 000)
  --seed N          seed of the weights (an integer; default 0)
  --help            this text";

fn parse_args() -> Result<Options, Box<dyn Error>> {
    use lexopt::prelude::*;
    let mut options = Options {
        data: PathBuf::from(data::DEFAULT_DATA),
        seed: 0,
        limit: None,
        temperature: None,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("data") => options.data = parser.value()?.into(),
            Long("seed") => options.seed = cli::value(&mut parser, "--seed")?,
            Long("limit") => options.limit = Some(cli::value(&mut parser, "--limit")?),
            Long("distill") => options.temperature = options.temperature.or(Some(2.0)),
            Long("temperature") => {
                let t: f32 = cli::value(&mut parser, "--temperature")?;
                if !(t.is_finite() && t > 0.0) {
                    return Err(format!("--temperature {t} must be a positive number").into());
                }
                options.temperature = Some(t);
            }
            Long("help") => {
                println!("{HELP}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    Ok(options)
}
