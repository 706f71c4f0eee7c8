//! The workloads of the instruction-count guard (`.ci/instructions`): each runs under
//! valgrind's callgrind, which counts the instructions executed inside [`measured`] only,
//! so that building the network and the data is not counted. Instruction counts, unlike
//! times, repeat exactly from run to run whatever else the machine does; a change that
//! makes one grow by more than 5% fails CI.
//!
//! ```text
//! .ci/instructions            # measure and compare with benches/instructions.baseline
//! .ci/instructions --update   # write the new counts as the baseline
//! ```
//!
//! With the argument `list`, the binary prints the workloads' names, which the script
//! measures.
//!
//! Everything runs on one thread (a thread pool's spinning would make counts vary), with
//! synthetic MNIST-shaped data from a fixed seed. Under valgrind the CPU reports no
//! AVX-512, so the AVX2 kernels run on every machine and the counts are the same.
//! `cargo bench` runs this binary with no workload: it then does nothing.

use std::hint::black_box;

use nn::ndarray::ShapeBuilder;
use nn::prelude::*;
use nn::rand::{rngs::StdRng, Rng, SeedableRng};

/// The workloads, by the name `.ci/instructions` passes.
const WORKLOADS: [(&str, fn()); 7] = [
    ("sample_step_f32", || sample_steps::<f32>(Way::Train)),
    ("sample_step_f64", || sample_steps::<f64>(Way::Train)),
    ("sample_stream_f32", || sample_steps::<f32>(Way::Stream)),
    ("sample_stream_f64", || sample_steps::<f64>(Way::Stream)),
    // The Python module's `train`, which pushes in f64 as the original computes.
    ("sample_push_f64", || sample_steps::<f64>(Way::Push)),
    ("batch_step_128", batch_steps),
    ("predict", predict),
];

fn main() {
    // `cargo bench` passes `--bench`; the guard passes a workload's name, or `list`.
    let Some(name) = std::env::args().skip(1).find(|a| !a.starts_with('-')) else {
        return;
    };
    if name == "list" {
        for (name, _) in WORKLOADS {
            println!("{name}");
        }
        return;
    }
    match WORKLOADS.iter().find(|(n, _)| *n == name) {
        Some((_, run)) => run(),
        None => {
            let names: Vec<_> = WORKLOADS.iter().map(|(n, _)| *n).collect();
            eprintln!("unknown workload {name:?}: one of {}", names.join(", "));
            std::process::exit(2);
        }
    }
}

/// What callgrind counts (`--toggle-collect=*measured*`): `work`, and nothing around it.
#[inline(never)]
fn measured<R>(work: impl FnOnce() -> R) -> R {
    black_box(work())
}

/// `n` MNIST-shaped samples in [0, 1), one contiguous column each, and their classes.
fn data<F: Float>(n: usize, rng: &mut StdRng) -> (Array2<F>, Vec<usize>) {
    let x = Array2::from_shape_simple_fn((784, n).f(), || F::from_f64(rng.random_range(0.0..1.0)));
    let classes = (0..n).map(|_| rng.random_range(0..10)).collect();
    (x, classes)
}

/// How `sample_steps` trains.
#[derive(Clone, Copy)]
enum Way {
    /// `NeuralNetwork::train`.
    Train,
    /// `SampleStream::train`.
    Stream,
    /// `SampleStream::push`: blocks of steps after the warm-up.
    Push,
}

/// 2 000 per-sample SGD steps of the series' network, 784→16→16→10 LeakyReLU with MSE
/// on one-hot targets (the fused one-sample path), taken as `way` says.
fn sample_steps<F: Float>(way: Way) {
    let mut rng = StdRng::seed_from_u64(0);
    let (x, classes) = data::<F>(2_000, &mut rng);
    let mut net = NeuralNetwork::<F>::builder(784)
        .dense_with_init(16, LeakyRelu, Init::Original)
        .dense_with_init(16, LeakyRelu, Init::Original)
        .dense_with_init(10, LeakyRelu, Init::Original)
        .loss(Mse)
        .learning_rate(F::from_f64(0.001))
        .build()
        .expect("a valid network");
    net.set_threads(1).expect("one thread");
    measured(|| {
        // Dropped inside: its flush is counted.
        let mut stream = net.sample_stream();
        for (j, &class) in classes.iter().enumerate() {
            let sample = x.slice(s![.., j..j + 1]);
            let target = Target::Classes(&[class]);
            match way {
                Way::Train => stream.network().train(sample, target).map(|_| ()),
                Way::Stream => stream.train(sample, target).map(|_| ()),
                Way::Push => stream.push(sample, target),
            }
            .expect("finite steps");
        }
    });
}

/// The network of the batched benchmarks: 784→256→128→10 ReLU, cross-entropy, SGD with
/// momentum 0.9, on one thread.
fn batched_network() -> NeuralNetwork<f32> {
    let mut net = NeuralNetwork::builder(784)
        .dense(256, Relu)
        .dense(128, Relu)
        .dense(10, Identity)
        .init(Init::HeUniform)
        .loss(CrossEntropy)
        .optimizer(
            Sgd::new(0.01)
                .and_then(|s| s.with_momentum(0.9))
                .expect("valid"),
        )
        .build()
        .expect("a valid network");
    net.set_threads(1).expect("one thread");
    net
}

/// 20 mini-batch steps of 128 samples.
fn batch_steps() {
    let mut rng = StdRng::seed_from_u64(1);
    let (x, classes) = data::<f32>(128 * 20, &mut rng);
    let mut net = batched_network();
    measured(|| {
        for step in 0..20 {
            let range = step * 128..(step + 1) * 128;
            let batch = x.slice(s![.., range.clone()]);
            net.train(batch, Target::Classes(&classes[range]))
                .expect("finite steps");
        }
    });
}

/// `predict` over 2 000 samples.
fn predict() {
    let mut rng = StdRng::seed_from_u64(2);
    let (x, _) = data::<f32>(2_000, &mut rng);
    let net = batched_network();
    let predicted = measured(|| net.predict(x.view()).expect("finite outputs"));
    assert_eq!(predicted.len(), 2_000);
}
