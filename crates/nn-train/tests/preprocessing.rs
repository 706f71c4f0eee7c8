//! A network with a preprocessing step computes exactly what the same network computes
//! on inputs preprocessed beforehand — in `forward_pass`, `backprop`, `train` (the fused
//! one-sample path and the batched one), `fit` and `evaluate` — and checks what the step
//! produces.

use std::ops::ControlFlow;

use ndarray::{array, Array2};
use nn_core::{Error, Init, Preprocessing, Target};
use nn_layers::{Dense, Identity, Tanh};
use nn_loss::{CrossEntropy, Mse};
use nn_train::{Adam, FitOptions, NeuralNetwork, Samples};
use rand::{rngs::StdRng, Rng, SeedableRng};

/// A 3 → 5 → 2 network, the same for the same seed.
fn network(seed: u64) -> NeuralNetwork<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let layers = vec![
        Dense::new(3, 5, Tanh, Init::XavierNormal, &mut rng).unwrap(),
        Dense::new(5, 2, Identity, Init::XavierNormal, &mut rng).unwrap(),
    ];
    NeuralNetwork::new(layers, CrossEntropy, 0.05).unwrap()
}

/// Raw inputs with features on very different scales: 3 × n.
fn raw(n: usize, seed: u64) -> Array2<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    Array2::from_shape_fn((3, n), |(i, _)| {
        let v: f64 = rng.random_range(-1.0..1.0);
        [1000.0 + 50.0 * v, 0.001 * v, 7.0 * v - 3.0][i]
    })
}

fn labels(x: &Array2<f64>) -> Vec<usize> {
    x.columns()
        .into_iter()
        .map(|c| usize::from(c[0] > 1000.0))
        .collect()
}

fn parameters(net: &NeuralNetwork<f64>) -> Vec<Array2<f64>> {
    net.layers()
        .iter()
        .flat_map(|l| [l.weights().to_owned(), l.bias().to_owned()])
        .collect()
}

