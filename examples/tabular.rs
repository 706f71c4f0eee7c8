//! Tables of numbers, as applications have them: CSV files with a header, float features
//! on very different scales, a class column of names, and a value to predict.
//!
//! The example writes two tables (drawn from a seed) into a directory, then for each:
//!
//! 1. reads it with `nn_data::read_table`, naming the target column;
//! 2. splits off a test set, and fits a standardisation on the training part only;
//! 3. trains a network with that step (and, for classes, their names) by `fit`;
//! 4. saves it, loads it back, and checks that the loaded network gives the same
//!    predictions from raw rows.
//!
//! - `flowers.csv`: 1 000 flowers of three species (`setosa`, `versicolor`, `virginica`)
//!   measured in centimetres, plus the altitude in metres where each grew (noise, a
//!   thousand times larger than the rest); classification by cross-entropy.
//! - `houses.csv`: 1 000 houses (area in m², rooms, age in years, distance to the centre
//!   in km) and their price in units of 100 000; regression by MSE, scored by R² and the
//!   mean absolute error.
//!
//! ```text
//! cargo run --release --example tabular [-- --dir DIR --seed N --min-accuracy P --min-r2 R]
//! ```

use std::error::Error;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use nn::data::{read_table, Dataset, TableOptions, TargetKind};
use nn::prelude::*;
use nn::rand::{rngs::StdRng, Rng, SeedableRng};
use nn::train::Evaluation;
use rand_distr::{Distribution, Normal};

#[path = "common/cli.rs"]
mod cli;

/// Samples per table, and how many of them are held out for the test.
const SAMPLES: usize = 1_000;
const TEST: usize = 200;

struct Options {
    dir: Option<PathBuf>,
    seed: u64,
    min_accuracy: Option<f64>,
    min_r2: Option<f64>,
}

fn main() {
    if let Err(message) = run() {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let options = parse_args()?;
    let dir = match &options.dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("nn-tabular-{}", std::process::id())),
    };
    fs::create_dir_all(&dir)?;
    let mut rng = StdRng::seed_from_u64(options.seed);

    let flowers = dir.join("flowers.csv");
    fs::write(&flowers, flowers_csv(&mut rng)?)?;
    let accuracy = classify(&flowers, &dir, &mut rng)?;

    let houses = dir.join("houses.csv");
    fs::write(&houses, houses_csv(&mut rng)?)?;
    let r_squared = regress(&houses, &dir, &mut rng)?;

    if options.dir.is_none() {
        fs::remove_dir_all(&dir)?;
    }
    cli::check_min_accuracy(accuracy, options.min_accuracy, "the test accuracy")?;
    if let Some(min) = options.min_r2 {
        if r_squared < min {
            return Err(format!("the test R² {r_squared:.4} is below --min-r2 {min}").into());
        }
    }
    Ok(())
}

/// Reads the flowers, trains a classifier on them, and returns its test accuracy.
fn classify(path: &Path, dir: &Path, rng: &mut StdRng) -> Result<f64, Box<dyn Error>> {
    // Step 1: the table. The species column holds names; they become classes 0, 1, 2
    // (sorted), and the dataset keeps the names.
    let data = read(path, &TableOptions::new().with_target("species"))?;
    let names = data.class_names().unwrap_or_default().to_vec();
    println!("classes: {names:?}");

    // Step 2: a test set drawn with the seed; standardisation fitted on the rest only.
    let (train, test) = data.split(TEST, rng)?;
    let standardize = Preprocessing::standardize(train.inputs().view())?;

    // Step 3: the network, with the step and the class names, trained by fit.
    let mut net = NeuralNetwork::builder(train.features())
        .dense(32, Relu)
        .dense(data.classes(), Identity)
        .loss(CrossEntropy)
        .optimizer(Adam::new(0.01)?)
        .preprocessing(standardize)
        .class_names(names)
        .seed(rng.random())
        .build()?;
    println!("{net}");
    let before = net.evaluate(test.samples()?, 256)?;
    fit(&mut net, &train, &test, 30)?;
    let after = net.evaluate(test.samples()?, 256)?;
    let accuracy = after.accuracy.unwrap_or_default();
    println!(
        "classification: test accuracy {:.2}% -> {:.2}% ({} training, {} test samples)",
        100.0 * before.accuracy.unwrap_or_default(),
        100.0 * accuracy,
        train.len(),
        test.len()
    );

    // Step 4: saved, loaded, and asked about raw rows (one sample per row, as a table
    // holds them; the network takes columns, so the rows go in transposed).
    let loaded = save_and_load(&net, &dir.join("flowers.safetensors"))?;
    same_predictions(&net, &loaded, &test)?;
    let rows = ndarray::array![
        [5.0f32, 3.4, 1.5, 0.2, 1200.0],
        [6.0, 2.8, 4.4, 1.3, 300.0],
        [6.7, 3.0, 5.7, 2.1, 2500.0],
    ];
    for (row, name) in rows.rows().into_iter().zip(loaded.predict_names(rows.t())?) {
        println!("  {row} -> {name}");
    }
    Ok(accuracy)
}

