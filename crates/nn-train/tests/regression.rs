//! A regression dataset (values as targets) goes through split, `fit` and `evaluate` with
//! a standardisation step fitted on the training split, and saved with the network.

use std::ops::ControlFlow;

use ndarray::Array2;
use nn_core::{Init, Preprocessing, Target};
use nn_data::Dataset;
use nn_layers::{Dense, Identity, Tanh};
use nn_loss::Mse;
use nn_train::{Adam, FitOptions, NeuralNetwork};
use rand::{rngs::StdRng, Rng, SeedableRng};

/// `n` samples of `y = (2 x₀ − 3 x₁ / 100 + 1, sin x₀)` with x₀ in [-2, 2] and x₁ in
/// [0, 400]: two values per sample, features on different scales.
fn data(n: usize, seed: u64) -> Dataset<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let inputs: Array2<f64> = Array2::from_shape_fn((2, n), |(i, _)| {
        if i == 0 {
            rng.random_range(-2.0..2.0)
        } else {
            rng.random_range(0.0..400.0)
        }
    });
    let values = Array2::from_shape_fn((2, n), |(i, j)| {
        let (x0, x1) = (inputs[(0, j)], inputs[(1, j)]);
        if i == 0 {
            2.0 * x0 - 3.0 * x1 / 100.0 + 1.0
        } else {
            x0.sin()
        }
    });
    Dataset::regression(inputs, values).unwrap()
}

#[test]
fn a_regression_dataset_fits_and_evaluates_with_mae_and_r_squared() {
    let (train, test) = data(1200, 1)
        .split(200, &mut StdRng::seed_from_u64(2))
        .unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let layers = vec![
        Dense::new(2, 16, Tanh, Init::XavierNormal, &mut rng).unwrap(),
        Dense::new(16, 2, Identity, Init::XavierNormal, &mut rng).unwrap(),
    ];
    let mut net = NeuralNetwork::new(layers, Mse, 0.01).unwrap();
    net.set_optimizer(Adam::new(0.01).unwrap());
    // Fitted on the training split only.
    let step = Preprocessing::standardize(train.inputs().view()).unwrap();
    net.set_preprocessing(Some(step)).unwrap();

    let before = net.evaluate(test.samples().unwrap(), 64).unwrap();
    let options = FitOptions {
        epochs: 40,
        batch_size: 32,
        ..FitOptions::default()
    };
    let history = net
        .fit_with(
            train.samples().unwrap(),
            Some(test.samples().unwrap()),
            &options,
            &mut rng,
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
    let after = net.evaluate(test.samples().unwrap(), 64).unwrap();
    assert_eq!(after.accuracy, None);
    assert_eq!(after.samples, 200);
    let (mae, r2) = (after.mean_absolute_error.unwrap(), after.r_squared.unwrap());
    assert!(r2 > 0.99, "R² {r2}");
    assert!(mae < 0.1, "MAE {mae}");
    assert!(before.r_squared.unwrap() < 0.5, "before: {before:?}");
    // fit's validation pass sums in batches of its own size: equal up to rounding.
    let validation_loss = history.epochs.last().unwrap().validation_loss.unwrap();
    approx::assert_relative_eq!(validation_loss, after.loss, max_relative = 1e-12);

    // The same figures, by hand, from the outputs on raw inputs.
    let output = net.forward_pass(test.inputs().view()).unwrap();
    let values = test.values().unwrap();
    let mean_abs = (&output - values).mapv(f64::abs).mean().unwrap();
    approx::assert_relative_eq!(mae, mean_abs, max_relative = 1e-12);
    let loss = net
        .loss(output.view(), Target::Values(values.view()))
        .unwrap();
    approx::assert_relative_eq!(after.loss, loss, max_relative = 1e-12);
    let squared = (&output - values).mapv(|e| e * e).mean().unwrap();
    let mse = after.mean_squared_error.unwrap();
    approx::assert_relative_eq!(mse, squared, max_relative = 1e-12);
    // The MSE loss is that mean too.
    approx::assert_relative_eq!(mse, after.loss, max_relative = 1e-12);

    // Saved and loaded, the network predicts the same from raw inputs.
    let loaded =
        NeuralNetwork::<f64>::from_safetensors_bytes(&net.to_safetensors_bytes().unwrap(), "m")
            .unwrap();
    assert_eq!(loaded.forward_pass(test.inputs().view()).unwrap(), output);
}
