//! `nn`'s side of the comparison with NumPy, PyTorch and scikit-learn: the same workloads
//! as `workloads.py`, printed as the same `RESULT {...}` lines so that `run.sh` can put the
//! figures side by side.
//!
//! ```text
//! cargo bench --bench compare -- [--only per-sample|epoch|accuracy|floor|inference] [--quick]
//!                                 [--data-dir DIR]
//! ```
//!
//! - `per-sample`: one SGD step on one sample, 784→16→16→10 LeakyReLU(0.1), MSE on one-hot
//!   targets, learning rate 0.001, the original's initialisation; median over 5 runs of
//!   5 000 steps on Fashion-MNIST images /255, after 200 warm-up steps. Through
//!   `NeuralNetwork::train` (`per_sample_step`), through a `SampleStream`
//!   (`per_sample_stream`) and pushed into one (`per_sample_push`, blocks of steps), in
//!   f32 and in f64 (`_f64`).
//! - `epoch`: one epoch of the 60 000 training images /255, 784→256→128→10 ReLU,
//!   cross-entropy, batches of 128 reshuffled each epoch, on the machine's cores: SGD with
//!   momentum 0.9 (learning rate 0.01) and Adam (1e-3); median of 3 epochs after a warm-up.
//!   SGD momentum again on one thread (`epoch_sgd_momentum_1_thread`).
//! - `accuracy`: the SGD-momentum workload for 5 epochs with seeds 0, 1, 2; test accuracy
//!   per seed and the median.
//! - `floor`: the matrix products of one `epoch` alone (forward `W·x`, the weight gradients
//!   `delta·xᵀ` and the input gradients `Wᵀ·delta` of layers 2 and 3: 60.4 GFLOP over the
//!   469 batches), through nn's engine (gemm) in a team as `fit` runs them, on the
//!   machine's cores and on one: the time an epoch could take if nothing but its products
//!   cost anything. On several cores, two layouts: the batch cut into one share of
//!   columns per thread, each share's products on its thread (as a training step of a
//!   small network does), and each product cut over the threads (as this network's step
//!   does, by rows); the floor is the faster. Median of 3 after a
//!   warm-up.
//! - `inference`: the `epoch` network's logits for the 10 000 test images in one call, and
//!   for one image (median of 2 000 calls), on the machine's cores; the network is also
//!   written to `target/compare/modern.onnx`, which `workloads.py` times in ONNX Runtime.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use nn::core::compute::matmul::matmul;
use nn::core::compute::team::{join, with_team};
use nn::prelude::*;
use nn::rand::{rngs::StdRng, Rng, SeedableRng};
use nn::train::{Adam, FitOptions};
use nn_data::Dataset;

struct Options {
    only: Option<String>,
    quick: bool,
    data_dir: PathBuf,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let options = parse_args()?;
    let (train, test) = nn_data::load_mnist_dir::<f32>(&options.data_dir)?;
    let (train, test) = (train.scaled(1.0 / 255.0), test.scaled(1.0 / 255.0));
    let wants = |w: &str| options.only.as_deref().is_none_or(|o| o == w);
    if wants("per-sample") {
        per_sample(&train, &options)?;
    }
    if wants("epoch") {
        epoch(&train, &options)?;
    }
    if wants("accuracy") {
        accuracy(&train, &test, &options)?;
    }
    if wants("floor") {
        floor(&options);
    }
    if wants("inference") {
        inference(&test, &options)?;
    }
    Ok(())
}

/// How the products of a step are spread over the threads.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Layout {
    /// As a training step of a small network does: the batch cut into one share of
    /// columns per thread, each share's products on its own thread (the weight gradients
    /// of the shares are then summed, which the floor leaves out).
    Shares,
    /// Each product cut in blocks over the threads, one product after the other (a
    /// training step of this network cuts them by rows, as `Dense::forward_into` says).
    SplitProducts,
}

