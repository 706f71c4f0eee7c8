//! Integration tests of nn-train: backpropagation against finite differences, the SGD
//! update, batching, determinism and the errors of the public entry points.

use approx::assert_relative_eq;
use ndarray::{s, Array2, ArrayView2};
use nn_core::{Activation, Error, Init, Target};
use nn_layers::{Dense, Identity, LeakyRelu, Relu, Sigmoid, Tanh};
use nn_loss::{CrossEntropy, Mse};
use nn_train::NeuralNetwork;
use rand::{rngs::StdRng, Rng, SeedableRng};

fn activation(k: usize) -> Box<dyn Activation<f64>> {
    match k % 5 {
        0 => Box::new(LeakyRelu),
        1 => Box::new(Sigmoid),
        2 => Box::new(Tanh),
        3 => Box::new(Relu),
        _ => Box::new(Identity),
    }
}

/// A random network of the given sizes, every layer with activation `act(i)`.
fn network(
    sizes: &[usize],
    act: impl Fn(usize) -> Box<dyn Activation<f64>>,
    loss: Box<dyn nn_core::Loss<f64>>,
    rng: &mut StdRng,
) -> NeuralNetwork<f64> {
    let layers = sizes
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            // Xavier weights and a non-zero bias so no unit sits exactly at ReLU's kink.
            let weights = Init::XavierNormal.weights(w[1], w[0], rng).unwrap();
            let bias = Init::XavierNormal.weights(w[1], 1, rng).unwrap();
            Dense::from_parameters(weights, bias, act(i)).unwrap()
        })
        .collect();
    NeuralNetwork::with_boxed_loss(layers, loss, 0.1).unwrap()
}

fn random(rows: usize, cols: usize, rng: &mut StdRng) -> Array2<f64> {
    Array2::from_shape_simple_fn((rows, cols), || rng.random_range(-1.5..1.5))
}

fn loss_at(net: &NeuralNetwork<f64>, x: ArrayView2<'_, f64>, t: Target<'_, f64>) -> f64 {
    net.loss(net.forward_pass(x).unwrap().view(), t).unwrap()
}

/// Compares an analytic gradient with the central difference of the loss when `perturb`
/// moves entry `(i, j)` of the parameter by `h`.
fn assert_matches_numeric(
    analytic: &Array2<f64>,
    mut loss_with: impl FnMut(usize, usize, f64) -> f64,
    what: &str,
) {
    let h = 1e-5;
    for ((i, j), &g) in analytic.indexed_iter() {
        let numeric = (loss_with(i, j, h) - loss_with(i, j, -h)) / (2.0 * h);
        let scale = g.abs().max(numeric.abs()).max(1e-3);
        assert!(
            (g - numeric).abs() / scale < 1e-6,
            "{what}[{i},{j}]: backprop {g}, finite difference {numeric}"
        );
    }
}

#[test]
fn backprop_matches_finite_differences_for_every_activation_depth_and_loss() {
    let mut rng = StdRng::seed_from_u64(2024);
    let shapes: [&[usize]; 4] = [&[3, 4], &[3, 5, 4], &[2, 4, 3, 4], &[4, 3, 5, 2, 3]];
    for (case, sizes) in shapes.iter().enumerate() {
        for first_act in 0..5 {
            for loss_kind in 0..4 {
                let batch = 1 + (case + first_act) % 3;
                let outs = *sizes.last().unwrap();
                let loss: Box<dyn nn_core::Loss<f64>> = if loss_kind < 2 {
                    Box::new(Mse)
                } else {
                    Box::new(CrossEntropy)
                };
                let net = network(sizes, |i| activation(first_act + i), loss, &mut rng);
                let x = random(sizes[0], batch, &mut rng);
                let mut values = random(outs, batch, &mut rng).mapv(f64::abs);
                if loss_kind >= 2 {
                    // Cross-entropy takes probability distributions.
                    for mut column in values.columns_mut() {
                        let total = column.sum();
                        column /= total;
                    }
                }
                let classes: Vec<usize> = (0..batch).map(|_| rng.random_range(0..outs)).collect();
                let target = if loss_kind % 2 == 0 {
                    Target::Classes(&classes)
                } else {
                    Target::Values(values.view())
                };
                let grads = net.backprop(x.view(), target).unwrap();
                assert_relative_eq!(grads.loss, loss_at(&net, x.view(), target));

                for layer in 0..net.layers().len() {
                    assert_matches_numeric(
                        &grads.dws[layer],
                        |i, j, h| {
                            let mut moved = net.clone();
                            moved.parameters_mut(layer).unwrap().0[(i, j)] += h;
                            loss_at(&moved, x.view(), target)
                        },
                        "dW",
                    );
                    assert_matches_numeric(
                        &grads.dbs[layer],
                        |i, j, h| {
                            let mut moved = net.clone();
                            moved.parameters_mut(layer).unwrap().1[(i, j)] += h;
                            loss_at(&moved, x.view(), target)
                        },
                        "db",
                    );
                }
                assert_matches_numeric(
                    &grads.dxs[0],
                    |i, j, h| {
                        let mut moved = x.clone();
                        moved[(i, j)] += h;
                        loss_at(&net, moved.view(), target)
                    },
                    "dx",
                );
                // The last entry of dxs is dloss of the output.
                let output = net.forward_pass(x.view()).unwrap();
                let dloss = net.loss_function().dloss(output.view(), target).unwrap();
                assert_eq!(grads.dxs[net.layers().len()], dloss);
            }
        }
    }
}

