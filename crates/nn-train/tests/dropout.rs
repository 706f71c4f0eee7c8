//! Dropout through the public API: it acts in training steps only, on the inputs of the
//! layer that has it, reproducibly from a seed; it is kept in model files and refused
//! where it makes no sense. (Its gradients are checked against finite differences under
//! a fixed mask in `src/dropout.rs`, where the masks can be fixed.)

use ndarray::{Array2, Axis};
use nn_core::{Error, Init, Samples, Target};
use nn_layers::{Dense, Identity, Relu, Sigmoid};
use nn_loss::{CrossEntropy, Mse};
use nn_train::{FitOptions, NeuralNetwork, Sgd};
use rand::{rngs::StdRng, Rng, SeedableRng};

fn builder(dropout: f64, seed: u64) -> NeuralNetwork<f64> {
    NeuralNetwork::builder(6)
        .dropout(dropout)
        .dense(16, Relu)
        .dropout(dropout)
        .dense(3, Identity)
        .loss(CrossEntropy)
        .optimizer(Sgd::new(0.1).unwrap())
        .seed(seed)
        .build()
        .unwrap()
}

fn parameters(net: &NeuralNetwork<f64>) -> Vec<Array2<f64>> {
    (net.layers().iter())
        .flat_map(|l| [l.weights().to_owned(), l.bias().to_owned()])
        .collect()
}

/// 240 samples of 6 features and their classes (the sign pattern of two sums).
fn data() -> (Array2<f64>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(3);
    let x = Array2::from_shape_fn((6, 240), |_| rng.random_range(-1.0..1.0));
    let classes = (x.axis_iter(Axis(1)))
        .map(|c| match (c[0] + c[1] > 0.0, c[2] - c[3] > 0.0) {
            (true, true) => 0,
            (true, false) => 1,
            _ => 2,
        })
        .collect();
    (x, classes)
}

#[test]
fn inference_never_drops() {
    let with = builder(0.5, 1);
    let without = builder(0.0, 1);
    assert!(with
        .layers()
        .iter()
        .all(|l| l.dropout().unwrap().rate() == 0.5));
    assert!(without.layers().iter().all(|l| l.dropout().is_none()));
    assert_eq!(parameters(&with), parameters(&without));
    let (x, classes) = data();
    let out = with.forward_pass(x.view()).unwrap();
    assert_eq!(out, without.forward_pass(x.view()).unwrap());
    assert_eq!(out, with.forward_pass(x.view()).unwrap());
    assert_eq!(
        with.predict(x.view()).unwrap(),
        without.predict(x.view()).unwrap()
    );
    let samples = Samples::new(x.view(), Target::Classes(&classes)).unwrap();
    assert_eq!(
        with.evaluate(samples, 50).unwrap(),
        without.evaluate(samples, 50).unwrap()
    );
    // The gradients backprop reports are those of the network as it infers.
    let target = Target::Classes(&classes);
    assert_eq!(
        with.backprop(x.view(), target).unwrap(),
        without.backprop(x.view(), target).unwrap()
    );
}

#[test]
fn a_training_step_drops_inputs_and_scales_the_kept_ones() {
    // One sample of ones through 100 → 1 with dropout 0.5 on the inputs, identity, MSE:
    // the gradient of W is delta·x̃ᵀ, so a dropped input's weight does not move and every
    // kept input's weight moves by the same amount, which is twice (1/(1 - 0.5)) what it
    // is without dropout for the same delta.
    let zeros = (Array2::zeros((1, 100)), Array2::zeros((1, 1)));
    let layer = Dense::<f64>::from_parameters(zeros.0, zeros.1, Box::new(Identity)).unwrap();
    let x = Array2::ones((100, 1));
    let t = Array2::from_elem((1, 1), 1.0);
    let rate = 0.01;
    let mut plain = NeuralNetwork::new(vec![layer.clone()], Mse, rate).unwrap();
    let mut dropped =
        NeuralNetwork::new(vec![layer.with_dropout(0.5).unwrap()], Mse, rate).unwrap();
    plain.train(x.view(), Target::Values(t.view())).unwrap();
    dropped.train(x.view(), Target::Values(t.view())).unwrap();
    // W starts at 0, so the output is 0 either way and delta = dloss = 2(0 - 1) = -2.
    let plain_step = plain.layers()[0].weights()[(0, 0)];
    assert_eq!(plain_step, 0.02);
    let steps = dropped.layers()[0].weights().to_owned();
    let kept = steps.iter().filter(|&&w| w != 0.0).count();
    assert!(
        steps.iter().all(|&w| w == 0.0 || w == 2.0 * plain_step),
        "{steps}"
    );
    assert!((30..=70).contains(&kept), "{kept} of 100 kept");
    // The bias sees no dropout.
    assert_eq!(
        dropped.layers()[0].bias()[(0, 0)],
        plain.layers()[0].bias()[(0, 0)]
    );
    // Each step draws a new mask.
    let before = dropped.layers()[0].weights().to_owned();
    dropped.train(x.view(), Target::Values(t.view())).unwrap();
    let moved = (dropped.layers()[0].weights().to_owned() - &before).mapv(|d| d != 0.0);
    assert_ne!(moved, steps.mapv(|w| w != 0.0));
}

