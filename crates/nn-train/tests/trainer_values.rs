//! Value tests of the machinery around the derivatives: optimizer trajectories through
//! `train` and `fit`, threaded batch shares, clipping, the shuffle, `evaluate`'s
//! weighting and training accuracy, each compared with an independent reference written
//! here from the documented formulas (plain loops in f64, no nn code), so that a wrong
//! optimizer, split, clip or average fails a test.

// The reference spells the math out with indices, as the formulas do.
#![allow(clippy::needless_range_loop)]

use std::ops::ControlFlow;

use approx::assert_relative_eq;
use ndarray::{s, Array2, ArrayView2};
use nn_core::{Activation, Error, Target};
use nn_layers::{Dense, Identity, Tanh};
use nn_loss::{CrossEntropy, Mse};
use nn_train::{Adam, EpochReport, FitOptions, NeuralNetwork, Optimizer, Samples, Sgd};
use rand::seq::SliceRandom;
use rand::{rngs::StdRng, Rng, SeedableRng};

// ---------------------------------------------------------------------------------------
// The reference: a network of tanh hidden layers and an identity output layer, MSE on
// values or cross-entropy on classes, and the optimizers as their docs (and PyTorch)
// define them.

#[derive(Clone, Debug)]
struct RefLayer {
    w: Array2<f64>,
    b: Array2<f64>,
    tanh: bool,
}