#[test]
fn train_moves_parameters_by_minus_learning_rate_times_gradients() {
    let mut rng = StdRng::seed_from_u64(5);
    let mut net = network(&[4, 6, 3], activation, Box::new(Mse), &mut rng);
    net.set_learning_rate(0.05).unwrap();
    let x = random(4, 1, &mut rng);
    let t = random(3, 1, &mut rng);
    let before = net.clone();
    let grads = before.backprop(x.view(), Target::Values(t.view())).unwrap();
    let loss = net.train(x.view(), Target::Values(t.view())).unwrap();
    assert_eq!(loss, grads.loss);
    for (i, (old, new)) in before.layers().iter().zip(net.layers()).enumerate() {
        let expected_w = &old.weights() - &(&grads.dws[i] * 0.05);
        let expected_b = &old.bias() - &(&grads.dbs[i] * 0.05);
        assert_relative_eq!(new.weights().to_owned(), expected_w, max_relative = 1e-15);
        assert_relative_eq!(new.bias().to_owned(), expected_b, max_relative = 1e-15);
    }
    assert_eq!(net.steps(), 1);
}

#[test]
fn a_batch_gradient_is_the_mean_of_per_sample_gradients() {
    let mut rng = StdRng::seed_from_u64(9);
    for loss in [
        Box::new(Mse) as Box<dyn nn_core::Loss<f64>>,
        Box::new(CrossEntropy),
    ] {
        let net = network(&[5, 7, 4], activation, loss, &mut rng);
        let x = random(5, 6, &mut rng);
        let classes = [0, 3, 1, 1, 2, 3];
        let batch = net.backprop(x.view(), Target::Classes(&classes)).unwrap();
        let mut mean_dw: Vec<Array2<f64>> = batch.dws.iter().map(|d| d * 0.0).collect();
        for j in 0..6 {
            let one = net
                .backprop(
                    x.slice(s![.., j..j + 1]),
                    Target::Classes(&classes[j..j + 1]),
                )
                .unwrap();
            for (m, d) in mean_dw.iter_mut().zip(&one.dws) {
                *m += &(d / 6.0);
            }
            // The input gradient of a sample is its column of the batch's, times B.
            assert_relative_eq!(
                (&batch.dxs[0].slice(s![.., j..j + 1]) * 6.0),
                one.dxs[0],
                max_relative = 1e-12
            );
        }
        for (m, d) in mean_dw.iter().zip(&batch.dws) {
            assert_relative_eq!(m, d, max_relative = 1e-12, epsilon = 1e-15);
        }
    }
}

#[test]
fn a_column_view_of_a_batch_trains_like_an_owned_sample() {
    let mut rng = StdRng::seed_from_u64(11);
    let mut a = network(&[3, 4, 2], activation, Box::new(Mse), &mut rng);
    let mut b = a.clone();
    let data = random(3, 8, &mut rng);
    for j in 0..8 {
        let t = [j % 2];
        a.train(data.slice(s![.., j..j + 1]), Target::Classes(&t))
            .unwrap();
        let owned = data.column(j).to_owned().insert_axis(ndarray::Axis(1));
        b.train(owned.view(), Target::Classes(&t)).unwrap();
    }
    for (la, lb) in a.layers().iter().zip(b.layers()) {
        assert_eq!(la.weights(), lb.weights());
        assert_eq!(la.bias(), lb.bias());
    }
}

fn seeded_run(seed: u64) -> NeuralNetwork<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let layers = vec![
        Dense::new(2, 8, LeakyRelu, Init::HeNormal, &mut rng).unwrap(),
        Dense::new(8, 2, Identity, Init::HeNormal, &mut rng).unwrap(),
    ];
    let mut net = NeuralNetwork::new(layers, CrossEntropy, 0.05).unwrap();
    for _ in 0..500 {
        let x = Array2::from_shape_simple_fn((2, 4), || rng.random_range(-1.0f32..1.0));
        let classes: Vec<usize> = x
            .columns()
            .into_iter()
            .map(|c| (c[0] * c[1] > 0.0) as usize)
            .collect();
        net.train(x.view(), Target::Classes(&classes)).unwrap();
    }
    net
}

#[test]
fn the_same_seed_gives_bit_identical_training() {
    let (a, b, c) = (seeded_run(3), seeded_run(3), seeded_run(4));
    for (la, lb) in a.layers().iter().zip(b.layers()) {
        assert_eq!(la.weights(), lb.weights());
        assert_eq!(la.bias(), lb.bias());
    }
    assert_ne!(a.layers()[0].weights(), c.layers()[0].weights());
}

#[test]
fn construction_errors_name_the_problem() {
    let mut rng = StdRng::seed_from_u64(0);
    let dense =
        |i, o, rng: &mut StdRng| Dense::<f32>::new(i, o, Relu, Init::HeNormal, rng).unwrap();
    assert!(matches!(
        NeuralNetwork::<f32>::new(vec![], Mse, 0.1),
        Err(Error::EmptyNetwork)
    ));
    let layers = vec![
        dense(2, 3, &mut rng),
        dense(3, 4, &mut rng),
        dense(5, 1, &mut rng),
    ];
    let err = NeuralNetwork::new(layers, Mse, 0.1).unwrap_err();
    assert!(matches!(
        err,
        Error::LayerMismatch {
            index: 1,
            outs: 4,
            ins: 5
        }
    ));
    assert!(err.to_string().contains("layers 1 and 2"));
    for lr in [0.0, -0.1, f32::NAN, f32::INFINITY] {
        assert!(matches!(
            NeuralNetwork::new(vec![dense(2, 2, &mut rng)], Mse, lr),
            Err(Error::InvalidHyperparameter {
                name: "learning_rate",
                ..
            })
        ));
    }
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut net = network(&[3, 4, 2], activation, Box::new(CrossEntropy), &mut rng);
    assert_eq!((net.ins(), net.outs()), (3, 2));
    let good = random(3, 2, &mut rng);
    let wrong_rows = random(4, 2, &mut rng);
    assert!(matches!(
        net.train(wrong_rows.view(), Target::Classes(&[0, 1])),
        Err(Error::ShapeMismatch {
            expected: (3, 2),
            actual: (4, 2),
            ..
        })
    ));
    assert!(matches!(
        net.forward_pass(Array2::zeros((3, 0)).view()),
        Err(Error::EmptyBatch { .. })
    ));
    assert!(matches!(
        net.train(good.view(), Target::Classes(&[0, 2])),
        Err(Error::ClassOutOfRange {
            sample: 1,
            class: 2,
            classes: 2
        })
    ));
    assert!(matches!(
        net.train(good.view(), Target::Classes(&[0])),
        Err(Error::ShapeMismatch { .. })
    ));
    let mut nan = good.clone();
    nan[(2, 1)] = f64::NAN;
    assert!(matches!(
        net.backprop(nan.view(), Target::Classes(&[0, 1])),
        Err(Error::NonFiniteInput {
            row: 2,
            column: 1,
            ..
        })
    ));
    // A batch takes the general path, which scans its input in the check stage.
    assert!(matches!(
        net.train(nan.view(), Target::Classes(&[0, 1])),
        Err(Error::NonFiniteInput {
            row: 2,
            column: 1,
            ..
        })
    ));
    assert_eq!(net.steps(), 0);
    // One sample takes the fused path, which checks its input in its own pass.
    assert!(matches!(
        net.train(nan.slice(s![.., 1..2]), Target::Classes(&[0])),
        Err(Error::NonFiniteInput {
            row: 2,
            column: 0,
            ..
        })
    ));
    let wrong_target = random(3, 2, &mut rng);
    assert!(matches!(
        net.train(good.view(), Target::Values(wrong_target.view())),
        Err(Error::ShapeMismatch {
            expected: (2, 2),
            actual: (3, 2),
            ..
        })
    ));
    assert_eq!(net.steps(), 0, "no failed call may count as a step");
}