#[test]
fn training_with_dropout_is_reproducible_from_the_seeds() {
    let (x, classes) = data();
    let samples = Samples::new(x.view(), Target::Classes(&classes)).unwrap();
    let options = |seed| FitOptions {
        epochs: 3,
        batch_size: 16,
        seed,
        ..FitOptions::default()
    };
    let fitted = |dropout, seed| {
        let mut net = builder(dropout, 4);
        let history = net.fit(samples, None, &options(seed)).unwrap();
        (parameters(&net), history.epochs.last().unwrap().train_loss)
    };
    let (first, loss) = fitted(0.3, 1);
    assert_eq!(fitted(0.3, 1), (first.clone(), loss));
    // Another fit seed draws other masks (and another order).
    assert_ne!(fitted(0.3, 2).0, first);
    // Without dropout, the same fit is another one.
    assert_ne!(fitted(0.0, 1).0, first);

    // fit restarts the masks' generator from its seed, whatever its state before.
    let mut reseeded = builder(0.3, 4);
    reseeded.seed_dropout(123);
    reseeded.fit(samples, None, &options(1)).unwrap();
    assert_eq!(parameters(&reseeded), first);

    // Single steps repeat after seed_dropout, and differ with another seed.
    let step = |seed| {
        let mut net = builder(0.3, 4);
        net.seed_dropout(seed);
        net.train(x.view(), Target::Classes(&classes)).unwrap();
        parameters(&net)
    };
    assert_eq!(step(9), step(9));
    assert_ne!(step(9), step(10));
}

#[test]
fn dropout_is_saved_and_loaded() {
    let mut rng = StdRng::seed_from_u64(0);
    let net = NeuralNetwork::<f32>::new(
        vec![
            (Dense::new(4, 5, Sigmoid, Init::XavierNormal, &mut rng).unwrap())
                .with_dropout(0.2)
                .unwrap(),
            Dense::new(5, 3, Identity, Init::XavierNormal, &mut rng).unwrap(),
        ],
        CrossEntropy,
        0.1,
    )
    .unwrap();
    let bytes = net.to_safetensors_bytes().unwrap();
    let loaded = NeuralNetwork::<f32>::from_safetensors_bytes(&bytes, "net.safetensors").unwrap();
    assert_eq!(loaded.layers()[0].dropout().map(|d| d.rate()), Some(0.2));
    assert!(loaded.layers()[1].dropout().is_none());
    assert_eq!(loaded.to_safetensors_bytes().unwrap(), bytes);
    // The summary shows it.
    let summary = net.to_string();
    assert!(summary.contains("sigmoid, dropout 0.2 in"), "{summary}");

    // Bad rates and keys of no layer are format errors naming the key.
    for (key, value, message) in [
        ("dropout.0", "1", "dropout.0 = \"1\" is not a dropout rate"),
        ("dropout.0", "half", "dropout.0 = \"half\" is not a number"),
        (
            "dropout.2",
            "0.5",
            "the metadata key \"dropout.2\" names no layer",
        ),
    ] {
        let changed = with_metadata(&bytes, key, value);
        let error =
            NeuralNetwork::<f32>::from_safetensors_bytes(&changed, "net.safetensors").unwrap_err();
        assert!(matches!(error, Error::Format { .. }), "{error}");
        assert!(error.to_string().contains(message), "{error}");
    }
}

/// The model file `bytes` with the metadata key `key` set to `value`.
fn with_metadata(bytes: &[u8], key: &str, value: &str) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header["__metadata__"][key] = serde_json::Value::String(value.into());
    let mut text = serde_json::to_string(&header).unwrap();
    // safetensors pads the header with spaces to a multiple of 8 bytes.
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

#[test]
fn the_builder_refuses_misplaced_dropout() {
    let base = || {
        NeuralNetwork::<f32>::builder(4)
            .loss(Mse)
            .learning_rate(0.1)
    };
    let error = base().dense(3, Relu).dropout(0.5).build().unwrap_err();
    assert!(matches!(error, Error::NotApplicable { .. }), "{error}");
    assert!(
        error.to_string().contains("after the last layer"),
        "{error}"
    );
    let error = base()
        .dropout(0.2)
        .dropout(0.5)
        .dense(3, Relu)
        .build()
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("two .dropout(..) before one layer"),
        "{error}"
    );
    let error = base().dropout(1.0).dense(3, Relu).build().unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidHyperparameter {
                name: "dropout",
                ..
            }
        ),
        "{error}"
    );
    // In its place, it goes to the layer it comes before.
    let net = base()
        .dense(5, Relu)
        .dropout(0.25)
        .dense(3, Relu)
        .build()
        .unwrap();
    assert!(net.layers()[0].dropout().is_none());
    assert_eq!(net.layers()[1].dropout().unwrap().rate(), 0.25);
}