#[derive(Clone, Copy, Debug)]
enum RefLoss<'a> {
    /// Mean of `(v - t)²` over every entry.
    Mse(ArrayView2<'a, f64>),
    /// Mean over samples of `log Σ e^v - v[c]`.
    CrossEntropy(&'a [usize]),
}

/// Loss, `(dW, db)` per layer, and the outputs, for the batch `x` (one sample per column).
#[allow(clippy::type_complexity)]
fn ref_gradients(
    layers: &[RefLayer],
    x: ArrayView2<'_, f64>,
    loss: RefLoss<'_>,
) -> (f64, Vec<(Array2<f64>, Array2<f64>)>, Array2<f64>) {
    let batch = x.ncols();
    let mut grads: Vec<_> = layers
        .iter()
        .map(|l| (Array2::zeros(l.w.dim()), Array2::zeros(l.b.dim())))
        .collect();
    let outs = layers.last().unwrap().w.nrows();
    let mut outputs = Array2::zeros((outs, batch));
    let mut total = 0.0;
    for j in 0..batch {
        // Forward, keeping each layer's input and pre-activation.
        let mut inputs = vec![x.column(j).to_vec()];
        let mut pre = Vec::new();
        for l in layers {
            let input = inputs.last().unwrap();
            let y: Vec<f64> = (0..l.w.nrows())
                .map(|r| {
                    l.b[(r, 0)]
                        + (0..l.w.ncols())
                            .map(|c| l.w[(r, c)] * input[c])
                            .sum::<f64>()
                })
                .collect();
            let a = y
                .iter()
                .map(|&v| if l.tanh { v.tanh() } else { v })
                .collect();
            pre.push(y);
            inputs.push(a);
        }
        let out = inputs.last().unwrap().clone();
        for (r, &v) in out.iter().enumerate() {
            outputs[(r, j)] = v;
        }
        // dL/d(out) of the batch's mean loss.
        let mut da: Vec<f64> = match loss {
            RefLoss::Mse(t) => {
                let n = (outs * batch) as f64;
                total += out
                    .iter()
                    .enumerate()
                    .map(|(r, v)| (v - t[(r, j)]).powi(2))
                    .sum::<f64>()
                    / n;
                out.iter()
                    .enumerate()
                    .map(|(r, v)| 2.0 * (v - t[(r, j)]) / n)
                    .collect()
            }
            RefLoss::CrossEntropy(classes) => {
                let c = classes[j];
                let sum: f64 = out.iter().map(|v| v.exp()).sum();
                total += (sum.ln() - out[c]) / batch as f64;
                out.iter()
                    .enumerate()
                    .map(|(r, v)| (v.exp() / sum - f64::from(u8::from(r == c))) / batch as f64)
                    .collect()
            }
        };
        // Backward: delta = df(y) ⊙ da, dW += delta·xᵀ, db += delta, da = Wᵀ·delta.
        for (i, l) in layers.iter().enumerate().rev() {
            let delta: Vec<f64> = pre[i]
                .iter()
                .zip(&da)
                .map(|(&y, &d)| {
                    if l.tanh {
                        (1.0 - y.tanh().powi(2)) * d
                    } else {
                        d
                    }
                })
                .collect();
            for r in 0..l.w.nrows() {
                for c in 0..l.w.ncols() {
                    grads[i].0[(r, c)] += delta[r] * inputs[i][c];
                }
                grads[i].1[(r, 0)] += delta[r];
            }
            da = (0..l.w.ncols())
                .map(|c| (0..l.w.nrows()).map(|r| l.w[(r, c)] * delta[r]).sum())
                .collect();
        }
    }
    (total, grads, outputs)
}

/// An optimizer's hyperparameters, applied by the reference and by nn.
#[derive(Clone, Copy, Debug)]
enum RefOptimizer {
    Sgd {
        rate: f64,
        momentum: f64,
        nesterov: bool,
        decay: f64,
    },
    Adam {
        rate: f64,
        decay: f64,
        decoupled: bool,
    },
}

impl RefOptimizer {
    fn all() -> Vec<RefOptimizer> {
        let sgd = |momentum, nesterov, decay| RefOptimizer::Sgd {
            rate: 0.1,
            momentum,
            nesterov,
            decay,
        };
        vec![
            sgd(0.0, false, 0.0),
            sgd(0.9, false, 0.0),
            sgd(0.9, true, 0.0),
            sgd(0.0, false, 0.05),
            sgd(0.9, false, 0.05),
            sgd(0.8, true, 0.05),
            RefOptimizer::Adam {
                rate: 0.01,
                decay: 0.0,
                decoupled: false,
            },
            RefOptimizer::Adam {
                rate: 0.01,
                decay: 0.1,
                decoupled: false,
            },
            RefOptimizer::Adam {
                rate: 0.01,
                decay: 0.1,
                decoupled: true,
            },
        ]
    }

    fn build(self) -> Box<dyn Optimizer<f64>> {
        match self {
            RefOptimizer::Sgd {
                rate,
                momentum,
                nesterov,
                decay,
            } => {
                let mut sgd = Sgd::new(rate).unwrap().with_weight_decay(decay).unwrap();
                if momentum > 0.0 {
                    sgd = sgd.with_momentum(momentum).unwrap().with_nesterov(nesterov);
                }
                Box::new(sgd)
            }
            RefOptimizer::Adam {
                rate,
                decay,
                decoupled: false,
            } => Box::new(Adam::new(rate).unwrap().with_weight_decay(decay).unwrap()),
            RefOptimizer::Adam {
                rate,
                decay,
                decoupled: true,
            } => Box::new(Adam::adamw(rate, decay).unwrap()),
        }
    }

    /// One step of every entry of `p` with gradient `g` and state `(s1, s2)`; `t` from 1.
    fn step(
        self,
        p: &mut Array2<f64>,
        g: &Array2<f64>,
        s1: &mut Array2<f64>,
        s2: &mut Array2<f64>,
        t: i32,
    ) {
        for ((p, &g), (s1, s2)) in p.iter_mut().zip(g).zip(s1.iter_mut().zip(s2.iter_mut())) {
            match self {
                // PyTorch's SGD: g += λθ; v = μv + g; θ -= lr·v (Nesterov: lr·(g + μv)).
                RefOptimizer::Sgd {
                    rate,
                    momentum,
                    nesterov,
                    decay,
                } => {
                    let g = g + decay * *p;
                    if momentum == 0.0 {
                        *p -= rate * g;
                    } else {
                        *s1 = momentum * *s1 + g;
                        *p -= rate * if nesterov { g + momentum * *s1 } else { *s1 };
                    }
                }
                // Adam: m, v with bias correction, ε outside the root; AdamW shrinks θ by
                // 1 - lr·λ first instead of adding λθ to the gradient.
                RefOptimizer::Adam {
                    rate,
                    decay,
                    decoupled,
                } => {
                    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
                    let g = if decoupled {
                        *p *= 1.0 - rate * decay;
                        g
                    } else {
                        g + decay * *p
                    };
                    *s1 = b1 * *s1 + (1.0 - b1) * g;
                    *s2 = b2 * *s2 + (1.0 - b2) * g * g;
                    let m_hat = *s1 / (1.0 - b1.powi(t));
                    let v_hat = *s2 / (1.0 - b2.powi(t));
                    *p -= rate * m_hat / (v_hat.sqrt() + eps);
                }
            }
        }
    }
}

/// The reference network with optimizer state, trained step by step.
struct Reference {
    layers: Vec<RefLayer>,
    optimizer: RefOptimizer,
    state: Vec<[Array2<f64>; 4]>,
    t: i32,
}

impl Reference {
    fn new(net: &NeuralNetwork<f64>, optimizer: RefOptimizer) -> Self {
        let layers: Vec<RefLayer> = net
            .layers()
            .iter()
            .map(|l| RefLayer {
                w: l.weights().to_owned(),
                b: l.bias().to_owned(),
                tanh: l.activation().name() == "tanh",
            })
            .collect();
        let state = layers
            .iter()
            .map(|l| {
                let (w, b) = (Array2::zeros(l.w.dim()), Array2::zeros(l.b.dim()));
                [w.clone(), w, b.clone(), b]
            })
            .collect();
        Reference {
            layers,
            optimizer,
            state,
            t: 0,
        }
    }

    /// One step; returns the loss before it and the outputs it was computed from.
    fn train(&mut self, x: ArrayView2<'_, f64>, loss: RefLoss<'_>) -> (f64, Array2<f64>) {
        let (value, grads, outputs) = ref_gradients(&self.layers, x, loss);
        self.t += 1;
        for ((l, (dw, db)), [sw1, sw2, sb1, sb2]) in
            self.layers.iter_mut().zip(&grads).zip(&mut self.state)
        {
            self.optimizer.step(&mut l.w, dw, sw1, sw2, self.t);
            self.optimizer.step(&mut l.b, db, sb1, sb2, self.t);
        }
        (value, outputs)
    }

    fn assert_matches(&self, net: &NeuralNetwork<f64>, what: &str) {
        for (i, (r, l)) in self.layers.iter().zip(net.layers()).enumerate() {
            for (name, expected, actual) in [("W", &r.w, l.weights()), ("b", &r.b, l.bias())] {
                for (&e, &a) in expected.iter().zip(actual) {
                    assert!(
                        (e - a).abs() <= 1e-11 * e.abs().max(1e-3),
                        "{what}: {name}_{i}: nn {a}, reference {e}"
                    );
                }
            }
        }
    }
}

/// A network `sizes[0] → … → sizes[n]`, tanh hidden layers and an identity output.
fn network(sizes: &[usize], loss: &str, rng: &mut StdRng) -> NeuralNetwork<f64> {
    let n = sizes.len() - 1;
    let layers = sizes
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let weights = Array2::from_shape_simple_fn((w[1], w[0]), || {
                rng.random_range(-1.0..1.0) / (w[0] as f64).sqrt()
            });
            let bias = Array2::from_shape_simple_fn((w[1], 1), || rng.random_range(-0.5..0.5));
            let act: Box<dyn Activation<f64>> = if i + 1 < n {
                Box::new(Tanh)
            } else {
                Box::new(Identity)
            };
            Dense::from_parameters(weights, bias, act).unwrap()
        })
        .collect();
    match loss {
        "mse" => NeuralNetwork::new(layers, Mse, 0.1).unwrap(),
        _ => NeuralNetwork::new(layers, CrossEntropy, 0.1).unwrap(),
    }
}