/// The products of one epoch of 784→256→128→10 at batch 128 over `samples` samples, in
/// nn's layout (a sample is a column), on `threads` threads laid out as `layout`, inside
/// a team as `fit` runs them; returns the seconds.
fn epoch_products(threads: usize, samples: usize, layout: Layout) -> f64 {
    let sizes = [784, 256, 128, 10];
    let mut rng = StdRng::seed_from_u64(0);
    let mut random =
        |rows, cols| Array2::from_shape_simple_fn((rows, cols), || rng.random_range(-1.0f32..1.0));
    let weights: Vec<_> = sizes.windows(2).map(|w| random(w[1], w[0])).collect();
    let zero_grads = || -> Vec<Array2<f32>> {
        sizes
            .windows(2)
            .map(|w| Array2::zeros((w[1], w[0])))
            .collect()
    };
    // The products of a batch of `batch` columns on `threads` threads.
    let mut run = |batch: usize, threads: usize| {
        // xs[i] is layer i's input, deltas[i] its output gradient, dxs[i] its input gradient.
        let mut xs: Vec<_> = sizes.iter().map(|&n| random(n, batch)).collect();
        let deltas: Vec<_> = sizes[1..].iter().map(|&n| random(n, batch)).collect();
        let mut dxs: Vec<_> = sizes
            .iter()
            .map(|&n| Array2::<f32>::zeros((n, batch)))
            .collect();
        let mut grads = zero_grads();
        move |weights: &[Array2<f32>]| {
            for i in 0..3 {
                let (below, above) = xs.split_at_mut(i + 1);
                matmul(
                    1.0,
                    weights[i].view(),
                    below[i].view(),
                    0.0,
                    above[0].view_mut(),
                    threads,
                );
            }
            for i in (0..3).rev() {
                matmul(
                    1.0,
                    deltas[i].view(),
                    xs[i].t(),
                    0.0,
                    grads[i].view_mut(),
                    threads,
                );
                if i > 0 {
                    matmul(
                        1.0,
                        weights[i].t(),
                        deltas[i].view(),
                        0.0,
                        dxs[i].view_mut(),
                        threads,
                    );
                }
            }
            std::hint::black_box(&grads);
        }
    };
    // One closure per share: all of the batch on `threads` threads, or a share on one.
    let mut steps_for = |batch: usize| -> Vec<_> {
        match layout {
            Layout::SplitProducts => vec![run(batch, threads)],
            Layout::Shares => (0..threads)
                .map(|p| run(batch * (p + 1) / threads - batch * p / threads, 1))
                .collect(),
        }
    };
    let (full, last) = (samples / 128, samples % 128);
    let mut step = steps_for(128);
    let mut last_step = steps_for(last.max(1));
    // Each share on its own thread, by halves, as the training step does.
    fn on_threads(steps: &mut [impl FnMut(&[Array2<f32>]) + Send], weights: &[Array2<f32>]) {
        match steps {
            [] => {}
            [one] => one(weights),
            _ => {
                let (left, right) = steps.split_at_mut(steps.len() / 2);
                join(|| on_threads(left, weights), || on_threads(right, weights));
            }
        }
    }
    with_team(threads, || {
        let started = Instant::now();
        for _ in 0..full {
            on_threads(&mut step, &weights);
        }
        if last > 0 {
            on_threads(&mut last_step, &weights);
        }
        started.elapsed().as_secs_f64()
    })
}

fn floor(options: &Options) {
    let samples = if options.quick { 6016 } else { 60_000 };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Forward, weight gradients, and the input gradients of layers 2 and 3, per sample.
    let flop = 2.0
        * (2.0 * (784.0 * 256.0 + 256.0 * 128.0 + 128.0 * 10.0) + (256.0 * 128.0 + 128.0 * 10.0));
    for threads in [cores, 1] {
        // On one thread both layouts are the same; on several, the floor is the faster.
        let layouts: &[Layout] = if threads > 1 {
            &[Layout::Shares, Layout::SplitProducts]
        } else {
            &[Layout::Shares]
        };
        let mut best = f64::INFINITY;
        for &layout in layouts {
            epoch_products(threads, samples, layout);
            let times: Vec<f64> = (0..3)
                .map(|_| epoch_products(threads, samples, layout))
                .collect();
            let value = median(times.clone());
            let gflops = flop * samples as f64 / value / 1e9;
            eprintln!("nn epoch products, {threads} thread(s), {layout:?}: {value:.3} s, {gflops:.1} GFLOP/s (runs: {times:.3?})");
            best = best.min(value);
        }
        let gflops = flop * samples as f64 / best / 1e9;
        result(
            &format!("epoch_products_{threads}_threads"),
            "s",
            best,
            &format!(", \"threads\": {threads}, \"gflops\": {gflops:.1}, \"samples\": {samples}"),
            options.quick,
        );
    }
}

