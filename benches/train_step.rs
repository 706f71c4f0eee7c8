//! The backprop hot path: one per-sample SGD step (`NeuralNetwork::train` on one column),
//! for the article's MNIST network 784→16→16→10 and the quadrants network 2→3→2,
//! LeakyReLU and MSE, in f32 and f64; and the first through a `SampleStream`.
//!
//! ```text
//! cargo bench --bench train_step
//! ```

use criterion::measurement::WallTime;
use criterion::{
    black_box, criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion,
};
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

/// A pool of 64 samples for `sizes[0]` inputs, so that the step does not see the same
/// input every time, stored one contiguous column per sample as nn-data's datasets are,
/// and their classes.
fn pool<F: Float>(sizes: &[usize], rng: &mut StdRng) -> (Array2<F>, Vec<usize>) {
    let samples = 64;
    let x = Array2::from_shape_simple_fn((sizes[0], samples).f(), || {
        F::from_f64(rng.random_range(0.0..1.0))
    });
    let outs = *sizes.last().unwrap();
    (x, (0..samples).map(|j| j % outs).collect())
}

/// Benchmarks `step` on sample after sample of the pool, under the network's sizes.
fn bench_pool<F: Float, R>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    sizes: &[usize],
    (x, classes): (Array2<F>, Vec<usize>),
    mut step: impl FnMut(ArrayView2<'_, F>, Target<'_, F>) -> R,
) {
    let label = sizes
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join("-");
    let mut j = 0;
    group.bench_function(BenchmarkId::from_parameter(label), |b| {
        b.iter(|| {
            j = (j + 1) % classes.len();
            let sample = x.slice(s![.., j..j + 1]);
            black_box(step(sample, Target::Classes(&classes[j..j + 1])))
        })
    });
}

fn bench_step<F: Float>(c: &mut Criterion, name: &str) {
    let mut group = c.benchmark_group(format!("train_step_{name}"));
    for sizes in [&[784usize, 16, 16, 10][..], &[2, 3, 2][..]] {
        let mut rng = StdRng::seed_from_u64(0);
        let mut net = network::<F>(sizes, &mut rng);
        let pool = pool(sizes, &mut rng);
        bench_pool(&mut group, sizes, pool, |x, t| net.train(x, t).unwrap());
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
    let pool = pool(&sizes, &mut rng);
    let mut stream = net.sample_stream();
    bench_pool(&mut group, &sizes, pool, |x, t| stream.train(x, t).unwrap());
    group.finish();
}

/// The same per-sample steps pushed into a `SampleStream`, which trains them in blocks
/// after its warm-up (one pass over the first layer's weights for several steps).
fn bench_push<F: Float>(c: &mut Criterion, name: &str) {
    let mut group = c.benchmark_group(format!("sample_push_{name}"));
    let sizes = [784usize, 16, 16, 10];
    let mut rng = StdRng::seed_from_u64(0);
    let mut net = network::<F>(&sizes, &mut rng);
    let pool = pool(&sizes, &mut rng);
    let mut stream = net.sample_stream();
    bench_pool(&mut group, &sizes, pool, |x, t| stream.push(x, t).unwrap());
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_step::<f32>(c, "f32");
    bench_step::<f64>(c, "f64");
    bench_stream::<f32>(c, "f32");
    bench_stream::<f64>(c, "f64");
    bench_push::<f64>(c, "f64");
}

criterion_group!(train_step, benches);
criterion_main!(train_step);
