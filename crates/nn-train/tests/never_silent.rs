//! Regression tests of issue 8's bugs: results that are not finite, and targets that make
//! no sense, are errors that say where, never silent numbers.
//!
//! - clipping with finite gradients whose squares overflow still takes the clipped step;
//! - inference (`forward_pass`, `predict`, `predict_probabilities`, `evaluate`, `loss`,
//!   `backprop`) reports a non-finite output naming the layer;
//! - cross-entropy refuses value targets that are not probability distributions.

use approx::assert_relative_eq;
use ndarray::{array, Array2};
use nn_core::{Error, Loss, Target};
use nn_layers::{Dense, Identity, Sigmoid};
use nn_loss::{CrossEntropy, Mse};
use nn_train::{FitOptions, NeuralNetwork, Samples};
use rand::{rngs::StdRng, SeedableRng};
use std::ops::ControlFlow;

/// One identity layer `1 → 1` with weight `w` and bias `b`, MSE, plain SGD at `rate`.
fn scalar_net(w: f64, b: f64, rate: f64) -> NeuralNetwork<f64> {
    let layer = Dense::from_parameters(array![[w]], array![[b]], Box::new(Identity)).unwrap();
    NeuralNetwork::new(vec![layer], Mse, rate).unwrap()
}

fn parameters(net: &NeuralNetwork<f64>) -> Vec<(Array2<f64>, Array2<f64>)> {
    net.layers()
        .iter()
        .map(|l| (l.weights().to_owned(), l.bias().to_owned()))
        .collect()
}

#[test]
fn clipping_takes_the_clipped_step_when_squared_gradients_overflow() {
    // y = w·x + b = 1e-200·1e200 + 0.5 = 1.5 against t = 0: dL/dy = 2·1.5 = 3, so
    // dW = 3·x = 3e200 (its square overflows f64) and db = 3. The norm is
    // sqrt(dW² + db²) = 3e200·sqrt(1 + 1e-400), i.e. 3e200 in f64: clipped to 1, the step
    // moves W by -rate·dW/norm = -rate and b by -rate·db/norm = -rate·1e-200.
    let (w, b, x, rate) = (1e-200, 0.5, 1e200, 0.25);
    let mut net = scalar_net(w, b, rate);
    net.set_max_gradient_norm(Some(1.0)).unwrap();
    let target = array![[0.0]];
    let loss = net
        .train(array![[x]].view(), Target::Values(target.view()))
        .unwrap();
    assert_relative_eq!(loss, 2.25, max_relative = 1e-15);
    assert_eq!(net.steps(), 1);
    let (dw, db) = (3.0 * x, 3.0);
    let norm = dw * (1.0 + (db / dw) * (db / dw)).sqrt();
    let after = &parameters(&net)[0];
    assert_relative_eq!(after.0[(0, 0)], w - rate * dw / norm, max_relative = 1e-12);
    assert_relative_eq!(after.1[(0, 0)], b - rate * db / norm, max_relative = 1e-12);
    assert!(after.0[(0, 0)] != w, "the step must move the weight");
}

#[test]
fn clipping_in_f32_past_the_overflow_of_squares() {
    // f32 squares overflow past 1.8e19. y = 1e-19·2e19 + 1e-19·1.5e19 = 3.5 against 0:
    // dL/dy = 7, dW = (1.4e20, 1.05e20), db = 7, and the norm is 7·sqrt(2e19² + 1.5e19² + 1)
    // = 1.75e20. Clipped to 2 at rate 0.5, W moves by -(0.8, 0.6) and b by -8e-20.
    let layer = Dense::from_parameters(
        array![[1e-19f32, 1e-19]],
        array![[0.0f32]],
        Box::new(Identity),
    )
    .unwrap();
    let mut net = NeuralNetwork::new(vec![layer], Mse, 0.5f32).unwrap();
    net.set_max_gradient_norm(Some(2.0)).unwrap();
    let x = array![[2e19f32], [1.5e19]];
    let t = array![[0.0f32]];
    net.train(x.view(), Target::Values(t.view())).unwrap();
    let layer = &net.layers()[0];
    let (w, b) = (layer.weights(), layer.bias());
    assert_relative_eq!(w[(0, 0)], 1e-19 - 0.8, max_relative = 1e-5);
    assert_relative_eq!(w[(0, 1)], 1e-19 - 0.6, max_relative = 1e-5);
    assert_relative_eq!(b[(0, 0)], -8e-20, max_relative = 1e-4);
}