/// Reads the houses, trains a regression on them, and returns its test R².
fn regress(path: &Path, dir: &Path, rng: &mut StdRng) -> Result<f64, Box<dyn Error>> {
    let options = TableOptions::new()
        .with_target("price")
        .with_kind(TargetKind::Values);
    let data = read(path, &options)?;
    let (train, test) = data.split(TEST, rng)?;
    let standardize = Preprocessing::standardize(train.inputs().view())?;

    let mut net = NeuralNetwork::builder(train.features())
        .dense(32, Tanh)
        .dense(1, Identity)
        .loss(Mse)
        .optimizer(Adam::new(0.01)?)
        .preprocessing(standardize)
        .seed(rng.random())
        .build()?;
    fit(&mut net, &train, &test, 100)?;
    let Evaluation {
        loss,
        mean_absolute_error,
        r_squared,
        ..
    } = net.evaluate(test.samples()?, 256)?;
    let r_squared = r_squared.unwrap_or_default();
    println!(
        "regression: test R² {r_squared:.4}, mean absolute error {:.3} (×100 000), MSE {loss:.4}",
        mean_absolute_error.unwrap_or_default(),
    );

    let loaded = save_and_load(&net, &dir.join("houses.safetensors"))?;
    if loaded.forward_pass(test.inputs().view())? != net.forward_pass(test.inputs().view())? {
        return Err("the loaded regression predicts differently".into());
    }
    let rows = ndarray::array![[120.0f32, 4.0, 10.0, 3.0], [45.0, 1.0, 80.0, 25.0]];
    let prices = loaded.forward_pass(rows.t())?;
    for (row, price) in rows.rows().into_iter().zip(prices.iter()) {
        println!("  {row} -> price {price:.2}");
    }
    Ok(r_squared)
}

/// The table at `path` as a dataset, after a line about it.
fn read(path: &Path, options: &TableOptions) -> nn::Result<Dataset<f32>> {
    let table = read_table::<f32>(path, options)?;
    println!(
        "{}: {} samples, features {:?}",
        path.display(),
        table.len(),
        table.feature_names()
    );
    table.into_dataset()
}

/// `epochs` shuffled epochs of batches of 32 (shuffled from the seed of the options),
/// watching the test set.
fn fit(
    net: &mut NeuralNetwork<f32>,
    train: &Dataset<f32>,
    test: &Dataset<f32>,
    epochs: usize,
) -> nn::Result<()> {
    let options = FitOptions {
        epochs,
        batch_size: 32,
        ..FitOptions::default()
    };
    net.fit(train.samples()?, Some(test.samples()?), &options)?;
    Ok(())
}

fn save_and_load(net: &NeuralNetwork<f32>, path: &Path) -> nn::Result<NeuralNetwork<f32>> {
    net.save(path)?;
    let loaded = NeuralNetwork::load(path)?;
    println!("saved to {} and loaded back", path.display());
    Ok(loaded)
}

/// Fails unless both networks predict the same classes for every test sample.
fn same_predictions(
    net: &NeuralNetwork<f32>,
    loaded: &NeuralNetwork<f32>,
    test: &Dataset<f32>,
) -> Result<(), Box<dyn Error>> {
    let x = test.inputs().view();
    if loaded.predict_names(x)? != net.predict_names(x)? {
        return Err("the loaded classifier predicts differently".into());
    }
    println!(
        "the loaded network gives the same {} predictions",
        test.len()
    );
    Ok(())
}