fn random(rows: usize, cols: usize, rng: &mut StdRng) -> Array2<f64> {
    Array2::from_shape_simple_fn((rows, cols), || rng.random_range(-1.5..1.5))
}

// ---------------------------------------------------------------------------------------
// Optimizer trajectories.

#[test]
fn every_optimizer_follows_the_reference_through_train() {
    let mut rng = StdRng::seed_from_u64(81);
    for optimizer in RefOptimizer::all() {
        // One sample per step (the fused path for plain SGD, the one-sample kernels
        // otherwise) and batches of 5, MSE on values and cross-entropy on classes.
        for (batch, loss) in [(1, "mse"), (5, "mse"), (1, "ce"), (5, "ce")] {
            let mut net = network(&[3, 4, 2], loss, &mut rng);
            net.set_boxed_optimizer(optimizer.build());
            let mut reference = Reference::new(&net, optimizer);
            for step in 0..6 {
                let x = random(3, batch, &mut rng);
                let values = random(2, batch, &mut rng);
                let classes: Vec<usize> = (0..batch).map(|_| rng.random_range(0..2)).collect();
                let (target, ref_loss) = if loss == "mse" {
                    (Target::Values(values.view()), RefLoss::Mse(values.view()))
                } else {
                    (Target::Classes(&classes), RefLoss::CrossEntropy(&classes))
                };
                let got = net.train(x.view(), target).unwrap();
                let (expected, _) = reference.train(x.view(), ref_loss);
                let what = format!("{optimizer:?}, batch {batch}, {loss}, step {step}");
                assert_relative_eq!(got, expected, max_relative = 1e-12);
                reference.assert_matches(&net, &what);
            }
        }
    }
}