fn inference(test: &Dataset<f32>, options: &Options) -> nn::Result<()> {
    let net = modern(0)?;
    std::fs::create_dir_all("target/compare").map_err(|e| nn::Error::Io {
        path: "target/compare".into(),
        source: e,
    })?;
    nn::onnx::save_onnx(&net, "target/compare/modern.onnx")?;
    let x = test.inputs().view();
    let threads = net.threads();
    let repeats = if options.quick { 3 } else { 10 };
    net.forward_pass(x)?;
    let times: Vec<f64> = (0..repeats)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(net.forward_pass(x)?);
            Ok(started.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<nn::Result<_>>()?;
    let value = median(times.clone());
    eprintln!(
        "nn logits of {} images: {value:.2} ms (runs: {times:.2?})",
        x.ncols()
    );
    result(
        "predict_10000",
        "ms",
        value,
        &format!(", \"threads\": {threads}"),
        options.quick,
    );

    let calls = if options.quick { 200 } else { 2_000 };
    let mut times = Vec::with_capacity(calls);
    for j in 0..calls + 100 {
        let column = x.slice(s![.., j..j + 1]);
        let started = Instant::now();
        std::hint::black_box(net.forward_pass(column)?);
        if j >= 100 {
            times.push(started.elapsed().as_secs_f64() * 1e6);
        }
    }
    let value = median(times);
    eprintln!("nn logits of one image: {value:.2} µs (median of {calls})");
    result(
        "predict_1",
        "us",
        value,
        &format!(", \"threads\": {threads}"),
        options.quick,
    );
    Ok(())
}

fn result(workload: &str, unit: &str, value: f64, extra: &str, quick: bool) {
    println!(
        "RESULT {{\"framework\": \"nn\", \"workload\": \"{workload}\", \"unit\": \"{unit}\", \
         \"value\": {value}{extra}, \"quick\": {quick}}}"
    );
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn per_sample(train: &Dataset<f32>, options: &Options) -> nn::Result<()> {
    // The f32 figure through `train` keeps its historical name; f64 is the Python
    // module's (and the original's) default type. Both data sets come from the loader,
    // so both lie on the memory it allocates (huge pages where the kernel offers them).
    let (train64, _) = nn_data::load_mnist_dir::<f64>(&options.data_dir)?;
    let x64 = train64.scaled(1.0 / 255.0).into_parts().0;
    for (name, way) in [
        ("per_sample_step", Way::Train),
        ("per_sample_stream", Way::Stream),
        ("per_sample_push", Way::Push),
    ] {
        per_sample_run(train.inputs().view(), train.labels(), name, way, options)?;
        per_sample_run(
            x64.view(),
            train.labels(),
            &format!("{name}_f64"),
            way,
            options,
        )?;
    }
    Ok(())
}

/// How a per-sample run trains.
#[derive(Clone, Copy)]
enum Way {
    /// `NeuralNetwork::train`.
    Train,
    /// `SampleStream::train`.
    Stream,
    /// `SampleStream::push`: blocks of steps.
    Push,
}

/// The per-sample steps through `NeuralNetwork::train`, or through a `SampleStream`.
fn per_sample_run<F: Float>(
    x: ArrayView2<'_, F>,
    labels: &[usize],
    name: &str,
    way: Way,
    options: &Options,
) -> nn::Result<()> {
    let mut rng = StdRng::seed_from_u64(0);
    let layers = [784, 16, 16, 10]
        .windows(2)
        .map(|w| Dense::new(w[0], w[1], LeakyRelu, Init::Original, &mut rng))
        .collect::<nn::Result<Vec<_>>>()?;
    let mut net = NeuralNetwork::new(layers, Mse, F::from_f64(0.001))?;
    let mut stream = SampleStream::new(&mut net);
    let (repeats, steps) = if options.quick {
        (3, 1_000)
    } else {
        (5, 5_000)
    };
    let mut j = 0;
    let mut step = |stream: &mut SampleStream<F, &mut NeuralNetwork<F>>| -> nn::Result<()> {
        let (sample, target) = (
            x.slice(s![.., j..j + 1]),
            Target::Classes(&labels[j..j + 1]),
        );
        match way {
            Way::Train => stream.network().train(sample, target).map(|_| ())?,
            Way::Stream => stream.train(sample, target).map(|_| ())?,
            Way::Push => stream.push(sample, target)?,
        }
        j = (j + 1) % x.ncols();
        Ok(())
    };
    for _ in 0..200 {
        step(&mut stream)?;
    }
    let mut times = Vec::new();
    for _ in 0..repeats {
        let started = Instant::now();
        for _ in 0..steps {
            step(&mut stream)?;
        }
        times.push(started.elapsed().as_secs_f64() / steps as f64 * 1e6);
    }
    let value = median(times.clone());
    eprintln!("nn {name}: {value:.2} µs (runs: {times:.2?})");
    result(
        name,
        "us",
        value,
        &format!(", \"steps\": {steps}, \"threads\": 1"),
        options.quick,
    );
    Ok(())
}

/// 784→256→128→10, ReLU then logits, He-uniform weights.
fn modern(seed: u64) -> nn::Result<NeuralNetwork<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let layers = vec![
        Dense::new(784, 256, Relu, Init::HeUniform, &mut rng)?,
        Dense::new(256, 128, Relu, Init::HeUniform, &mut rng)?,
        Dense::new(128, 10, Identity, Init::HeUniform, &mut rng)?,
    ];
    let mut net = NeuralNetwork::new(layers, CrossEntropy, 0.01)?;
    net.set_optimizer(Sgd::new(0.01)?.with_momentum(0.9)?);
    Ok(net)
}

fn epoch(train: &Dataset<f32>, options: &Options) -> nn::Result<()> {
    let data = train.samples()?;
    let fit_options = FitOptions {
        epochs: 1,
        batch_size: 128,
        ..FitOptions::default()
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The last on one thread: how the epoch scales to the machine's cores.
    for (workload, threads) in [
        ("epoch_sgd_momentum", cores),
        ("epoch_adam", cores),
        ("epoch_sgd_momentum_1_thread", 1),
    ] {
        let mut net = modern(0)?;
        net.set_threads(threads)?;
        if workload == "epoch_adam" {
            net.set_optimizer(Adam::new(1e-3)?);
        }
        let mut rng = StdRng::seed_from_u64(1);
        let measured = if options.quick { 1 } else { 3 };
        let mut times = Vec::new();
        for run in 0..=measured {
            let started = Instant::now();
            net.fit_with(data, None, &fit_options, &mut rng, |_| {
                ControlFlow::Continue(())
            })?;
            if run > 0 {
                times.push(started.elapsed().as_secs_f64());
            }
        }
        let value = median(times.clone());
        eprintln!("nn {workload}: {value:.3} s (runs: {times:.3?})");
        result(
            workload,
            "s",
            value,
            &format!(", \"threads\": {threads}"),
            options.quick,
        );
    }
    Ok(())
}

fn accuracy(train: &Dataset<f32>, test: &Dataset<f32>, options: &Options) -> nn::Result<()> {
    let data = train.samples()?;
    let test_data = test.samples()?;
    let fit_options = FitOptions {
        epochs: if options.quick { 1 } else { 5 },
        batch_size: 128,
        ..FitOptions::default()
    };
    let mut accuracies = Vec::new();
    for seed in 0..3 {
        let mut net = modern(seed)?;
        let mut rng = StdRng::seed_from_u64(seed + 100);
        net.fit_with(data, None, &fit_options, &mut rng, |_| {
            ControlFlow::Continue(())
        })?;
        let accuracy = 100.0 * net.evaluate(test_data, 1000)?.accuracy.unwrap_or(0.0);
        eprintln!("nn accuracy, seed {seed}: {accuracy:.2}%");
        result(
            "accuracy",
            "%",
            accuracy,
            &format!(", \"seed\": {seed}"),
            options.quick,
        );
        accuracies.push(accuracy);
    }
    let value = median(accuracies);
    eprintln!("nn accuracy, median: {value:.2}%");
    result(
        "accuracy",
        "%",
        value,
        ", \"seed\": \"median\"",
        options.quick,
    );
    Ok(())
}

fn parse_args() -> Result<Options, lexopt::Error> {
    use lexopt::prelude::*;
    let mut options = Options {
        only: None,
        quick: false,
        data_dir: std::env::var_os("FASHION_MNIST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/share/datasets/fashion-mnist")),
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("only") => options.only = Some(parser.value()?.string()?),
            Long("quick") => options.quick = true,
            Long("data-dir") => options.data_dir = parser.value()?.into(),
            // `cargo bench` passes --bench to every bench binary.
            Long("bench") => {}
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(options)
}