#[test]
fn a_non_finite_loss_stops_training_without_touching_parameters() {
    // Weights near f64::MAX make the output overflow to infinity.
    let layer = Dense::from_parameters(
        Array2::from_elem((2, 2), 1e300),
        Array2::zeros((2, 1)),
        Box::new(Identity),
    )
    .unwrap();
    let mut net = NeuralNetwork::new(vec![layer], Mse, 0.1).unwrap();
    let before = net.clone();
    let x = Array2::from_elem((2, 1), 1e10);
    let err = net.train(x.view(), Target::Classes(&[0])).unwrap_err();
    assert!(matches!(err, Error::Diverged { step: 0, .. }), "{err}");
    assert_eq!(net.layers()[0].weights(), before.layers()[0].weights());
}

#[test]
fn the_fused_per_sample_path_equals_the_general_path() {
    let mut rng = StdRng::seed_from_u64(21);
    for loss in [
        Box::new(Mse) as Box<dyn nn_core::Loss<f64>>,
        Box::new(CrossEntropy),
    ] {
        let mut fused = network(&[30, 9, 7, 4], activation, loss, &mut rng);
        let mut general = fused.clone();
        // Clipping at a norm no gradient reaches changes nothing but forces the general
        // path, which forms dW = delta·xᵀ and hands it to the optimizer.
        general.set_max_gradient_norm(Some(1e300)).unwrap();
        let data = random(30, 20, &mut rng);
        for j in 0..20 {
            let t = [j % 4];
            let x = data.slice(s![.., j..j + 1]);
            let a = fused.train(x, Target::Classes(&t)).unwrap();
            let b = general.train(x, Target::Classes(&t)).unwrap();
            assert_relative_eq!(a, b, max_relative = 1e-12);
        }
        for (lf, lg) in fused.layers().iter().zip(general.layers()) {
            assert_relative_eq!(lf.weights(), lg.weights(), max_relative = 1e-12);
            assert_relative_eq!(lf.bias(), lg.bias(), max_relative = 1e-12);
        }
    }
}

#[test]
fn a_non_finite_gradient_stops_training_before_any_update() {
    // A finite loss whose gradient overflows. With x = 1e300, W_0 = 1e-300 and
    // W_1 = 1e100: the hidden units are 2, the output 4e100, the loss 1.6e201 (finite);
    // delta_0 = W_1ᵀ·8e100 = 8e200, so dW_0 = delta_0·xᵀ = 8e500 overflows.
    let layers = vec![
        Dense::from_parameters(
            Array2::from_elem((2, 2), 1e-300),
            Array2::zeros((2, 1)),
            Box::new(Identity),
        )
        .unwrap(),
        Dense::from_parameters(
            Array2::from_elem((1, 2), 1e100),
            Array2::zeros((1, 1)),
            Box::new(Identity),
        )
        .unwrap(),
    ];
    for clip in [None, Some(1e300)] {
        let mut net = NeuralNetwork::new(layers.clone(), Mse, 1.0).unwrap();
        net.set_max_gradient_norm(clip).unwrap();
        let before = net.clone();
        let x = Array2::from_elem((2, 1), 1e300);
        let t = Array2::zeros((1, 1));
        let err = net.train(x.view(), Target::Values(t.view())).unwrap_err();
        match &err {
            Error::Diverged { step: 0, what, .. } => assert!(what.contains("layer"), "{err}"),
            other => panic!("expected Diverged, got {other}"),
        }
        for (a, b) in net.layers().iter().zip(before.layers()) {
            assert_eq!(a.weights(), b.weights());
        }
    }
}

/// Counts the allocations of the current thread, to prove that training steps reuse their
/// buffers.
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Counting;

    thread_local! {
        pub static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    }

    // SAFETY: every call is forwarded to the system allocator unchanged.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
            // SAFETY: forwarded with the caller's layout.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded with the caller's pointer and layout.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
            // SAFETY: forwarded with the caller's arguments.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    pub fn count() -> usize {
        ALLOCATIONS.with(|c| c.get())
    }
}

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