#[test]
fn every_optimizer_follows_the_reference_through_fit_with_a_short_last_batch() {
    let mut rng = StdRng::seed_from_u64(82);
    for optimizer in RefOptimizer::all() {
        let mut net = network(&[3, 5, 3], "ce", &mut rng);
        net.set_boxed_optimizer(optimizer.build());
        let mut reference = Reference::new(&net, optimizer);
        let x = random(3, 10, &mut rng);
        let classes: Vec<usize> = (0..10).map(|_| rng.random_range(0..3)).collect();
        let options = FitOptions {
            epochs: 3,
            batch_size: 4,
            shuffle: true,
            ..FitOptions::default()
        };
        let data = Samples::new(x.view(), Target::Classes(&classes)).unwrap();
        let seed = 5;
        let history = net
            .fit_with(
                data,
                None,
                &options,
                &mut StdRng::seed_from_u64(seed),
                |_| ControlFlow::Continue(()),
            )
            .unwrap();
        // The reference draws a new order every epoch from the same seed, as fit
        // documents, and takes batches of 4, 4 and 2.
        let mut order: Vec<usize> = (0..10).collect();
        let mut shuffle_rng = StdRng::seed_from_u64(seed);
        for report in &history.epochs {
            order.shuffle(&mut shuffle_rng);
            let (mut loss_sum, mut correct) = (0.0, 0);
            for chunk in order.chunks(4) {
                let xb = Array2::from_shape_fn((3, chunk.len()), |(r, k)| x[(r, chunk[k])]);
                let cb: Vec<usize> = chunk.iter().map(|&j| classes[j]).collect();
                let (loss, outputs) = reference.train(xb.view(), RefLoss::CrossEntropy(&cb));
                loss_sum += loss * chunk.len() as f64;
                correct += (0..chunk.len())
                    .filter(|&k| argmax(outputs.column(k).to_vec()) == cb[k])
                    .count();
            }
            assert_relative_eq!(report.train_loss, loss_sum / 10.0, max_relative = 1e-12);
            assert_eq!(report.train_accuracy, Some(correct as f64 / 10.0));
        }
        reference.assert_matches(&net, &format!("{optimizer:?} after fit"));
    }
}