#[test]
fn every_entry_point_sees_the_preprocessed_inputs() {
    let x = raw(40, 1);
    let y = labels(&x);
    let step = Preprocessing::standardize(x.view()).unwrap();
    let z = step.apply(x.view()).unwrap();

    let mut with = network(2);
    with.set_preprocessing(Some(step.clone())).unwrap();
    let mut without = network(2);
    // Not the identity: a test that ignored the step would fail.
    assert_ne!(
        with.forward_pass(x.view()).unwrap(),
        without.forward_pass(x.view()).unwrap()
    );
    assert_eq!(
        with.forward_pass(x.view()).unwrap(),
        without.forward_pass(z.view()).unwrap()
    );
    assert_eq!(
        with.predict(x.view()).unwrap(),
        without.predict(z.view()).unwrap()
    );
    let g = with.backprop(x.view(), Target::Classes(&y)).unwrap();
    let h = without.backprop(z.view(), Target::Classes(&y)).unwrap();
    assert_eq!((g.loss, &g.dws, &g.dbs), (h.loss, &h.dws, &h.dbs));
    // Except the gradient with respect to the first layer's input, which is z's.
    assert_eq!(g.dxs[1..], h.dxs[1..]);

    // One-sample steps (the fused path), then batches of 8 (the general path).
    for j in 0..10 {
        let (xj, zj) = (
            x.slice(ndarray::s![.., j..j + 1]),
            z.slice(ndarray::s![.., j..j + 1]),
        );
        let a = with.train(xj, Target::Classes(&y[j..j + 1])).unwrap();
        let b = without.train(zj, Target::Classes(&y[j..j + 1])).unwrap();
        assert_eq!(a, b, "sample {j}");
    }
    for start in (0..40).step_by(8) {
        let cols = ndarray::s![.., start..start + 8];
        let a = with
            .train(x.slice(cols), Target::Classes(&y[start..start + 8]))
            .unwrap();
        let b = without
            .train(z.slice(cols), Target::Classes(&y[start..start + 8]))
            .unwrap();
        assert_eq!(a, b, "batch at {start}");
    }
    assert_eq!(parameters(&with), parameters(&without));

    // fit with Adam and a validation set, and evaluate.
    let (mut rng_a, mut rng_b) = (StdRng::seed_from_u64(3), StdRng::seed_from_u64(3));
    with.set_optimizer(Adam::new(0.01).unwrap());
    without.set_optimizer(Adam::new(0.01).unwrap());
    // Batches of 8 again, but gathered column-major: the trainer's buffer must follow
    // the layout as well as the shape, or the products round differently.
    let options = FitOptions {
        epochs: 3,
        batch_size: 8,
        ..FitOptions::default()
    };
    let train_x = Samples::new(x.view(), Target::Classes(&y)).unwrap();
    let train_z = Samples::new(z.view(), Target::Classes(&y)).unwrap();
    let a = with
        .fit_with(train_x, Some(train_x), &options, &mut rng_a, |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
    let b = without
        .fit_with(train_z, Some(train_z), &options, &mut rng_b, |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
    // Everything but the wall-clock seconds.
    let figures = |h: &nn_train::History| -> Vec<_> {
        (h.epochs.iter())
            .map(|e| {
                (
                    e.train_loss,
                    e.train_accuracy,
                    e.validation_loss,
                    e.validation_accuracy,
                )
            })
            .collect()
    };
    assert_eq!(figures(&a), figures(&b));
    assert_eq!(parameters(&with), parameters(&without));
    assert_eq!(
        with.evaluate(train_x, 16).unwrap(),
        without.evaluate(train_z, 16).unwrap()
    );
}

#[test]
fn standardizing_lets_a_badly_scaled_problem_train() {
    // The class depends on the feature around 1000; unscaled, tanh saturates.
    let x = raw(400, 4);
    let y = labels(&x);
    let data = Samples::new(x.view(), Target::Classes(&y)).unwrap();
    let options = FitOptions {
        epochs: 20,
        batch_size: 16,
        ..FitOptions::default()
    };
    let accuracy = |preprocess: bool| {
        let mut net = network(5);
        if preprocess {
            let step = Preprocessing::standardize(x.view()).unwrap();
            net.set_preprocessing(Some(step)).unwrap();
        }
        let mut rng = StdRng::seed_from_u64(6);
        net.fit_with(
            data,
            None,
            &options,
            &mut rng,
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
        net.evaluate(data, 64).unwrap().accuracy.unwrap()
    };
    let (raw_accuracy, standardized) = (accuracy(false), accuracy(true));
    assert!(standardized > 0.95, "standardized: {standardized}");
    assert!(raw_accuracy < 0.8, "raw: {raw_accuracy}");
}

#[test]
fn a_step_that_does_not_fit_or_overflows_is_an_error() {
    let mut net = network(0);
    let two = Preprocessing::scale(2, 0.5).unwrap();
    match net.set_preprocessing(Some(two)) {
        Err(Error::ShapeMismatch {
            what,
            expected,
            actual,
        }) => {
            assert_eq!(what, "preprocessing");
            assert_eq!((expected, actual), ((3, 1), (2, 1)));
        }
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }
    assert!(net.preprocessing().is_none());

    // Finite raw inputs that the step takes past the float's range.
    net.set_preprocessing(Some(Preprocessing::scale(3, 1e300).unwrap()))
        .unwrap();
    let x = array![[1.0], [1e10], [0.0]];
    for result in [
        net.forward_pass(x.view()).map(|_| ()),
        net.train(x.view(), Target::Classes(&[0])).map(|_| ()),
        net.backprop(x.view(), Target::Classes(&[0])).map(|_| ()),
    ] {
        match result {
            Err(Error::NonFiniteInput {
                what, row, column, ..
            }) => {
                assert_eq!((what.as_str(), row, column), ("preprocessed input", 1, 0));
            }
            other => panic!("expected NonFiniteInput, got {other:?}"),
        }
    }
    // With the finiteness check off, nothing scans the step's output (the tanh layer
    // saturates on it): the pass and the step go through, on a copy.
    let mut unchecked = net.clone();
    unchecked.set_check_finite(false);
    assert!(unchecked.forward_pass(x.view()).is_ok());
    assert!(unchecked.train(x.view(), Target::Classes(&[0])).is_ok());

    // A raw input that is itself not finite is named as the input, by each path: one
    // sample (fused), a batch, and fit.
    let bad = array![[1.0, 2.0], [f64::NAN, 0.0], [0.0, 0.0]];
    net.set_preprocessing(Some(Preprocessing::scale(3, 2.0).unwrap()))
        .unwrap();
    let data = Samples::new(bad.view(), Target::Classes(&[0, 1])).unwrap();
    let mut rng = StdRng::seed_from_u64(0);
    for (k, result) in [
        net.train(bad.slice(ndarray::s![.., ..1]), Target::Classes(&[0])),
        net.train(bad.view(), Target::Classes(&[0, 1])),
        net.fit_with(data, None, &FitOptions::default(), &mut rng, |_| {
            ControlFlow::Continue(())
        })
        .map(|_| 0.0),
        net.forward_pass(bad.view()).map(|_| 0.0),
    ]
    .into_iter()
    .enumerate()
    {
        match result {
            Err(Error::NonFiniteInput {
                what, row, column, ..
            }) => {
                assert_eq!((what.as_str(), row, column), ("input", 1, 0), "call {k}");
            }
            other => panic!("expected NonFiniteInput, got {other:?}"),
        }
    }
    // Nothing was trained.
    assert_eq!(net.steps(), 0);
    net.set_preprocessing(None).unwrap();
    assert!(net.forward_pass(x.view()).is_ok());
}

#[test]
fn class_names_name_the_predictions() {
    let mut rng = StdRng::seed_from_u64(0);
    let layer = Dense::new(2, 3, Identity, Init::XavierNormal, &mut rng).unwrap();
    let mut net = NeuralNetwork::<f32>::new(vec![layer], Mse, 0.1).unwrap();
    assert!(matches!(
        net.predict_names(array![[1.0], [2.0]].view()),
        Err(Error::NotApplicable {
            operation: "predict_names",
            ..
        })
    ));
    assert!(matches!(
        net.set_class_names(Some(vec!["a".into(), "b".into()])),
        Err(Error::ShapeMismatch {
            expected: (3, 1),
            actual: (2, 1),
            ..
        })
    ));
    let names = ["setosa", "versicolor", "virginica"]
        .map(String::from)
        .to_vec();
    net.set_class_names(Some(names.clone())).unwrap();
    assert_eq!(net.class_names(), Some(names.as_slice()));
    let x = array![[1.0, -3.0, 0.5], [2.0, 0.25, -1.0]];
    let by_index = net.predict(x.view()).unwrap();
    let by_name = net.predict_names(x.view()).unwrap();
    assert_eq!(
        by_name,
        by_index
            .iter()
            .map(|&c| names[c].as_str())
            .collect::<Vec<_>>()
    );
}
