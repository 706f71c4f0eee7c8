//! The batched engine: one mini-batch step of 784→256→128→10 (ReLU, cross-entropy, SGD
//! with momentum) at batch 32, 128 and 512; a full epoch of 60 000 MNIST-shaped samples
//! with SGD momentum and with Adam; the dense forward pass alone; inference on small
//! batches (1 to 16 samples, on one thread and on the machine's cores); and the cost of
//! the finiteness check. All in f32, on the default number of threads (the machine's
//! cores) unless named.
//!
//! ```text
//! cargo bench --bench batched
//! ```

use std::ops::ControlFlow;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use nn::ndarray::ShapeBuilder;
use nn::prelude::*;
use nn::rand::{rngs::StdRng, Rng, SeedableRng};
use nn::train::{Adam, FitOptions, Samples};

const SIZES: [usize; 4] = [784, 256, 128, 10];

fn network(rng: &mut StdRng) -> NeuralNetwork<f32> {
    let layers = SIZES
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let activation: Box<dyn Activation<f32>> = if i + 2 < SIZES.len() {
                Box::new(Relu)
            } else {
                Box::new(Identity)
            };
            let init = Init::HeUniform;
            Dense::from_parameters(
                init.weights(w[1], w[0], rng).unwrap(),
                init.bias(w[1], rng).unwrap(),
                activation,
            )
            .unwrap()
        })
        .collect();
    let mut net = NeuralNetwork::new(layers, CrossEntropy, 0.01).unwrap();
    net.set_optimizer(Sgd::new(0.01).unwrap().with_momentum(0.9).unwrap());
    net
}

/// `n` MNIST-shaped samples in [0, 1], one contiguous column each, with random labels.
fn data(n: usize, rng: &mut StdRng) -> (Array2<f32>, Vec<usize>) {
    let x = Array2::from_shape_simple_fn((784, n).f(), || rng.random_range(0.0..1.0));
    let labels = (0..n).map(|_| rng.random_range(0..10)).collect();
    (x, labels)
}

fn minibatch_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("minibatch_step_784-256-128-10_f32");
    let mut rng = StdRng::seed_from_u64(0);
    let (x, labels) = data(512, &mut rng);
    for batch in [32, 128, 512] {
        let mut net = network(&mut rng);
        group.bench_function(BenchmarkId::from_parameter(batch), |b| {
            b.iter(|| {
                let loss = net
                    .train(x.slice(s![.., ..batch]), Target::Classes(&labels[..batch]))
                    .unwrap();
                black_box(loss)
            })
        });
    }
    group.finish();
}

fn epoch(c: &mut Criterion) {
    let mut group = c.benchmark_group("epoch_60000_batch128_f32");
    group.sample_size(10);
    let mut rng = StdRng::seed_from_u64(1);
    let (x, labels) = data(60_000, &mut rng);
    let train = Samples::new(x.view(), Target::Classes(&labels)).unwrap();
    let options = FitOptions {
        epochs: 1,
        batch_size: 128,
        ..FitOptions::default()
    };
    for optimizer in ["sgd_momentum", "adam"] {
        let mut net = network(&mut rng);
        if optimizer == "adam" {
            net.set_optimizer(Adam::new(1e-3).unwrap());
        }
        group.bench_function(optimizer, |b| {
            b.iter(|| {
                let history = net
                    .fit_with(train, None, &options, &mut rng, |_| {
                        ControlFlow::Continue(())
                    })
                    .unwrap();
                black_box(history)
            })
        });
    }
    group.finish();
}

fn dense_forward(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(2);
    let layer = Dense::<f32>::new(784, 256, Relu, Init::HeUniform, &mut rng).unwrap();
    let (x, _) = data(128, &mut rng);
    let mut y = Array2::zeros((256, 128));
    let mut a = Array2::zeros((256, 128));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    c.bench_function("dense_forward_784x256_batch128_f32", |b| {
        b.iter(|| layer.forward_into(x.view(), y.view_mut(), a.view_mut(), threads))
    });
}

/// `forward_pass` of 1 to 16 samples: up to `nn_layers::FEW_SAMPLES` they go through the
/// one-sample kernels, two a pass over each `W`; past it, through matrix products.
fn small_batch_inference(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(3);
    let (x, _) = data(16, &mut rng);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in [1, cores] {
        let mut net = network(&mut rng);
        net.set_threads(threads).unwrap();
        let mut group =
            c.benchmark_group(format!("forward_pass_784-256-128-10_f32_{threads}_threads"));
        for n in [1, 2, 4, 6, 8, 16] {
            group.bench_function(BenchmarkId::from_parameter(n), |b| {
                b.iter(|| black_box(net.forward_pass(x.slice(s![.., ..n])).unwrap()))
            });
        }
        group.finish();
        if cores == 1 {
            break;
        }
    }
}

fn finite_check(c: &mut Criterion) {
    let mut group = c.benchmark_group("finite_check");
    let mut rng = StdRng::seed_from_u64(3);
    let (x, labels) = data(128, &mut rng);
    for check in [true, false] {
        let mut net = network(&mut rng);
        net.set_optimizer(Sgd::new(0.01).unwrap());
        net.set_check_finite(check);
        let name = if check { "on" } else { "off" };
        let mut j = 0;
        group.bench_function(format!("per_sample_{name}"), |b| {
            b.iter(|| {
                j = (j + 1) % 128;
                black_box(net.train(
                    x.slice(s![.., j..j + 1]),
                    Target::Classes(&labels[j..j + 1]),
                ))
            })
        });
        group.bench_function(format!("batch128_{name}"), |b| {
            b.iter(|| black_box(net.train(x.view(), Target::Classes(&labels))))
        });
    }
    group.finish();
}

criterion_group!(
    batched,
    minibatch_step,
    epoch,
    dense_forward,
    small_batch_inference,
    finite_check
);
criterion_main!(batched);