fn argmax(v: Vec<f64>) -> usize {
    (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

#[test]
fn the_shuffle_is_new_every_epoch_and_fixed_by_the_seed() {
    // Batches of one sample with plain SGD: the order of the samples changes the result,
    // so each epoch's order is visible in the parameters.
    let mut rng = StdRng::seed_from_u64(83);
    let base = network(&[2, 3, 2], "ce", &mut rng);
    let x = random(2, 6, &mut rng);
    let classes = [0, 1, 1, 0, 1, 0];
    let run = |seed: u64, epochs: usize| {
        let mut net = base.clone();
        let options = FitOptions {
            epochs,
            batch_size: 1,
            ..FitOptions::default()
        };
        let data = Samples::new(x.view(), Target::Classes(&classes)).unwrap();
        net.fit_with(
            data,
            None,
            &options,
            &mut StdRng::seed_from_u64(seed),
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
        net
    };
    let same = |a: &NeuralNetwork<f64>, b: &NeuralNetwork<f64>| {
        a.layers()
            .iter()
            .zip(b.layers())
            .all(|(p, q)| p.weights() == q.weights())
    };
    assert!(same(&run(1, 3), &run(1, 3)), "the seed fixes the run");
    assert!(!same(&run(1, 3), &run(2, 3)), "another seed, another order");
    // The reference: a fresh permutation per epoch, the same permutation vector shuffled
    // again each time.
    let mut reference = Reference::new(
        &base,
        RefOptimizer::Sgd {
            rate: 0.1,
            momentum: 0.0,
            nesterov: false,
            decay: 0.0,
        },
    );
    let mut order: Vec<usize> = (0..6).collect();
    let mut shuffle_rng = StdRng::seed_from_u64(1);
    let mut orders = Vec::new();
    for _ in 0..3 {
        order.shuffle(&mut shuffle_rng);
        orders.push(order.clone());
        for &j in &order {
            let c = [classes[j]];
            reference.train(x.slice(s![.., j..j + 1]), RefLoss::CrossEntropy(&c));
        }
    }
    assert!(
        orders[0] != orders[1] || orders[1] != orders[2],
        "the orders differ"
    );
    reference.assert_matches(&run(1, 3), "three shuffled epochs");
}

// ---------------------------------------------------------------------------------------
// Batches split over threads in unequal shares.

/// A network large enough that batches from 64 columns are split over threads
/// (100·100 + 100 + 100·10 + 10 = 11 110 parameters; 97 columns make 1.08M ≥ 2^20).
fn wide_network(rng: &mut StdRng) -> NeuralNetwork<f64> {
    network(&[100, 100, 10], "ce", rng)
}

#[test]
fn unequal_thread_shares_give_the_one_thread_gradients_loss_and_accuracy() {
    let mut rng = StdRng::seed_from_u64(84);
    let base = wide_network(&mut rng);
    for batch in [97, 129, 130] {
        // Samples whose losses differ a lot between the first and the last columns, so
        // that weighting unequal shares equally would move the mean visibly.
        let mut x = random(100, batch, &mut rng);
        x.slice_mut(s![.., batch / 2..]).mapv_inplace(|v| 4.0 * v);
        let classes: Vec<usize> = (0..batch).map(|j| (j * 7) % 10).collect();
        let mut one = base.clone();
        one.set_threads(1).unwrap();
        let loss_one = one.train(x.view(), Target::Classes(&classes)).unwrap();
        let mut reference = Reference::new(
            &base,
            RefOptimizer::Sgd {
                rate: 0.1,
                momentum: 0.0,
                nesterov: false,
                decay: 0.0,
            },
        );
        let (loss_ref, _) = reference.train(x.view(), RefLoss::CrossEntropy(&classes));
        assert_relative_eq!(loss_one, loss_ref, max_relative = 1e-12);
        reference.assert_matches(&one, &format!("batch {batch}, 1 thread"));
        for threads in [2, 3] {
            let mut split = base.clone();
            split.set_threads(threads).unwrap();
            let loss = split.train(x.view(), Target::Classes(&classes)).unwrap();
            assert_relative_eq!(loss, loss_ref, max_relative = 1e-12);
            reference.assert_matches(&split, &format!("batch {batch}, {threads} threads"));
        }
        // Training accuracy counted over every share, through fit.
        let data = Samples::new(x.view(), Target::Classes(&classes)).unwrap();
        let options = FitOptions {
            batch_size: batch,
            shuffle: false,
            ..FitOptions::default()
        };
        let report = |threads: usize| -> EpochReport {
            let mut net = base.clone();
            net.set_threads(threads).unwrap();
            let history = net
                .fit_with(data, None, &options, &mut StdRng::seed_from_u64(0), |_| {
                    ControlFlow::Continue(())
                })
                .unwrap();
            history.epochs[0].clone()
        };
        let (_, _, outputs) = ref_gradients(
            &Reference::new(&base, RefOptimizer::all()[0]).layers,
            x.view(),
            RefLoss::CrossEntropy(&classes),
        );
        let correct = (0..batch)
            .filter(|&j| argmax(outputs.column(j).to_vec()) == classes[j])
            .count();
        assert!(
            correct > 0 && correct < batch,
            "a test that can tell shares apart"
        );
        for threads in [1, 2, 3] {
            let r = report(threads);
            assert_eq!(
                r.train_accuracy,
                Some(correct as f64 / batch as f64),
                "{threads} threads"
            );
            assert_relative_eq!(r.train_loss, loss_ref, max_relative = 1e-12);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Clipping.

#[test]
fn clipping_scales_by_the_global_norm_of_every_weight_and_bias_gradient() {
    let mut rng = StdRng::seed_from_u64(85);
    let base = network(&[3, 4, 2], "mse", &mut rng);
    let x = random(3, 2, &mut rng);
    let t = random(2, 2, &mut rng);
    let grads = base.backprop(x.view(), Target::Values(t.view())).unwrap();
    let norm = grads
        .dws
        .iter()
        .chain(&grads.dbs)
        .flat_map(|g| g.iter())
        .map(|g| g * g)
        .sum::<f64>()
        .sqrt();
    for (limit, scale) in [(norm * 2.0, 1.0), (norm, 1.0), (norm / 4.0, 0.25)] {
        let mut net = base.clone();
        net.set_max_gradient_norm(Some(limit)).unwrap();
        net.train(x.view(), Target::Values(t.view())).unwrap();
        for (i, (before, after)) in base.layers().iter().zip(net.layers()).enumerate() {
            let expected_w = &before.weights() - &(&grads.dws[i] * (0.1 * scale));
            let expected_b = &before.bias() - &(&grads.dbs[i] * (0.1 * scale));
            assert_relative_eq!(after.weights().to_owned(), expected_w, max_relative = 1e-12);
            assert_relative_eq!(after.bias().to_owned(), expected_b, max_relative = 1e-12);
        }
    }
}

#[test]
fn clipping_counts_bias_gradients() {
    // Zero inputs: every weight gradient of the first layer is 0 and the norm is carried
    // by the biases, the output layer's included.
    let mut rng = StdRng::seed_from_u64(86);
    let base = network(&[3, 2], "mse", &mut rng);
    let x = Array2::zeros((3, 1));
    let t = Array2::from_elem((2, 1), 10.0);
    let grads = base.backprop(x.view(), Target::Values(t.view())).unwrap();
    assert!(grads.dws[0].iter().all(|&g| g == 0.0));
    let norm = grads.dbs[0].iter().map(|g| g * g).sum::<f64>().sqrt();
    let mut net = base.clone();
    net.set_max_gradient_norm(Some(norm / 2.0)).unwrap();
    net.train(x.view(), Target::Values(t.view())).unwrap();
    let expected = &base.layers()[0].bias() - &(&grads.dbs[0] * 0.05);
    assert_relative_eq!(
        net.layers()[0].bias().to_owned(),
        expected,
        max_relative = 1e-12
    );
}

// ---------------------------------------------------------------------------------------
// Evaluation.

#[test]
fn evaluate_weights_a_short_last_batch_by_its_size() {
    let mut rng = StdRng::seed_from_u64(87);
    for loss in ["mse", "ce"] {
        let net = network(&[3, 4, 3], loss, &mut rng);
        let x = random(3, 10, &mut rng);
        // Very different samples at the end, so that the last batch's mean stands out.
        let mut x = x;
        x.slice_mut(s![.., 8..]).mapv_inplace(|v| 6.0 * v);
        let classes: Vec<usize> = (0..10).map(|j| j % 3).collect();
        let values = random(3, 10, &mut rng);
        let target = if loss == "mse" {
            Target::Values(values.view())
        } else {
            Target::Classes(&classes)
        };
        let whole = net
            .loss(net.forward_pass(x.view()).unwrap().view(), target)
            .unwrap();
        for batch_size in [1, 3, 4, 10, 64] {
            let data = Samples::new(x.view(), target).unwrap();
            assert_eq!((data.len(), data.is_empty()), (10, false));
            let e = net.evaluate(data, batch_size).unwrap();
            assert_relative_eq!(e.loss, whole, max_relative = 1e-12);
            assert_eq!(e.samples, 10);
            if loss == "ce" {
                let predicted = net.predict(x.view()).unwrap();
                let correct = predicted
                    .iter()
                    .zip(&classes)
                    .filter(|(p, c)| p == c)
                    .count();
                assert_eq!(
                    e.accuracy,
                    Some(correct as f64 / 10.0),
                    "batch {batch_size}"
                );
            } else {
                assert_eq!(e.accuracy, None);
            }
        }
    }
}

#[test]
fn evaluate_gives_the_regression_metrics_of_value_targets() {
    let mut rng = StdRng::seed_from_u64(88);
    let net = network(&[3, 4, 3], "mse", &mut rng);
    let x = random(3, 11, &mut rng);
    let y = net.forward_pass(x.view()).unwrap();
    // Output 0: noisy targets; output 1: the predictions themselves (R² = 1); output 2:
    // one constant target, predicted wrongly (scikit-learn's rule: R² = 0).
    let mut t = &y + &random(3, 11, &mut rng).mapv(|v| 0.3 * v);
    t.row_mut(1).assign(&y.row(1));
    t.row_mut(2).fill(0.25);
    // The reference, written out: MAE over all 33 entries, R² per output then averaged.
    let mae = (&y - &t).mapv(f64::abs).sum() / 33.0;
    let mean0 = t.row(0).sum() / 11.0;
    let residual0: f64 = y
        .row(0)
        .iter()
        .zip(t.row(0))
        .map(|(y, t)| (t - y).powi(2))
        .sum();
    let total0: f64 = t.row(0).iter().map(|t| (t - mean0).powi(2)).sum();
    let r2 = ((1.0 - residual0 / total0) + 1.0 + 0.0) / 3.0;
    for batch_size in [1, 4, 11, 64] {
        let data = Samples::new(x.view(), Target::Values(t.view())).unwrap();
        let e = net.evaluate(data, batch_size).unwrap();
        assert_relative_eq!(e.mean_absolute_error.unwrap(), mae, max_relative = 1e-12);
        assert_relative_eq!(e.r_squared.unwrap(), r2, max_relative = 1e-12);
    }
    // Exact predictions (one batch of 11, computed as forward_pass computed y): MAE 0 and
    // R² 1; classes have neither metric.
    let exact = net.evaluate(
        Samples::new(x.view(), Target::Values(y.view())).unwrap(),
        11,
    );
    let exact = exact.unwrap();
    assert_eq!(
        (exact.mean_absolute_error, exact.r_squared),
        (Some(0.0), Some(1.0))
    );
    let classes: Vec<usize> = (0..11).map(|j| j % 3).collect();
    let e = net
        .evaluate(
            Samples::new(x.view(), Target::Classes(&classes)).unwrap(),
            5,
        )
        .unwrap();
    assert_eq!((e.mean_absolute_error, e.r_squared), (None, None));
}

// ---------------------------------------------------------------------------------------
// The finiteness check and the update check cover every parameter of every layer.

#[test]
fn the_update_check_counts_bias_gradients_in_every_layer() {
    // Zero inputs to the last layer: its weight gradients are exactly 0 and only its bias
    // gradients, softmax - onehot, push. Logits b = (0.86e308, 0.85e308) with class 1:
    // db = (1, -1), so at rate 1e308 the update takes b_1 to 1.85e308, past the float
    // maximum. A proof of finiteness that looked only at weight gradients would let it
    // through; the check must refuse it, naming the layer, on every path.
    for (hidden, momentum, batch) in [
        (false, false, 1),
        (false, true, 1),
        (true, false, 2),
        (true, true, 1),
    ] {
        let logits = Dense::from_parameters(
            Array2::zeros((2, 1)),
            ndarray::array![[0.86e308], [0.85e308]],
            Box::new(Identity),
        )
        .unwrap();
        let layers = if hidden {
            // A first layer whose output is 0 for any input (zero weights and bias).
            let zero = Dense::from_parameters(
                Array2::zeros((1, 3)),
                Array2::zeros((1, 1)),
                Box::new(Identity),
            );
            vec![zero.unwrap(), logits]
        } else {
            vec![logits]
        };
        let ins = layers[0].ins();
        let mut net = NeuralNetwork::new(layers, CrossEntropy, 1e308).unwrap();
        if momentum {
            net.set_optimizer(Sgd::new(1e308).unwrap().with_momentum(0.5).unwrap());
        }
        let before: Vec<_> = net
            .layers()
            .iter()
            .map(|l| (l.weights().to_owned(), l.bias().to_owned()))
            .collect();
        let x = if hidden {
            Array2::from_elem((ins, batch), 1.0)
        } else {
            Array2::zeros((ins, batch))
        };
        let last = net.layers().len() - 1;
        match net.train(x.view(), Target::Classes(&vec![1; batch])) {
            Err(Error::Diverged { what, .. }) => {
                assert_eq!(what, format!("a bias of layer {last} after the update"));
            }
            other => panic!("hidden {hidden}, momentum {momentum}: {other:?}"),
        }
        let after: Vec<_> = net
            .layers()
            .iter()
            .map(|l| (l.weights().to_owned(), l.bias().to_owned()))
            .collect();
        assert_eq!(before, after);
    }
}

/// Plain SGD that records the step number it is given for each weight update.
#[derive(Clone, Debug, Default)]
struct RecordingSgd {
    steps: std::sync::Arc<std::sync::Mutex<Vec<u64>>>,
}

impl Optimizer<f64> for RecordingSgd {
    fn name(&self) -> String {
        "recording-sgd".into()
    }
    fn clone_box(&self) -> Box<dyn Optimizer<f64>> {
        Box::new(self.clone())
    }
    fn learning_rate(&self) -> f64 {
        0.1
    }
    fn set_learning_rate(&mut self, _: f64) -> nn_core::Result<()> {
        Ok(())
    }
    fn state_buffers(&self) -> usize {
        0
    }
    fn step(
        &self,
        mut parameter: ndarray::ArrayViewMut2<'_, f64>,
        gradient: ArrayView2<'_, f64>,
        _: &mut [Array2<f64>],
        step: u64,
        _: f64,
    ) {
        parameter.scaled_add(-0.1, &gradient);
        self.steps.lock().unwrap().push(step);
    }
    fn plain_learning_rate(&self) -> Option<f64> {
        Some(0.1)
    }
}

#[test]
fn the_optimizers_step_count_includes_fused_one_sample_steps() {
    // Three one-sample steps take the fused path (no call to `step`); the batch step after
    // them is the optimizer's fourth update, for a bias and a weight of each layer.
    let mut rng = StdRng::seed_from_u64(8);
    let mut net = network(&[2, 3, 2], "mse", &mut rng);
    let optimizer = RecordingSgd::default();
    net.set_optimizer(optimizer.clone());
    let (x, t) = (random(2, 4, &mut rng), random(2, 4, &mut rng));
    for k in 0..3 {
        let (xs, ts) = (x.slice(s![.., k..k + 1]), t.slice(s![.., k..k + 1]));
        net.train(xs, Target::Values(ts)).unwrap();
    }
    assert!(optimizer.steps.lock().unwrap().is_empty());
    net.train(x.view(), Target::Values(t.view())).unwrap();
    assert_eq!(*optimizer.steps.lock().unwrap(), vec![4; 4]);
    assert_eq!(net.steps(), 4);
}
