//! The backprop hot path: one per-sample SGD step (`NeuralNetwork::train` on one column),
//! for the article's MNIST network 784→16→16→10 and the quadrants network 2→3→2,
//! LeakyReLU and MSE, in f32 and f64; and the first through a `SampleStream`.
//!
//! ```text
//! cargo bench --bench train_step
//! ```

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use nn::ndarray::ShapeBuilder;
use nn::prelude::*;
use nn::rand::{rngs::StdRng, Rng, SeedableRng};

fn network<F: Float>(sizes: &[usize], rng: &mut StdRng) -> NeuralNetwork<F> {
    let layers = sizes
        .windows(2)
        .map(|w| Dense::new(w[0], w[1], LeakyRelu, Init::HeNormal, rng).unwrap())
        .collect();
    NeuralNetwork::new(layers, Mse, F::from_f64(0.001)).unwrap()
}

fn bench_step<F: Float>(c: &mut Criterion, name: &str) {
    let mut group = c.benchmark_group(format!("train_step_{name}"));
    for sizes in [&[784usize, 16, 16, 10][..], &[2, 3, 2][..]] {
        let mut rng = StdRng::seed_from_u64(0);
        let mut net = network::<F>(sizes, &mut rng);
        // A pool of samples, so that the step does not see the same input every time,
        // stored one contiguous column per sample as nn-data's datasets are.
        let samples = 64;
        let x = Array2::from_shape_simple_fn((sizes[0], samples).f(), || {
            F::from_f64(rng.random_range(0.0..1.0))
        });
        let outs = *sizes.last().unwrap();
        let classes: Vec<usize> = (0..samples).map(|j| j % outs).collect();
        let label = sizes
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("-");
        let mut j = 0;
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| {
                j = (j + 1) % samples;
                let loss = net
                    .train(
                        x.slice(s![.., j..j + 1]),
                        Target::Classes(&classes[j..j + 1]),
                    )
                    .unwrap();
                black_box(loss)
            })
        });
    }
    group.finish();
}

/// The same per-sample steps of 784→16→16→10 through a `SampleStream`, which applies each
/// step's first-layer update in the next step's forward product.
fn bench_stream<F: Float>(c: &mut Criterion, name: &str) {
    let mut group = c.benchmark_group(format!("sample_stream_{name}"));
    let sizes = [784usize, 16, 16, 10];
    let mut rng = StdRng::seed_from_u64(0);
    let mut net = network::<F>(&sizes, &mut rng);
    let samples = 64;
    let x = Array2::from_shape_simple_fn((784, samples).f(), || {
        F::from_f64(rng.random_range(0.0..1.0))
    });
    let classes: Vec<usize> = (0..samples).map(|j| j % 10).collect();
    let mut stream = net.sample_stream();
    let mut j = 0;
    group.bench_function(BenchmarkId::from_parameter("784-16-16-10"), |b| {
        b.iter(|| {
            j = (j + 1) % samples;
            let loss = stream
                .train(
                    x.slice(s![.., j..j + 1]),
                    Target::Classes(&classes[j..j + 1]),
                )
                .unwrap();
            black_box(loss)
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_step::<f32>(c, "f32");
    bench_step::<f64>(c, "f64");
    bench_stream::<f32>(c, "f32");
    bench_stream::<f64>(c, "f64");
}

criterion_group!(train_step, benches);
criterion_main!(train_step);