#[test]
fn a_clipping_scale_that_underflows_is_an_error_not_a_zero_step() {
    // y = 1e-100·1e100 = 1 against 0: dW = 2·1e100 against a limit of 1e-300, so the
    // scale 5e-401 is 0 in f64, which would make a step that moves nothing.
    let mut net = scalar_net(1e-100, 0.0, 0.1);
    net.set_max_gradient_norm(Some(1e-300)).unwrap();
    let before = parameters(&net);
    let target = array![[0.0]];
    let err = net
        .train(array![[1e100]].view(), Target::Values(target.view()))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidHyperparameter {
                name: "max_gradient_norm",
                value: 1e-300,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(parameters(&net), before);
    assert_eq!(net.steps(), 0);
    // Without the limit, the same step is taken.
    net.set_max_gradient_norm(None).unwrap();
    net.train(array![[1e100]].view(), Target::Values(target.view()))
        .unwrap();
    assert_eq!(net.steps(), 1);
}

/// Two layers: `1 → 2` identity with weights `w0`, then `2 → 2` identity with weights `w1`.
fn two_layers(w0: f64, w1: f64) -> NeuralNetwork<f64> {
    let first = Dense::from_parameters(
        array![[w0], [1.0]],
        array![[0.0], [0.0]],
        Box::new(Identity),
    );
    let second = Dense::from_parameters(
        array![[w1, 0.0], [0.0, 1.0]],
        array![[0.0], [0.0]],
        Box::new(Identity),
    );
    NeuralNetwork::new(vec![first.unwrap(), second.unwrap()], CrossEntropy, 0.1).unwrap()
}

#[test]
fn inference_names_the_layer_whose_output_overflows() {
    // The case: finite weights of 1e308 and an input of 10.
    for (net, layer, what) in [
        (two_layers(1e308, 1.0), 0, "first layer"),
        (two_layers(1e300, 1e300), 1, "second layer"),
    ] {
        let x = array![[10.0]];
        let expect = |r: Result<_, Error>| match r {
            Err(Error::NonFiniteOutput {
                layer: l,
                row: 0,
                column: 0,
                value,
            }) => {
                assert_eq!(l, layer, "{what}");
                assert_eq!(value, f64::INFINITY, "{what}");
            }
            other => panic!("{what}: expected NonFiniteOutput, got {other:?}"),
        };
        expect(net.forward_pass(x.view()).map(drop));
        expect(net.predict(x.view()).map(drop));
        expect(net.predict_probabilities(x.view()).map(drop));
        expect(net.backprop(x.view(), Target::Classes(&[0])).map(drop));
        let data = Samples::new(x.view(), Target::Classes(&[0])).unwrap();
        expect(net.evaluate(data, 1).map(drop));
        // A batch, the non-finite sample in its third column.
        let xs = array![[0.0, 0.0, 10.0, 0.0]];
        match net.forward_pass(xs.view()) {
            Err(Error::NonFiniteOutput {
                layer: l,
                column: 2,
                ..
            }) => assert_eq!(l, layer),
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn turning_the_check_off_returns_the_raw_values() {
    let mut net = two_layers(1e308, 1.0);
    net.set_check_finite(false);
    let out = net.forward_pass(array![[10.0]].view()).unwrap();
    assert_eq!(out[(0, 0)], f64::INFINITY);
    assert!(!net.check_finite());
    // evaluate too: the loss of infinite logits is NaN, reported as an error either way,
    // but the outputs are not scanned first.
    let x = array![[10.0]];
    let data = Samples::new(x.view(), Target::Classes(&[0])).unwrap();
    assert!(matches!(
        net.evaluate(data, 1),
        Err(Error::NonFiniteLoss { .. })
    ));
}

#[test]
fn a_loss_that_overflows_on_finite_values_is_an_error() {
    // MSE of an output of 1e200 against 0 is 1e400: infinite in f64.
    let net = scalar_net(1e100, 0.0, 0.1);
    let zero = array![[0.0]];
    let x = array![[1e100]];
    let out = net.forward_pass(x.view()).unwrap();
    assert_eq!(out[(0, 0)], 1e200);
    assert!(matches!(
        net.loss(out.view(), Target::Values(zero.view())),
        Err(Error::NonFiniteLoss { value }) if value == f64::INFINITY
    ));
    let data = Samples::new(x.view(), Target::Values(zero.view())).unwrap();
    assert!(matches!(
        net.evaluate(data, 1),
        Err(Error::NonFiniteLoss { .. })
    ));
    assert!(matches!(
        net.backprop(x.view(), Target::Values(zero.view())),
        Err(Error::NonFiniteLoss { .. })
    ));
    // Non-finite values handed to `loss` are the caller's input.
    let bad = array![[f64::NAN]];
    assert!(matches!(
        net.loss(bad.view(), Target::Values(zero.view())),
        Err(Error::NonFiniteInput { .. })
    ));
}

#[test]
fn backprop_names_a_gradient_that_overflows() {
    // The output and the loss are finite, the weight gradient dW = dL/dy·x is not.
    let net = scalar_net(1e-300, 0.0, 0.1);
    let x = array![[1e300]];
    let zero = array![[-1e150]];
    // y = 1, dL/dy = 2(1 + 1e150) ≈ 2e150, dW = 2e150·1e300 = inf.
    match net.backprop(x.view(), Target::Values(zero.view())) {
        Err(Error::Diverged { what, value, .. }) => {
            assert_eq!(what, "the weight gradient of layer 0");
            assert_eq!(value, f64::INFINITY);
        }
        other => panic!("{other:?}"),
    }
}

/// A finite loss (half the mean squared output) whose gradient is NaN for the samples
/// whose target's first entry is 1 (a marker: each thread's share sees its own columns).
#[derive(Clone, Debug)]
struct NanGradientAt;

impl Loss<f64> for NanGradientAt {
    fn name(&self) -> String {
        "nan gradient".into()
    }
    fn clone_box(&self) -> Box<dyn Loss<f64>> {
        Box::new(self.clone())
    }
    fn evaluate(&self, values: ndarray::ArrayView2<'_, f64>, _: Target<'_, f64>) -> f64 {
        values.mapv(|v| v * v).sum() / (2.0 * values.ncols() as f64)
    }
    fn gradient_into(
        &self,
        values: ndarray::ArrayView2<'_, f64>,
        target: Target<'_, f64>,
        mut grad: ndarray::ArrayViewMut2<'_, f64>,
    ) {
        grad.assign(&values.mapv(|v| v / values.ncols() as f64));
        let Target::Values(t) = target else {
            unreachable!("the test passes values")
        };
        for (j, mut column) in grad.columns_mut().into_iter().enumerate() {
            if t[(0, j)] == 1.0 {
                column.fill(f64::NAN);
            }
        }
    }
}

#[test]
fn a_non_finite_gradient_in_one_share_of_a_batch_is_named_as_on_one_thread() {
    // At a batch of 80 on two threads, 100 → 200 → 10 (22 210 parameters) is cut into two
    // shares, whose gradients are summed in a pass that also checks them; sample 70 is in
    // the second share. 400 → 200 → 10 (82 210 parameters) cuts each layer's rows over
    // the threads instead, each block of gradients checked as it is computed.
    let wave = |rows: usize, cols: usize, k: f64| {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            ((i * 7 + j * 3) as f64 * k).sin() / 10.0
        })
    };
    for ins in [100, 400] {
        let x = wave(ins, 80, 0.37);
        let mut t = Array2::zeros((10, 80));
        t[(0, 70)] = 1.0;
        let mut stepped = Vec::new();
        for threads in [1, 2] {
            let layers = vec![
                Dense::from_parameters(wave(200, ins, 0.11), wave(200, 1, 0.5), Box::new(Sigmoid))
                    .unwrap(),
                Dense::from_parameters(wave(10, 200, 0.13), wave(10, 1, 0.7), Box::new(Identity))
                    .unwrap(),
            ];
            let loss = Box::new(NanGradientAt);
            let mut net = NeuralNetwork::with_boxed_loss(layers, loss, 0.1).unwrap();
            net.set_threads(threads).unwrap();
            let before = parameters(&net);
            match net.train(x.view(), Target::Values(t.view())) {
                Err(Error::Diverged { what, value, step }) => {
                    assert_eq!(
                        what, "the weight gradient of layer 1",
                        "{ins}, {threads} threads"
                    );
                    assert!(value.is_nan());
                    assert_eq!(step, 0);
                }
                other => panic!("{ins}, {threads} threads: {other:?}"),
            }
            assert_eq!(
                parameters(&net),
                before,
                "{ins}, {threads} threads: nothing changed"
            );
            // Without the NaN, the same step is taken.
            let finite = Box::new(Mse);
            let mut net =
                NeuralNetwork::with_boxed_loss(net.layers().to_vec(), finite, 0.1).unwrap();
            net.set_threads(threads).unwrap();
            assert!(net.train(x.view(), Target::Values(t.view())).is_ok());
            assert_ne!(parameters(&net), before);
            stepped.push(parameters(&net));
        }
        // Cut by rows, each entry is computed as on one thread: the same bits.
        if ins == 400 {
            assert_eq!(stepped[0], stepped[1]);
        }
    }
}

#[test]
fn cross_entropy_refuses_targets_that_are_not_distributions() {
    let logits = array![[1.0, 0.0], [0.0, 2.0]];
    let cases = [
        // The case: every entry -5 gave a loss of -6.99.
        (array![[-5.0, -5.0], [-5.0, -5.0]], 0, "row 0 is -5"),
        (array![[0.5, 1.0], [0.5, 0.5]], 1, "sums to 1.5"),
        (array![[0.25, 0.0], [0.25, 1.0]], 0, "sums to 0.5"),
        (array![[1.0, 1.5], [0.0, -0.5]], 1, "row 1 is -0.5"),
    ];
    for (t, column, reason) in cases {
        for result in [
            CrossEntropy.loss(logits.view(), Target::Values(t.view())),
            CrossEntropy
                .dloss(logits.view(), Target::Values(t.view()))
                .map(|_| 0.0),
        ] {
            match result {
                Err(Error::InvalidTarget {
                    column: c,
                    reason: r,
                }) => {
                    assert_eq!(c, column, "{t}");
                    assert!(r.contains(reason), "{r} should say {reason}");
                }
                other => panic!("{t}: {other:?}"),
            }
        }
    }
    // MSE takes any finite values.
    let t = array![[-5.0, -5.0], [-5.0, -5.0]];
    assert!(Mse.loss(logits.view(), Target::Values(t.view())).is_ok());
    // Distributions with rounding (a softmax in f32) pass.
    let p = array![[0.1f32, 1.0 / 3.0], [0.2, 1.0 / 3.0], [0.7, 1.0 / 3.0]];
    let v = Array2::<f32>::zeros((3, 2));
    assert!(CrossEntropy
        .loss(v.view(), Target::Values(p.view()))
        .is_ok());
    // The tolerance is √ε: 1 + 2⁻²⁶ sums to exactly 1 + √ε in f64, and passes; twice that
    // does not.
    let tolerance = f64::EPSILON.sqrt();
    for (excess, ok) in [(tolerance, true), (2.0 * tolerance, false)] {
        let p = array![[1.0 + excess], [0.0]];
        let v = Array2::<f64>::zeros((2, 1));
        let result = CrossEntropy.loss(v.view(), Target::Values(p.view()));
        assert_eq!(result.is_ok(), ok, "excess {excess}: {result:?}");
    }
    // Off by 1e-3 in f32 is not rounding.
    let p = array![[0.1f32], [0.2], [0.701]];
    let v = Array2::<f32>::zeros((3, 1));
    assert!(matches!(
        CrossEntropy.loss(v.view(), Target::Values(p.view())),
        Err(Error::InvalidTarget { column: 0, .. })
    ));
}

#[test]
fn training_refuses_impossible_cross_entropy_targets_before_any_step() {
    let mut rng = StdRng::seed_from_u64(3);
    let layer = Dense::new(2, 2, Sigmoid, nn_core::Init::XavierNormal, &mut rng).unwrap();
    let mut net = NeuralNetwork::new(vec![layer], CrossEntropy, 0.1).unwrap();
    let before = parameters(&net);
    let x = array![[0.5, 1.0, -1.0], [0.0, 2.0, 1.0]];
    let t = array![[1.0, 0.0, 0.3], [0.0, 1.0, 0.3]];
    // One sample (the per-sample path): the third column alone, so its column 0.
    let one = net.train(
        x.slice(ndarray::s![.., 2..]),
        Target::Values(t.slice(ndarray::s![.., 2..])),
    );
    assert!(matches!(one, Err(Error::InvalidTarget { column: 0, .. })));
    let batch = net.train(x.view(), Target::Values(t.view()));
    assert!(matches!(batch, Err(Error::InvalidTarget { column: 2, .. })));
    let data = Samples::new(x.view(), Target::Values(t.view())).unwrap();
    let mut rng = StdRng::seed_from_u64(0);
    let result = net.fit_with(data, None, &FitOptions::default(), &mut rng, |_| {
        ControlFlow::Continue(())
    });
    assert!(matches!(
        result,
        Err(Error::InvalidTarget { column: 2, .. })
    ));
    assert_eq!(parameters(&net), before);
    assert_eq!(net.steps(), 0);
}

#[test]
fn adam_second_moment_that_overflows_is_an_error_not_a_frozen_step() {
    // f32: y = 1e-21·1e21 = 1 against 0 gives a loss of 1 and dW = 2·1e21, finite; but
    // Adam's v = (1-β₂)·dW·dW = 1e-3·2e21·2e21 = 4e39 overflows. Applied, the update would
    // be m̂/√inf = 0: a step that silently moves nothing, with v infinite for good.
    let layer =
        Dense::from_parameters(array![[1e-21f32]], array![[0.0f32]], Box::new(Identity)).unwrap();
    let mut net = NeuralNetwork::new(vec![layer], Mse, 0.1f32).unwrap();
    net.set_optimizer(nn_train::Adam::new(1e-3f32).unwrap());
    let t = array![[0.0f32]];
    let x = array![[1e21f32]];
    let err = net.train(x.view(), Target::Values(t.view())).unwrap_err();
    match err {
        Error::Diverged {
            step: 0,
            what,
            value,
        } => {
            assert_eq!(
                what, "the optimizer state of a weight of layer 0",
                "{value}"
            );
            assert_eq!(value, f64::INFINITY);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(net.layers()[0].weights()[(0, 0)], 1e-21);
    assert_eq!(net.steps(), 0);
    // The state was restored too: a sane step afterwards is Adam's first step, which
    // moves every parameter by the learning rate (m̂/√v̂ = ±1).
    let (x, t) = (array![[1.0f32]], array![[-1.0f32]]);
    net.train(x.view(), Target::Values(t.view())).unwrap();
    assert_relative_eq!(
        net.layers()[0].weights()[(0, 0)],
        1e-21 - 1e-3,
        max_relative = 1e-4
    );
    assert_relative_eq!(net.layers()[0].bias()[(0, 0)], -1e-3, max_relative = 1e-4);
}

#[test]
fn an_overflowing_update_is_refused_on_every_path_and_leaves_everything_as_it_was() {
    // W_0 = 1.5e308 at rate 1e308 with dW_0 near -1 (class 0 is not the arg-max): W - lr·dW
    // overflows, clipped to a norm of 1 (dW_0 = -1/√2) or not. Through the fused one-sample path (plain SGD), the general path
    // (momentum; a batch) and with clipping.
    for (batch, momentum, clip) in [
        (1, false, false),
        (2, false, false),
        (1, true, false),
        (3, true, true),
    ] {
        let layer = Dense::from_parameters(
            array![[1.5e308f64], [1.6e308]],
            array![[0.0], [0.0]],
            Box::new(Identity),
        )
        .unwrap();
        let mut net = NeuralNetwork::new(vec![layer], CrossEntropy, 1e308).unwrap();
        if momentum {
            net.set_optimizer(
                nn_train::Sgd::new(1e308)
                    .unwrap()
                    .with_momentum(0.5)
                    .unwrap(),
            );
        }
        if clip {
            net.set_max_gradient_norm(Some(1.0)).unwrap();
        }
        let before = parameters(&net);
        let x = Array2::from_elem((1, batch), 1.0);
        let result = net.train(x.view(), Target::Classes(&vec![0; batch]));
        match result {
            Err(Error::Diverged { step: 0, what, .. }) => {
                assert_eq!(what, "a weight of layer 0 after the update", "{batch}")
            }
            other => panic!("batch {batch}, momentum {momentum}: {other:?}"),
        }
        assert_eq!(parameters(&net), before);
        assert_eq!(net.steps(), 0);
    }
}

#[test]
fn a_custom_optimizer_without_bounds_is_checked_every_step() {
    let mut net = scalar_net(1e300, 1.0, 0.1);
    net.set_optimizer(Doubling);
    // y = 1e300·1e-300 + b: small, so the loss and gradients stay finite while W doubles.
    let x = array![[1e-300]];
    let t = array![[0.0]];
    let mut steps = 0;
    let err = loop {
        match net.train(x.view(), Target::Values(t.view())) {
            Ok(_) => steps += 1,
            Err(e) => break e,
        }
        assert!(steps < 100, "W = {}", net.layers()[0].weights()[(0, 0)]);
    };
    // 1e300·2^k overflows f64 (1.8e308) at k = 28.
    assert_eq!(steps, 27);
    assert!(matches!(err, Error::Diverged { step: 27, .. }), "{err}");
    assert!(net.layers()[0].weights()[(0, 0)].is_finite());
}

#[test]
fn sizes_too_large_for_memory_are_errors_not_aborts_or_panics() {
    let mut rng = StdRng::seed_from_u64(0);
    // The cases: (1 << 40, 1 << 40) and (usize::MAX, 2) overflowed inside ndarray
    // (a panic); (1 << 40, 1) asked the allocator for 4 TiB (an abort). Sizes whose bytes
    // exceed the address space fail on any machine, whatever its overcommit policy.
    for (ins, outs) in [
        (1usize << 40, 1usize << 40),
        (usize::MAX, 2),
        (2, usize::MAX),
        (1 << 40, 1 << 10),
        (1 << 62, 1),
    ] {
        match Dense::<f32>::new(ins, outs, Identity, nn_core::Init::HeNormal, &mut rng) {
            Err(Error::TooLarge { rows, columns, .. }) => assert_eq!((rows, columns), (outs, ins)),
            other => panic!("{ins} x {outs}: {other:?}"),
        }
    }
    match nn_core::tensor::one_hot::<f64>(&[0, 1], usize::MAX) {
        Err(Error::TooLarge {
            rows, columns: 2, ..
        }) => assert_eq!(rows, usize::MAX),
        other => panic!("{other:?}"),
    }
    // A wide layer on a long batch: the (outs, batch) buffers do not fit, though the layer
    // (16 MiB) and the input (128 MiB) do.
    // (Zero parameters: drawing 4M random weights is slow in debug builds.)
    let wide = Dense::<f32>::from_parameters(
        Array2::zeros((1 << 22, 1)),
        Array2::zeros((1 << 22, 1)),
        Box::new(Identity),
    );
    let mut net = NeuralNetwork::new(vec![wide.unwrap()], Mse, 0.1f32).unwrap();
    // (No scan of the 32M inputs for NaN, slow in debug builds; it changes no allocation.)
    net.set_check_finite(false);
    let x = Array2::<f32>::zeros((1, 1 << 25));
    for result in [
        net.forward_pass(x.view()).map(drop),
        net.predict(x.view()).map(drop),
        net.layers()[0].forward(x.view()).map(drop),
        net.train(x.view(), Target::Classes(&vec![0; 1 << 25]))
            .map(drop),
    ] {
        match result {
            // Training asks for one share of the batch per thread.
            Err(Error::TooLarge { rows, columns, .. }) => {
                assert_eq!(rows, 1 << 22);
                assert!(columns == 1 << 25 || columns == (1 << 25) / net.threads());
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(net.steps(), 0);
}

#[test]
fn the_update_check_covers_every_weight_and_bias_of_every_layer() {
    // tanh layers saturate, so one parameter of 1e308 anywhere leaves the loss and the
    // gradients finite; doubling it overflows, and the check must name it.
    let mut rng = StdRng::seed_from_u64(4);
    for layer in 0..3 {
        for (kind, what) in [("weight", 0), ("bias", 1)] {
            let layers = [(2, 3), (3, 3), (3, 2)]
                .iter()
                .map(|&(ins, outs)| {
                    Dense::new(
                        ins,
                        outs,
                        nn_layers::Tanh,
                        nn_core::Init::XavierNormal,
                        &mut rng,
                    )
                    .unwrap()
                })
                .collect();
            let mut net = NeuralNetwork::new(layers, Mse, 0.1).unwrap();
            net.set_optimizer(Doubling);
            {
                let (mut w, mut b) = net.parameters_mut(layer).unwrap();
                if what == 0 {
                    w[(1, 0)] = 1e308;
                } else {
                    b[(1, 0)] = 1e308;
                }
            }
            let before = parameters(&net);
            let (x, t) = (array![[0.5], [-0.5]], array![[0.0], [0.0]]);
            match net.train(x.view(), Target::Values(t.view())) {
                Err(Error::Diverged { what, value, .. }) => {
                    assert_eq!(what, format!("a {kind} of layer {layer} after the update"));
                    assert_eq!(value, f64::INFINITY);
                }
                other => panic!("{kind} of layer {layer}: {other:?}"),
            }
            assert_eq!(parameters(&net), before);
        }
    }
}

/// An optimizer that doubles every parameter and offers no magnitude bound, so that
/// training copies and checks each of its steps: it overflows after enough steps, with
/// finite gradients.
#[derive(Clone, Debug)]
struct Doubling;

impl nn_train::Optimizer<f64> for Doubling {
    fn name(&self) -> String {
        "doubling".into()
    }
    fn clone_box(&self) -> Box<dyn nn_train::Optimizer<f64>> {
        Box::new(self.clone())
    }
    fn learning_rate(&self) -> f64 {
        1.0
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
        _: ndarray::ArrayView2<'_, f64>,
        _: &mut [Array2<f64>],
        _: u64,
        _: f64,
    ) {
        parameter.mapv_inplace(|p| p * 2.0);
    }
}

/// A loss whose gradient is the constant `-slope` for every output of every sample: each
/// plain SGD step moves a `1 → 1` identity layer's bias by `+rate·slope` and its weight by
/// `+rate·slope·x`, whatever the parameters, so a test can walk a parameter towards the
/// float maximum in steps of known size. (A test double: its value is `-Σv/B` scaled by
/// 1e-10, so that it stays finite where `-slope·Σv/B` would not; training only checks
/// that it is finite.)
#[derive(Clone, Debug)]
struct Linear {
    slope: f64,
}

impl Loss<f64> for Linear {
    fn name(&self) -> String {
        "linear".into()
    }
    fn clone_box(&self) -> Box<dyn Loss<f64>> {
        Box::new(self.clone())
    }
    fn evaluate(&self, values: ndarray::ArrayView2<'_, f64>, _: Target<'_, f64>) -> f64 {
        -1e-10 * values.sum() / values.ncols() as f64
    }
    fn gradient_into(
        &self,
        values: ndarray::ArrayView2<'_, f64>,
        _: Target<'_, f64>,
        mut grad: ndarray::ArrayViewMut2<'_, f64>,
    ) {
        grad.fill(-self.slope / values.ncols() as f64);
    }
}

/// A `1 → 1` identity layer with weight `w` and bias `b`, the linear loss, plain SGD.
fn walker(w: f64, b: f64, rate: f64, slope: f64) -> NeuralNetwork<f64> {
    let layer = Dense::from_parameters(array![[w]], array![[b]], Box::new(Identity)).unwrap();
    NeuralNetwork::with_boxed_loss(vec![layer], Box::new(Linear { slope }), rate).unwrap()
}

/// One step on input `x`; an `Ok` must leave every parameter finite, an error must be
/// `Diverged` naming `expected` and leave the parameters as they were.
fn step_or_refuse(net: &mut NeuralNetwork<f64>, x: f64, expected: &str) -> bool {
    let before = parameters(net);
    let t = array![[0.0]];
    match net.train(array![[x]].view(), Target::Values(t.view())) {
        Ok(_) => {
            let after = parameters(net);
            assert!(
                after
                    .iter()
                    .all(|(w, b)| w[(0, 0)].is_finite() && b[(0, 0)].is_finite()),
                "an Ok step left {after:?}"
            );
            true
        }
        Err(Error::Diverged { what, .. }) => {
            assert_eq!(what, expected);
            assert_eq!(parameters(net), before);
            false
        }
        Err(other) => panic!("{other:?}"),
    }
}

#[test]
fn the_fused_step_bounds_every_update_it_applies() {
    let (bias, weight) = (
        "a bias of layer 0 after the update",
        "a weight of layer 0 after the update",
    );
    // A parameter that grows by 0.1e308 a step: every step until the one that would pass
    // the float maximum is taken, that one is refused. The running bound must grow with
    // the parameter, or a stale bound would let the overflow through.
    let mut net = walker(0.0, 0.0, 0.05e308, 2.0);
    let taken = (0..40)
        .take_while(|_| step_or_refuse(&mut net, 1e-300, bias))
        .count();
    assert_eq!(taken, 17, "b = 1.7e308 is the last finite value");
    // Each increment must count in full, or a step it lets through unchecked overflows:
    // from 0.1e308, the bias's rate·slope = 4·0.4375e308 (not rate + slope nor
    // rate / slope, both under half the maximum), and from 0 the weight's
    // rate·slope·x = 2·4·0.23e308 (not rate·slope + x).
    let mut net = walker(0.0, 0.1e308, 0.4375e308, 4.0);
    assert!(!step_or_refuse(&mut net, 1e-300, bias));
    let mut net = walker(0.0, 0.0, 0.23e308, 2.0);
    assert!(!step_or_refuse(&mut net, 4.0, weight));
    // A network built with a parameter past half the maximum is measured before its first
    // step: a bound of 0 would let 1.5e308 + 0.4e308 through.
    let mut net = walker(0.0, 1.5e308, 0.2e308, 2.0);
    assert!(!step_or_refuse(&mut net, 1e-300, bias));
    // After parameters_mut, the bound is measured again.
    let mut net = walker(0.0, 0.0, 0.2e308, 2.0);
    assert!(step_or_refuse(&mut net, 1e-300, bias));
    net.parameters_mut(0).unwrap().1[(0, 0)] = 1.5e308;
    assert!(!step_or_refuse(&mut net, 1e-300, bias));
    // The same through the general path (momentum: SGD's own bounds).
    let mut net = walker(0.0, 0.0, 0.2e308, 2.0);
    net.set_optimizer(
        nn_train::Sgd::new(0.05e308)
            .unwrap()
            .with_momentum(0.0)
            .unwrap()
            .with_weight_decay(0.0)
            .unwrap(),
    );
    assert!(step_or_refuse(&mut net, 1e-300, bias));
    net.parameters_mut(0).unwrap().1[(0, 0)] = 1.7e308;
    assert!(!step_or_refuse(&mut net, 1e-300, bias));
}

#[test]
fn the_fused_step_bounds_each_layer_by_its_own_input() {
    // Layer 1's update is rate·delta_1·x_1 with x_1 = layer 0's output = 1e300, while
    // layer 1's own output is 1e300·1e-300 = 1: a bound taken from a layer's output
    // instead of its input would let rate·1·1e300 = inf through as finite.
    let layers = [(1.0, 0.0), (1e-300, 0.0)]
        .iter()
        .map(|&(w, b)| {
            Dense::from_parameters(array![[w]], array![[b]], Box::new(Identity)).unwrap()
        })
        .collect();
    let mut net =
        NeuralNetwork::with_boxed_loss(layers, Box::new(Linear { slope: 1.0 }), 1e9).unwrap();
    assert!(!step_or_refuse(
        &mut net,
        1e300,
        "a weight of layer 1 after the update"
    ));
    // The same network on an input of 1 steps, and moves W₁ by rate·slope·1 = 1e9.
    assert!(step_or_refuse(&mut net, 1.0, ""));
    assert_relative_eq!(net.layers()[1].weights()[(0, 0)], 1e9, max_relative = 1e-12);
}

#[test]
fn with_the_check_off_a_non_finite_input_is_still_a_diverged_loss() {
    // No scan of the input (that is what turning the check off saves), on the fused path
    // as on the general one: the loss, checked either way, reports it.
    for batch in [1, 3] {
        let mut net = scalar_net(0.5, 0.0, 0.1);
        net.set_check_finite(false);
        let mut x = Array2::zeros((1, batch));
        x[(0, 0)] = f64::NAN;
        let t = Array2::zeros((1, batch));
        match net.train(x.view(), Target::Values(t.view())) {
            Err(Error::Diverged { what, .. }) => assert_eq!(what, "the loss", "{batch}"),
            other => panic!("batch {batch}: {other:?}"),
        }
        assert_eq!(parameters(&net), vec![(array![[0.5]], array![[0.0]])]);
    }
}