#[test]
fn training_steps_reuse_their_buffers() {
    let mut rng = StdRng::seed_from_u64(8);
    let batch_data = random(20, 64, &mut rng);
    let classes: Vec<usize> = (0..64).map(|j| j % 5).collect();
    let optimizers: Vec<Box<dyn nn_train::Optimizer<f64>>> = vec![
        Box::new(nn_train::Sgd::new(0.01).unwrap()),
        Box::new(
            nn_train::Sgd::new(0.01)
                .unwrap()
                .with_momentum(0.9)
                .unwrap(),
        ),
        Box::new(nn_train::Adam::new(0.001).unwrap()),
    ];
    for optimizer in optimizers {
        let mut net = network(
            &[20, 16, 12, 5],
            |_| Box::new(Relu),
            Box::new(CrossEntropy),
            &mut rng,
        );
        net.set_boxed_optimizer(optimizer);
        for batch in [1, 32] {
            let step = |net: &mut NeuralNetwork<f64>, j: usize| {
                let cols = j * batch % 32..j * batch % 32 + batch;
                net.train(
                    batch_data.slice(s![.., cols.clone()]),
                    Target::Classes(&classes[cols]),
                )
                .unwrap();
            };
            step(&mut net, 0);
            let before = counting::count();
            for j in 1..20 {
                step(&mut net, j);
            }
            let per_step = (counting::count() - before) as f64 / 19.0;
            if batch == 1 {
                // One sample runs on nn's own kernels: nothing is allocated.
                assert_eq!(per_step, 0.0, "{} allocated", net.optimizer().name());
            } else {
                // A batch allocates only inside the gemm crate, which takes a packing
                // buffer for each of the step's 8 matrix products (3 forward, 3 dW, 2 dx);
                // nn's own buffers are all reused.
                assert!(per_step <= 2.0 * 8.0, "{per_step} allocations per step");
            }
        }
    }
    // A SampleStream's steps, which keep the first layer's updates for the next ones,
    // reuse their buffers too.
    let mut net = network(
        &[20, 16, 12, 5],
        |_| Box::new(Relu),
        Box::new(CrossEntropy),
        &mut rng,
    );
    let mut stream = net.sample_stream();
    let mut step = |j: usize| {
        let sample = batch_data.slice(s![.., j..j + 1]);
        stream
            .train(sample, Target::Classes(&classes[j..j + 1]))
            .unwrap();
    };
    // The first two steps size the buffers of the two updates a stream holds.
    step(0);
    step(1);
    let before = counting::count();
    for j in 2..20 {
        step(j);
    }
    assert_eq!(counting::count() - before, 0, "a stream's steps allocated");
}

/// A network of `sizes` (from `seed`) with SGD momentum, trained `steps` times on the same
/// 65 samples (two shares, of 32 and 33, so that their gradients weigh differently) once
/// on each of `threads`; the losses are checked equal step by step, and the parameters
/// at the end. Returns the networks, in the order of `threads`.
fn trained_on_threads(
    sizes: &[usize],
    seed: u64,
    threads: &[usize],
    steps: usize,
) -> Vec<NeuralNetwork<f64>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut net = network(sizes, |i| activation(i), Box::new(CrossEntropy), &mut rng);
    net.set_optimizer(
        nn_train::Sgd::new(0.05)
            .unwrap()
            .with_momentum(0.9)
            .unwrap(),
    );
    let mut nets: Vec<_> = (threads.iter())
        .map(|&t| {
            let mut copy = net.clone();
            copy.set_threads(t).unwrap();
            copy
        })
        .collect();
    let data = random(sizes[0], 65, &mut rng);
    let classes: Vec<usize> = (0..65).map(|j| (j * 7) % 10).collect();
    for _ in 0..steps {
        let losses: Vec<f64> = (nets.iter_mut())
            .map(|n| n.train(data.view(), Target::Classes(&classes)).unwrap())
            .collect();
        for loss in &losses[1..] {
            assert_relative_eq!(losses[0], *loss, max_relative = 1e-12);
        }
    }
    for other in &nets[1..] {
        for (la, lb) in nets[0].layers().iter().zip(other.layers()) {
            assert_relative_eq!(
                la.weights(),
                lb.weights(),
                max_relative = 1e-10,
                epsilon = 1e-13
            );
            assert_relative_eq!(la.bias(), lb.bias(), max_relative = 1e-10, epsilon = 1e-13);
        }
    }
    nets
}

#[test]
fn splitting_a_batch_over_threads_gives_the_same_training() {
    // Large enough (65 samples × 22 000 parameters) for the batch to be cut into shares
    // (two: each share needs 32 columns, so three threads still make two shares).
    let mut nets = trained_on_threads(&[100, 200, 10], 30, &[1, 2, 3], 5);
    let one = &mut nets[0];
    assert!(one.set_threads(0).is_err());
    // 100 → 200 → 10: 200·100 weights and 200 biases, then 10·200 and 10.
    assert_eq!(one.parameter_count(), 22_210);
    // A clipping limit must be finite and positive; refused, it leaves clipping off.
    for limit in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let result = one.set_max_gradient_norm(Some(limit));
        assert!(
            matches!(
                result,
                Err(Error::InvalidHyperparameter {
                    name: "max_gradient_norm",
                    ..
                })
            ),
            "{limit}: {result:?}"
        );
    }
    assert!(one.set_max_gradient_norm(Some(f64::MIN_POSITIVE)).is_ok());
}

mod fit {
    use super::*;
    use nn_train::{EarlyStopping, FitOptions, Progress, Samples, Schedule};
    use std::ops::ControlFlow;

    /// Points of the plane, class 1 where x·y > 0, as in the article's quadrants.
    fn quadrants(n: usize, rng: &mut StdRng) -> (Array2<f64>, Vec<usize>) {
        let x = random(2, n, rng);
        let classes = x
            .columns()
            .into_iter()
            .map(|p| usize::from(p[0] * p[1] > 0.0))
            .collect();
        (x, classes)
    }

    fn classifier(rng: &mut StdRng) -> NeuralNetwork<f64> {
        network(
            &[2, 16, 16, 2],
            |i| activation(if i < 2 { 2 } else { 4 }),
            Box::new(CrossEntropy),
            rng,
        )
    }

