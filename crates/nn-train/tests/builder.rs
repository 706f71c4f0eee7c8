//! The builder makes the network that layer-by-layer construction makes, and refuses what
//! is missing or contradictory.

use nn_core::{Error, Init, Preprocessing};
use nn_layers::{Dense, Identity, LeakyRelu, Relu, Tanh};
use nn_loss::{CrossEntropy, Mse};
use nn_train::{Adam, NeuralNetwork};
use rand::{rngs::StdRng, SeedableRng};

fn weights(net: &NeuralNetwork<f64>) -> Vec<ndarray::Array2<f64>> {
    net.layers()
        .iter()
        .flat_map(|l| [l.weights().to_owned(), l.bias().to_owned()])
        .collect()
}

#[test]
fn a_seeded_builder_draws_the_weights_dense_new_draws() {
    let built = NeuralNetwork::<f64>::builder(4)
        .dense(8, Relu)
        .dense(6, Tanh)
        .dense_with_init(3, Identity, Init::HeUniform)
        .loss(Mse)
        .learning_rate(0.05)
        .seed(7)
        .build()
        .unwrap();
    // Default initialisations by activation: He for ReLU, Xavier for tanh.
    let mut rng = StdRng::seed_from_u64(7);
    let manual = NeuralNetwork::new(
        vec![
            Dense::new(4, 8, Relu, Init::HeNormal, &mut rng).unwrap(),
            Dense::new(8, 6, Tanh, Init::XavierNormal, &mut rng).unwrap(),
            Dense::new(6, 3, Identity, Init::HeUniform, &mut rng).unwrap(),
        ],
        Mse,
        0.05,
    )
    .unwrap();
    assert_eq!(weights(&built), weights(&manual));
    assert_eq!(built.learning_rate(), 0.05);
    assert_eq!(built.optimizer().name(), manual.optimizer().name());
    // Another seed, other weights; the builder's init applies to every layer not given one.
    let other = NeuralNetwork::<f64>::builder(4)
        .dense(8, LeakyRelu)
        .dense(3, Identity)
        .init(Init::XavierUniform)
        .loss(CrossEntropy)
        .optimizer(Adam::new(1e-3).unwrap())
        .seed(8)
        .build()
        .unwrap();
    let mut rng = StdRng::seed_from_u64(8);
    let first = Dense::<f64>::new(4, 8, Identity, Init::XavierUniform, &mut rng).unwrap();
    assert_eq!(other.layers()[0].weights(), first.weights());
    assert_eq!(other.learning_rate(), 1e-3);
    assert!(other.optimizer().name().starts_with("adam("));
    assert_eq!(other.loss_function().name(), "cross_entropy");
}

#[test]
fn what_is_missing_or_contradictory_is_an_error() {
    let base = || NeuralNetwork::<f32>::builder(3).dense(2, Identity);
    let not_applicable = |result: nn_core::Result<NeuralNetwork<f32>>, words: &str| match result {
        Err(e @ Error::NotApplicable { .. }) => assert!(e.to_string().contains(words), "{e}"),
        other => panic!("expected NotApplicable with {words:?}, got {other:?}"),
    };
    not_applicable(base().learning_rate(0.1).build(), "no loss");
    not_applicable(
        base().loss(Mse).build(),
        "no optimizer and no learning rate",
    );
    not_applicable(
        base()
            .loss(Mse)
            .learning_rate(0.1)
            .optimizer(Adam::new(0.01).unwrap())
            .build(),
        "both",
    );
    assert!(matches!(
        NeuralNetwork::<f32>::builder(3)
            .loss(Mse)
            .learning_rate(0.1)
            .build(),
        Err(Error::EmptyNetwork)
    ));
    assert!(matches!(
        base()
            .dense(0, Relu)
            .dense(2, Relu)
            .loss(Mse)
            .learning_rate(0.1)
            .build(),
        Err(Error::ZeroSizedLayer {
            index: 1,
            ins: 2,
            outs: 0
        })
    ));
    assert!(matches!(
        NeuralNetwork::<f32>::builder(0)
            .dense(2, Relu)
            .loss(Mse)
            .learning_rate(0.1)
            .build(),
        Err(Error::ZeroSizedLayer {
            index: 0,
            ins: 0,
            outs: 2
        })
    ));
    assert!(matches!(
        base().loss(Mse).learning_rate(-1.0).build(),
        Err(Error::InvalidHyperparameter { .. })
    ));
    assert!(matches!(
        base()
            .loss(Mse)
            .learning_rate(0.1)
            .preprocessing(Preprocessing::scale(2, 0.5).unwrap())
            .build(),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        base()
            .loss(Mse)
            .learning_rate(0.1)
            .class_names(vec!["a".into()])
            .build(),
        Err(Error::ShapeMismatch { .. })
    ));
    let net = base()
        .loss(Mse)
        .learning_rate(0.1)
        .preprocessing(Preprocessing::scale(3, 0.5).unwrap())
        .class_names(vec!["a".into(), "b".into()])
        .build()
        .unwrap();
    assert_eq!(net.preprocessing().unwrap().features(), 3);
    assert_eq!(net.class_names().unwrap(), ["a", "b"]);
}

#[test]
fn fit_shuffles_from_the_seed_of_its_options_as_fit_with_does_from_a_generator() {
    let x = ndarray::Array2::from_shape_fn((2, 40), |(i, j)| ((i * 7 + j * 3) % 11) as f64 - 5.0);
    let classes: Vec<usize> = (0..40)
        .map(|j| usize::from(x[(0, j)] > x[(1, j)]))
        .collect();
    let data = nn_train::Samples::new(x.view(), nn_core::Target::Classes(&classes)).unwrap();
    let build = || {
        NeuralNetwork::<f64>::builder(2)
            .dense(6, Tanh)
            .dense(2, Identity)
            .loss(CrossEntropy)
            .learning_rate(0.1)
            .build()
            .unwrap()
    };
    let options = |seed| nn_train::FitOptions {
        epochs: 3,
        batch_size: 8,
        seed,
        ..nn_train::FitOptions::default()
    };
    let (mut a, mut b, mut c) = (build(), build(), build());
    let history = a.fit(data, Some(data), &options(5)).unwrap();
    assert_eq!(history.epochs.len(), 3);
    assert!(history.epochs.iter().all(|e| e.validation_loss.is_some()));
    let mut rng = StdRng::seed_from_u64(5);
    b.fit_with(data, Some(data), &options(99), &mut rng, |_| {
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(weights(&a), weights(&b));
    // Another seed, another order of the batches, other weights.
    c.fit(data, None, &options(6)).unwrap();
    assert_ne!(weights(&a), weights(&c));
    assert_eq!(a.steps(), 15);
}