/// The flowers' table: each species' measurements drawn around its own means, and an
/// altitude that says nothing of the species.
fn flowers_csv(rng: &mut StdRng) -> Result<String, Box<dyn Error>> {
    // Means of sepal length, sepal width, petal length and petal width (cm), per species.
    let species = [
        ("setosa", [5.0, 3.4, 1.5, 0.25]),
        ("versicolor", [5.9, 2.8, 4.3, 1.3]),
        ("virginica", [6.6, 3.0, 5.6, 2.0]),
    ];
    let spread = [0.5, 0.4, 0.8, 0.4];
    let mut text =
        String::from("sepal_length,sepal_width,petal_length,petal_width,altitude_m,species\n");
    for _ in 0..SAMPLES {
        let (name, means) = species[rng.random_range(0..species.len())];
        for (mean, sd) in means.iter().zip(spread) {
            let value: f64 = Normal::new(*mean, sd)?.sample(rng);
            write!(text, "{:.2},", value.max(0.1))?;
        }
        writeln!(text, "{:.0},{name}", rng.random_range(0.0..3000.0))?;
    }
    Ok(text)
}

/// The houses' table: a price (in units of 100 000) that grows with the area and the
/// rooms, falls with the age and the distance to the centre, with some noise.
fn houses_csv(rng: &mut StdRng) -> Result<String, Box<dyn Error>> {
    let noise = Normal::new(0.0, 0.1)?;
    let mut text = String::from("area_m2,rooms,age_years,distance_km,price\n");
    for _ in 0..SAMPLES {
        let area: f64 = rng.random_range(30.0..250.0);
        let rooms = (area / 35.0).round().clamp(1.0, 7.0);
        let age: f64 = rng.random_range(0.0..100.0);
        let distance: f64 = rng.random_range(0.5..40.0);
        // A central flat's area is worth more: the last term fades with the distance.
        let price = 2.0 + 0.025 * area + 0.15 * rooms - 0.008 * age - 0.5 * distance.ln()
            + 0.02 * area * (-distance / 10.0).exp()
            + noise.sample(rng);
        writeln!(text, "{area:.1},{rooms},{age:.0},{distance:.2},{price:.3}")?;
    }
    Ok(text)
}

const HELP: &str = "\
usage: tabular [--dir DIR] [--seed N] [--min-accuracy PERCENT] [--min-r2 R2]

Writes two CSV tables (flowers by species, houses with a price), trains a classifier and a
regression on them with a standardisation step, saves, reloads and predicts raw rows.

  --dir DIR               where to write the tables and the model files (kept); default:
                          a temporary directory, removed at the end
  --seed N                seed of the tables, the splits and the weights (default 0)
  --min-accuracy PERCENT  fail (exit status 1) below this test accuracy, in % (0-100;
                          default: no floor)
  --min-r2 R2             fail below this test R² of the regression (at most 1; default:
                          no floor)
  --help                  this text";

fn parse_args() -> Result<Options, Box<dyn Error>> {
    use lexopt::prelude::*;
    let mut options = Options {
        dir: None,
        seed: 0,
        min_accuracy: None,
        min_r2: None,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("dir") => options.dir = Some(parser.value()?.into()),
            Long("seed") => options.seed = cli::value(&mut parser, "--seed")?,
            Long("min-accuracy") => {
                options.min_accuracy = Some(cli::value(&mut parser, "--min-accuracy")?)
            }
            Long("min-r2") => options.min_r2 = Some(cli::value(&mut parser, "--min-r2")?),
            Long("help") => {
                println!("{HELP}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    // NaN would pass every comparison: a floor that cannot fail is refused.
    if let Some(p) = options.min_accuracy {
        cli::percent(p, "--min-accuracy")?;
    }
    if let Some(r) = options.min_r2.filter(|r| !(r.is_finite() && *r <= 1.0)) {
        return Err(format!("--min-r2: {r} is not a number up to 1").into());
    }
    Ok(options)
}