    #[test]
    fn fit_learns_and_is_reproducible_from_a_seed() {
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            let (x, classes) = quadrants(2000, &mut rng);
            let (vx, vclasses) = quadrants(500, &mut rng);
            let mut net = classifier(&mut rng);
            net.set_optimizer(nn_train::Sgd::new(0.2).unwrap().with_momentum(0.9).unwrap());
            let options = FitOptions {
                epochs: 15,
                batch_size: 32,
                schedule: Schedule::Cosine {
                    epochs: 15,
                    min_factor: 0.05,
                },
                ..FitOptions::default()
            };
            let mut epochs_seen = 0;
            let history = net
                .fit_with(
                    Samples::new(x.view(), Target::Classes(&classes)).unwrap(),
                    Some(Samples::new(vx.view(), Target::Classes(&vclasses)).unwrap()),
                    &options,
                    &mut rng,
                    |p| {
                        if let Progress::Epoch(_) = p {
                            epochs_seen += 1;
                        }
                        ControlFlow::Continue(())
                    },
                )
                .unwrap();
            assert_eq!(epochs_seen, 15);
            (net, history)
        };
        let (a, history) = run(1);
        let (b, _) = run(1);
        let last = history.epochs.last().unwrap();
        assert!(last.validation_accuracy.unwrap() > 0.95, "{last:?}");
        assert!(last.train_loss < history.epochs[0].train_loss);
        assert_relative_eq!(
            history.epochs[14].learning_rate,
            0.2 * (0.05 + 0.95 * (1.0 + (std::f64::consts::PI * 14.0 / 15.0).cos()) / 2.0)
        );
        assert_eq!(a.learning_rate(), 0.2, "the base rate is restored");
        for (la, lb) in a.layers().iter().zip(b.layers()) {
            assert_eq!(la.weights(), lb.weights());
        }
    }

    /// Copies of `net` fitted for 2 epochs at batches of `batch` on 1, 2 and 3 threads,
    /// each with its second epoch's training loss.
    fn fit_on_1_2_3_threads(
        net: &NeuralNetwork<f64>,
        x: &Array2<f64>,
        classes: &[usize],
        batch: usize,
    ) -> Vec<(NeuralNetwork<f64>, f64)> {
        let options = FitOptions {
            epochs: 2,
            batch_size: batch,
            ..FitOptions::default()
        };
        [1, 2, 3]
            .iter()
            .map(|&threads| {
                let mut net = net.clone();
                net.set_threads(threads).unwrap();
                let data = Samples::new(x.view(), Target::Classes(classes)).unwrap();
                let history = net.fit(data, None, &options).unwrap();
                (net, history.epochs[1].train_loss)
            })
            .collect()
    }

    #[test]
    fn fit_on_threads_trains_as_on_one() {
        // 100 → 200 → 10 at batches of 80: each batch is cut into two shares on two or
        // three threads, which `fit` hands to its team's helpers.
        let mut rng = StdRng::seed_from_u64(5);
        let net = network(
            &[100, 200, 10],
            activation,
            Box::new(CrossEntropy),
            &mut rng,
        );
        let x = random(100, 400, &mut rng);
        let classes: Vec<usize> = (0..400).map(|j| (j * 7) % 10).collect();
        let fitted = fit_on_1_2_3_threads(&net, &x, &classes, 80);
        let (one, two, three) = (&fitted[0], &fitted[1], &fitted[2]);
        assert!(one.1.is_finite(), "{}", one.1);
        assert_relative_eq!(one.1, two.1, max_relative = 1e-12);
        // Two and three threads cut the batches alike: the same bits.
        assert_eq!(two.1, three.1);
        let layers = |k: usize| fitted[k].0.layers().iter();
        for (((l1, l2), l3), start) in layers(0).zip(layers(1)).zip(layers(2)).zip(net.layers()) {
            assert_ne!(l1.weights(), start.weights(), "trained");
            assert_relative_eq!(
                l1.weights(),
                l2.weights(),
                max_relative = 1e-10,
                epsilon = 1e-13
            );
            assert_eq!(l2.weights(), l3.weights());
            assert_eq!(l2.bias(), l3.bias());
        }
    }

    #[test]
    fn a_large_network_with_dropout_fits_to_one_thread_s_bits_on_any_number() {
        // 400 → 160 → 10 has 65 770 parameters (over 2^16): on several threads each
        // layer's rows are cut over them instead of the batch, and every entry gets the
        // value one thread gives it, dropout masks included (drawn once per batch).
        let mut rng = StdRng::seed_from_u64(9);
        let mut layers = network(
            &[400, 160, 10],
            activation,
            Box::new(CrossEntropy),
            &mut rng,
        )
        .layers()
        .to_vec();
        layers[1] = layers[1].clone().with_dropout(0.2).unwrap();
        let net = NeuralNetwork::with_boxed_loss(layers, Box::new(CrossEntropy), 0.1).unwrap();
        let x = random(400, 300, &mut rng);
        let classes: Vec<usize> = (0..300).map(|j| (j * 3) % 10).collect();
        let fitted = fit_on_1_2_3_threads(&net, &x, &classes, 100);
        assert!(fitted[0].1.is_finite());
        for (k, (other, loss)) in fitted.iter().enumerate().skip(1) {
            assert_eq!(*loss, fitted[0].1, "{} threads", k + 1);
            for (a, b) in fitted[0].0.layers().iter().zip(other.layers()) {
                assert_eq!(a.weights(), b.weights(), "{} threads", k + 1);
                assert_eq!(a.bias(), b.bias(), "{} threads", k + 1);
            }
        }
        assert_ne!(fitted[0].0.layers()[0].weights(), net.layers()[0].weights());
    }

    #[test]
    fn fit_names_a_non_finite_entry_of_a_large_data_set_on_any_number_of_threads() {
        // 100 × 1000 inputs: large enough for the scan to be split over the threads.
        let mut rng = StdRng::seed_from_u64(6);
        let net = network(&[100, 20, 10], activation, Box::new(CrossEntropy), &mut rng);
        let classes: Vec<usize> = (0..1000).map(|j| j % 10).collect();
        let options = FitOptions {
            epochs: 1,
            ..FitOptions::default()
        };
        for (row, column) in [(0, 0), (99, 999), (70, 600), (3, 10)] {
            for bad in [f64::NAN, f64::NEG_INFINITY] {
                let mut x = random(100, 1000, &mut rng);
                x[(row, column)] = bad;
                // A second one later on, which is not the first.
                x[(99, 999)] = f64::INFINITY;
                for threads in [1, 2, 3] {
                    let mut net = net.clone();
                    net.set_threads(threads).unwrap();
                    let data = Samples::new(x.view(), Target::Classes(&classes)).unwrap();
                    match net.fit(data, None, &options) {
                        Err(Error::NonFiniteInput {
                            what,
                            row: r,
                            column: c,
                            value,
                        }) => {
                            assert_eq!(what, "input");
                            let first = if (row, column) == (99, 999) {
                                f64::INFINITY
                            } else {
                                bad
                            };
                            assert_eq!((r, c), (row, column), "{threads} threads");
                            assert_eq!(value.to_bits(), first.to_bits());
                        }
                        other => panic!("{threads} threads: {other:?}"),
                    }
                    assert_eq!(net.steps(), 0, "nothing trained");
                }
            }
        }
    }

    /// Training data, validation labels that are its opposite (the better the network
    /// learns, the worse its validation loss, so the best epoch is the first), and a
    /// network.
    fn best_epoch_first() -> (Array2<f64>, Vec<usize>, Vec<usize>, NeuralNetwork<f64>) {
        let mut rng = StdRng::seed_from_u64(2);
        let (x, classes) = quadrants(1000, &mut rng);
        let flipped = classes.iter().map(|c| 1 - c).collect();
        let net = classifier(&mut rng);
        (x, classes, flipped, net)
    }

    #[test]
    fn early_stopping_restores_the_best_epoch() {
        let (x, classes, flipped, mut net) = best_epoch_first();
        let train = Samples::new(x.view(), Target::Classes(&classes)).unwrap();
        let validation = Samples::new(x.view(), Target::Classes(&flipped)).unwrap();
        let mut one_epoch = net.clone();
        let options = FitOptions {
            epochs: 20,
            batch_size: 16,
            early_stopping: Some(EarlyStopping {
                patience: 2,
                min_delta: 0.0,
            }),
            ..FitOptions::default()
        };
        let seed = 5;
        let history = net
            .fit_with(
                train,
                Some(validation),
                &options,
                &mut StdRng::seed_from_u64(seed),
                |_| ControlFlow::Continue(()),
            )
            .unwrap();
        assert!(history.stopped_early);
        assert_eq!(history.best_epoch, Some(0));
        assert_eq!(history.epochs.len(), 3);
        // Stopping at the last epoch is not stopping early.
        let mut last = one_epoch.clone();
        let at_the_end = FitOptions {
            epochs: 3,
            ..options.clone()
        };
        let history = last
            .fit_with(
                train,
                Some(validation),
                &at_the_end,
                &mut StdRng::seed_from_u64(seed),
                |_| ControlFlow::Continue(()),
            )
            .unwrap();
        assert_eq!((history.epochs.len(), history.stopped_early), (3, false));
        // The network holds the parameters it had after epoch 0.
        let options = FitOptions {
            epochs: 1,
            ..options
        };
        one_epoch
            .fit_with(
                train,
                None,
                &options,
                &mut StdRng::seed_from_u64(seed),
                |_| ControlFlow::Continue(()),
            )
            .unwrap();
        for (la, lb) in net.layers().iter().zip(one_epoch.layers()) {
            assert_eq!(la.weights(), lb.weights());
        }
    }

    #[test]
    fn a_stop_from_the_batch_callback_also_restores_the_best_epoch() {
        // As in early_stopping_restores_the_best_epoch, the best epoch is the first; here
        // the per-batch callback stops training in the middle of epoch 2, before early
        // stopping would: the parameters of epoch 0 must come back all the same.
        let (x, classes, flipped, mut net) = best_epoch_first();
        let train = Samples::new(x.view(), Target::Classes(&classes)).unwrap();
        let validation = Samples::new(x.view(), Target::Classes(&flipped)).unwrap();
        let mut one_epoch = net.clone();
        let options = FitOptions {
            epochs: 20,
            batch_size: 16,
            report_every: 10,
            early_stopping: Some(EarlyStopping {
                patience: 5,
                min_delta: 0.0,
            }),
            ..FitOptions::default()
        };
        let history = net
            .fit_with(
                train,
                Some(validation),
                &options,
                &mut StdRng::seed_from_u64(5),
                |p| match p {
                    Progress::Batch {
                        epoch: 2,
                        batch: 30,
                        ..
                    } => ControlFlow::Break(()),
                    _ => ControlFlow::Continue(()),
                },
            )
            .unwrap();
        assert!(history.stopped_early);
        assert_eq!(history.epochs.len(), 2);
        assert_eq!(history.best_epoch, Some(0));
        let options = FitOptions {
            epochs: 1,
            ..options
        };
        one_epoch
            .fit_with(train, None, &options, &mut StdRng::seed_from_u64(5), |_| {
                ControlFlow::Continue(())
            })
            .unwrap();
        for (la, lb) in net.layers().iter().zip(one_epoch.layers()) {
            assert_eq!(la.weights(), lb.weights());
            assert_eq!(la.bias(), lb.bias());
        }
    }

    #[test]
    fn batch_reports_carry_the_running_mean_loss() {
        // No shuffle: the batches are columns 0..10, 10..20, …; the reference takes the
        // same steps with `train` on a clone.
        let mut rng = StdRng::seed_from_u64(6);
        let (x, classes) = quadrants(45, &mut rng);
        let mut net = classifier(&mut rng);
        let mut reference = net.clone();
        let options = FitOptions {
            epochs: 2,
            batch_size: 10,
            shuffle: false,
            report_every: 2,
            ..FitOptions::default()
        };
        let mut reported = Vec::new();
        net.fit_with(
            Samples::new(x.view(), Target::Classes(&classes)).unwrap(),
            None,
            &options,
            &mut rng,
            |p| {
                if let Progress::Batch {
                    epoch, batch, loss, ..
                } = p
                {
                    reported.push((epoch, batch, loss));
                }
                ControlFlow::Continue(())
            },
        )
        .unwrap();
        let mut expected = Vec::new();
        for epoch in 0..2 {
            let (mut sum, mut seen) = (0.0, 0);
            for (b, start) in (0..45).step_by(10).enumerate() {
                let end = (start + 10).min(45);
                let loss = reference
                    .train(
                        x.slice(s![.., start..end]),
                        Target::Classes(&classes[start..end]),
                    )
                    .unwrap();
                sum += loss * (end - start) as f64;
                seen += end - start;
                if (b + 1) % 2 == 0 {
                    expected.push((epoch, b + 1, sum / seen as f64));
                }
            }
        }
        assert_eq!(reported.len(), expected.len());
        for (r, e) in reported.iter().zip(&expected) {
            assert_eq!((r.0, r.1), (e.0, e.1));
            assert_relative_eq!(r.2, e.2, max_relative = 1e-12);
        }
    }

    #[test]
    fn a_rate_that_underflows_later_is_refused_before_any_training() {
        let mut rng = StdRng::seed_from_u64(8);
        let (x, classes) = quadrants(20, &mut rng);
        let mut net = classifier(&mut rng);
        // One fit on the 20 samples; `stop` breaks after the first epoch.
        let mut fit = |net: &mut NeuralNetwork<f64>, options: &FitOptions, stop: bool| {
            let data = Samples::new(x.view(), Target::Classes(&classes)).unwrap();
            net.fit_with(data, None, options, &mut rng, |_| match stop {
                true => ControlFlow::Break(()),
                false => ControlFlow::Continue(()),
            })
        };
        let refused = |result: &nn_core::Result<_>| {
            matches!(
                result,
                Err(Error::InvalidHyperparameter {
                    name: "learning_rate",
                    ..
                })
            )
        };
        // A rate of 1e-300 decayed by 1e-30 at epoch 1 is 1e-330, 0 in f64: fit must
        // refuse it up front, not after training epoch 0 (the check multiplies the rate
        // by the factor as the epoch will; dividing would find 1e-270 and pass).
        net.set_learning_rate(1e-300).unwrap();
        let decay = |epochs, factor| FitOptions {
            epochs,
            batch_size: 10,
            schedule: Schedule::StepDecay { every: 1, factor },
            ..FitOptions::default()
        };
        let result = fit(&mut net, &decay(2, 1e-30), false);
        assert!(refused(&result), "{result:?}");
        // The same for usize::MAX epochs, at once: the check does not walk every epoch.
        let result = fit(&mut net, &decay(usize::MAX, 0.5), false);
        assert!(refused(&result), "{result:?}");
        assert_eq!(net.steps(), 0);
        // A cosine down to 0 over exactly the run's epochs never trains at rate 0: its
        // last epoch, 2, runs at a quarter of the base rate, and the run is accepted.
        net.set_learning_rate(0.1).unwrap();
        let cosine = FitOptions {
            epochs: 3,
            batch_size: 20,
            schedule: Schedule::Cosine {
                epochs: 3,
                min_factor: 0.0,
            },
            ..FitOptions::default()
        };
        let history = fit(&mut net, &cosine, false).unwrap();
        assert_relative_eq!(history.epochs[2].learning_rate, 0.025, max_relative = 1e-12);
        assert_eq!(net.steps(), 3);
        // And a run of usize::MAX epochs (stopped by its callback) starts at once.
        let forever = FitOptions {
            schedule: Schedule::Constant,
            ..decay(usize::MAX, 1.0)
        };
        let history = fit(&mut net, &forever, true).unwrap();
        assert_eq!((history.epochs.len(), net.steps()), (1, 3 + 2));
    }

    #[test]
    fn the_callback_can_stop_training_and_reports_batches() {
        // Breaking after epoch `stop`: an early stop only if an epoch was left to run.
        for (epochs, stop, early) in [(5, 1, true), (3, 0, true), (3, 2, false)] {
            let mut rng = StdRng::seed_from_u64(3);
            let (x, classes) = quadrants(100, &mut rng);
            let mut net = classifier(&mut rng);
            let mut batches = Vec::new();
            let options = FitOptions {
                epochs,
                batch_size: 10,
                report_every: 4,
                ..FitOptions::default()
            };
            let history = net
                .fit_with(
                    Samples::new(x.view(), Target::Classes(&classes)).unwrap(),
                    None,
                    &options,
                    &mut rng,
                    |p| match p {
                        Progress::Batch {
                            batch,
                            batches: total,
                            ..
                        } => {
                            batches.push((batch, total));
                            ControlFlow::Continue(())
                        }
                        Progress::Epoch(report) if report.epoch == stop => ControlFlow::Break(()),
                        _ => ControlFlow::Continue(()),
                    },
                )
                .unwrap();
            assert_eq!(history.epochs.len(), stop + 1);
            assert_eq!(
                history.stopped_early, early,
                "{epochs} epochs, stopped after {stop}"
            );
            assert_eq!(batches, [(4, 10), (8, 10)].repeat(stop + 1));
        }
    }

    #[test]
    fn samples_given_as_rows_train_and_evaluate_exactly_as_columns() {
        let mut rng = StdRng::seed_from_u64(8);
        let (x, classes) = quadrants(300, &mut rng);
        let rows = x.t().to_owned(); // (300, 2), C order: each sample a contiguous row
        let template = classifier(&mut rng);
        let options = FitOptions {
            epochs: 10,
            batch_size: 16,
            ..FitOptions::default()
        };
        let run = |data: Samples<'_, f64>| {
            let mut net = template.clone();
            let mut rng = StdRng::seed_from_u64(3);
            let history = net
                .fit_with(data, Some(data), &options, &mut rng, |_| {
                    ControlFlow::Continue(())
                })
                .unwrap();
            (history, net.evaluate(data, 100).unwrap(), net)
        };
        let (by_columns, eval_columns, net_columns) =
            run(Samples::from_columns(x.view(), Target::Classes(&classes)).unwrap());
        let (by_rows, eval_rows, net_rows) =
            run(Samples::from_rows(rows.view(), Target::Classes(&classes)).unwrap());
        let losses = |h: &nn_train::History| -> Vec<(f64, Option<f64>)> {
            h.epochs
                .iter()
                .map(|e| (e.train_loss, e.validation_loss))
                .collect()
        };
        assert_eq!(losses(&by_rows), losses(&by_columns));
        assert_eq!(eval_rows, eval_columns);
        assert_eq!(
            net_rows.layers()[0].weights(),
            net_columns.layers()[0].weights()
        );
        assert!(eval_rows.accuracy.unwrap() > 0.8, "{eval_rows:?}");
        // Rows handed where columns are expected: the error says the transpose would fit.
        let error = net_rows.predict(rows.view()).unwrap_err();
        assert!(matches!(
            error,
            Error::ShapeMismatch {
                expected: (2, 300),
                actual: (300, 2),
                ..
            }
        ));
        assert!(error.to_string().contains("transpose would fit"), "{error}");
    }

    #[test]
    fn fit_rejects_bad_options_and_data_before_training() {
        let mut rng = StdRng::seed_from_u64(4);
        let (x, classes) = quadrants(10, &mut rng);
        let mut net = classifier(&mut rng);
        let data = Samples::new(x.view(), Target::Classes(&classes)).unwrap();
        let go = |_: Progress<'_>| ControlFlow::Continue(());
        for options in [
            FitOptions {
                epochs: 0,
                ..FitOptions::default()
            },
            FitOptions {
                batch_size: 0,
                ..FitOptions::default()
            },
            FitOptions {
                early_stopping: Some(EarlyStopping {
                    patience: 0,
                    min_delta: 0.0,
                }),
                ..FitOptions::default()
            },
            FitOptions {
                early_stopping: Some(EarlyStopping {
                    patience: 1,
                    min_delta: f64::INFINITY,
                }),
                ..FitOptions::default()
            },
            FitOptions {
                early_stopping: Some(EarlyStopping {
                    patience: 1,
                    min_delta: -0.5,
                }),
                ..FitOptions::default()
            },
            FitOptions {
                schedule: Schedule::StepDecay {
                    every: 0,
                    factor: 0.5,
                },
                ..FitOptions::default()
            },
        ] {
            assert!(matches!(
                net.fit_with(data, None, &options, &mut rng, go),
                Err(Error::InvalidHyperparameter { .. })
            ));
        }
        // A cosine that reaches 0 at epoch 2 of 3 is refused before any training.
        let to_zero = FitOptions {
            epochs: 3,
            schedule: Schedule::Cosine {
                epochs: 2,
                min_factor: 0.0,
            },
            ..FitOptions::default()
        };
        assert!(matches!(
            net.fit_with(data, None, &to_zero, &mut rng, go),
            Err(Error::InvalidHyperparameter {
                name: "learning_rate",
                ..
            })
        ));
        let wrong = [0, 1, 2, 0, 1, 0, 1, 0, 1, 0];
        let bad = Samples::new(x.view(), Target::Classes(&wrong)).unwrap();
        assert!(matches!(
            net.fit_with(bad, None, &FitOptions::default(), &mut rng, go),
            Err(Error::ClassOutOfRange { sample: 2, .. })
        ));
        assert!(Samples::new(x.view(), Target::Classes(&wrong[..3])).is_err());
        // A NaN in sample 7 is found on entry, by its place in the data set, before any
        // batch (which on its own is not scanned again) is trained; evaluation names it
        // the same way.
        let mut nan = x.clone();
        nan[(1, 7)] = f64::NAN;
        let nan_data = Samples::new(nan.view(), Target::Classes(&classes)).unwrap();
        let batches_of_4 = FitOptions {
            batch_size: 4,
            ..FitOptions::default()
        };
        for result in [
            net.fit_with(nan_data, None, &batches_of_4, &mut rng, go)
                .map(|_| ()),
            net.fit_with(data, Some(nan_data), &batches_of_4, &mut rng, go)
                .map(|_| ()),
            net.evaluate(nan_data, 4).map(|_| ()),
        ] {
            assert!(
                matches!(
                    result,
                    Err(Error::NonFiniteInput {
                        row: 1,
                        column: 7,
                        ..
                    })
                ),
                "{result:?}"
            );
        }
        assert_eq!(net.steps(), 0);
        let evaluation = net.evaluate(data, 3).unwrap();
        assert_eq!(evaluation.samples, 10);
        assert!(evaluation.accuracy.is_some());
        let probabilities = net.predict_probabilities(x.view()).unwrap();
        for column in probabilities.columns() {
            assert_relative_eq!(column.sum(), 1.0, epsilon = 1e-12);
        }
    }
}

#[test]
fn a_large_layer_is_updated_in_blocks_of_rows_on_threads_as_on_one() {
    // 300 → 250 has 75 000 weights: enough for the sum of the shares' gradients and the
    // optimizer's state to be split by rows over two threads (above 2^16 entries).
    trained_on_threads(&[300, 250, 10], 31, &[1, 2], 3);
}
