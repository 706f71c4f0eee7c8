//! Inference on a batch larger than one slice (4 096 samples, `Model::forward_pass`): the
//! slices' outputs land in their columns, and errors name the column in the whole batch.

use ndarray::{s, Array2, ShapeBuilder};
use nn_core::{Error, Float, Preprocessing};
use nn_layers::{Dense, Identity, Tanh, FEW_SAMPLES};
use nn_loss::Mse;
use nn_train::NeuralNetwork;
use rand::{rngs::StdRng, Rng, SeedableRng};

fn network() -> NeuralNetwork<f32> {
    let mut rng = StdRng::seed_from_u64(5);
    let mut layer = |ins, outs, act: Box<dyn nn_core::Activation<f32>>| {
        let w = Array2::from_shape_simple_fn((outs, ins), || rng.random_range(-1.0..1.0));
        let b = Array2::from_shape_simple_fn((outs, 1), || rng.random_range(-1.0..1.0));
        Dense::from_parameters(w, b, act).unwrap()
    };
    let layers = vec![layer(3, 8, Box::new(Tanh)), layer(8, 2, Box::new(Identity))];
    NeuralNetwork::new(layers, Mse, 0.1).unwrap()
}

fn inputs(n: usize) -> Array2<f32> {
    let mut rng = StdRng::seed_from_u64(6);
    Array2::from_shape_simple_fn((3, n), || rng.random_range(-2.0..2.0))
}

#[test]
fn a_large_batch_is_the_slices_outputs_side_by_side() {
    let net = network();
    let n = 2 * 4096 + 37;
    let x = inputs(n);
    let whole = net.forward_pass(x.view()).unwrap();
    assert_eq!(whole.dim(), (2, n));
    // Row-major, as every array nn returns, whatever the order of its buffers.
    assert!(whole.is_standard_layout());
    assert!(net
        .forward_pass(x.slice(s![.., ..100]))
        .unwrap()
        .is_standard_layout());
    for (start, end) in [(0, 4096), (4096, 8192), (8192, n)] {
        let part = net.forward_pass(x.slice(s![.., start..end])).unwrap();
        assert_eq!(whole.slice(s![.., start..end]), part, "{start}..{end}");
    }
    // The same values as one column at a time, to rounding (another kernel).
    for j in [0, 4095, 4096, 8191, 8192, n - 1] {
        let one = net.forward_pass(x.slice(s![.., j..j + 1])).unwrap();
        for r in 0..2 {
            assert!((one[(r, 0)] - whole[(r, j)]).abs() < 1e-5, "column {j}");
        }
    }
    assert_eq!(net.predict(x.view()).unwrap().len(), n);
}

/// Tanh layers of the given sizes, the last one the identity, with weights and biases
/// uniform in [-0.3, 0.3).
fn tanh_network<F: Float>(sizes: &[usize], rng: &mut StdRng) -> NeuralNetwork<F> {
    let layers = sizes
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let mut uniform = || F::from_f64(rng.random_range(-0.3..0.3));
            let weights = Array2::from_shape_simple_fn((w[1], w[0]), &mut uniform);
            let bias = Array2::from_shape_simple_fn((w[1], 1), &mut uniform);
            let act: Box<dyn nn_core::Activation<F>> = if i + 2 == sizes.len() {
                Box::new(Identity)
            } else {
                Box::new(Tanh)
            };
            Dense::from_parameters(weights, bias, act).unwrap()
        })
        .collect();
    NeuralNetwork::new(layers, Mse, F::from_f64(0.1)).unwrap()
}

#[test]
fn a_column_s_outputs_do_not_depend_on_the_batch_it_is_in() {
    // 2 500 columns at once, against batches of 100: matrix products of other widths,
    // cut differently over 2 threads, must give each column the same bits.
    let mut rng = StdRng::seed_from_u64(8);
    let mut net = tanh_network::<f32>(&[64, 96, 48, 5], &mut rng);
    let x = Array2::from_shape_simple_fn((64, 2500), || rng.random_range(-1.0..1.0));
    for threads in [1, 2] {
        net.set_threads(threads).unwrap();
        let whole = net.forward_pass(x.view()).unwrap();
        for start in (0..2500).step_by(100) {
            let part = net
                .forward_pass(x.slice(s![.., start..start + 100]))
                .unwrap();
            assert_eq!(
                whole.slice(s![.., start..start + 100]),
                part,
                "{threads} threads, columns {start}.."
            );
        }
    }
}

#[test]
fn a_few_samples_get_the_outputs_they_get_alone() {
    // Batches of 2 to FEW_SAMPLES samples go through the one-sample kernels, two samples
    // a pass (and in two halves on two threads): each column must have the bits of the
    // same sample alone, stored by columns or by rows, in a network whose layers have
    // rows outside four-row blocks (10 and 5) and whose inputs are not whole vectors (37).
    let mut rng = StdRng::seed_from_u64(9);
    let mut net = tanh_network::<f64>(&[37, 10, 5], &mut rng);
    let by_rows = Array2::from_shape_simple_fn((37, 9), || rng.random_range(-1.0..1.0));
    let mut by_columns = Array2::zeros((37, 9).f());
    by_columns.assign(&by_rows);
    for threads in [1, 2] {
        net.set_threads(threads).unwrap();
        for x in [by_rows.view(), by_columns.view()] {
            for n in 2..=FEW_SAMPLES + 1 {
                let batch = net.forward_pass(x.slice(s![.., ..n])).unwrap();
                for j in 0..n {
                    let alone = net.forward_pass(x.slice(s![.., j..j + 1])).unwrap();
                    let same = batch
                        .column(j)
                        .iter()
                        .zip(&alone)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    // Past FEW_SAMPLES, a matrix product: the same values to rounding.
                    let close = batch
                        .column(j)
                        .iter()
                        .zip(&alone)
                        .all(|(a, b)| (a - b).abs() < 1e-12);
                    assert!(
                        if n <= FEW_SAMPLES { same } else { close },
                        "{threads} threads, {n} samples, column {j}: {:?} vs {:?}",
                        batch.column(j),
                        alone
                    );
                }
            }
        }
    }
    // A non-finite input in a small batch is named at its column.
    let mut x = by_rows.slice(s![.., ..4]).to_owned();
    x[(3, 2)] = f64::NAN;
    match net.forward_pass(x.view()).unwrap_err() {
        Error::NonFiniteInput { row, column, .. } => assert_eq!((row, column), (3, 2)),
        other => panic!("{other}"),
    }
}

#[test]
fn errors_name_the_column_in_the_whole_batch() {
    // A non-finite input, in the second slice.
    let net = network();
    let n = 4096 + 100;
    let mut x = inputs(n);
    x[(1, 4100)] = f32::INFINITY;
    match net.forward_pass(x.view()).unwrap_err() {
        Error::NonFiniteInput { row, column, .. } => assert_eq!((row, column), (1, 4100)),
        other => panic!("{other}"),
    }

    // A preprocessing step that overflows on one large entry, in the second slice.
    let mut net = network();
    let scale = Preprocessing::scale(3, 1e30f32).unwrap();
    net.set_preprocessing(Some(scale)).unwrap();
    let mut x = inputs(n) * 1e-31;
    x[(2, 4123)] = 1e10;
    match net.forward_pass(x.view()).unwrap_err() {
        Error::NonFiniteInput {
            what, row, column, ..
        } => assert_eq!(
            (what.as_str(), row, column),
            ("preprocessed input", 2, 4123)
        ),
        other => panic!("{other}"),
    }

    // A layer output that overflows: the identity layer fed huge but finite values.
    let mut rng = StdRng::seed_from_u64(1);
    let w = Array2::from_shape_simple_fn((2, 3), || rng.random_range(0.5f32..1.0));
    let layer = Dense::from_parameters(w, Array2::zeros((2, 1)), Box::new(Identity)).unwrap();
    let net = NeuralNetwork::new(vec![layer], Mse, 0.1).unwrap();
    let mut x = Array2::from_elem((3, n), 1.0f32);
    x.column_mut(4111).fill(f32::MAX);
    match net.forward_pass(x.view()).unwrap_err() {
        Error::NonFiniteOutput { layer, column, .. } => assert_eq!((layer, column), (0, 4111)),
        other => panic!("{other}"),
    }
}

/// The finiteness check reads the pass's own flags: a pre-activation that overflowed
/// into a saturating activation is no error (its output is finite), as it never was,
/// while the same overflow into the identity is; and a non-finite input is named as the
/// input, one sample or many.
#[test]
fn only_non_finite_inputs_and_outputs_are_errors() {
    let huge = |act: Box<dyn nn_core::Activation<f32>>| {
        let layer = Dense::from_parameters(
            Array2::from_elem((2, 3), 1e30f32),
            Array2::zeros((2, 1)),
            act,
        )
        .unwrap();
        NeuralNetwork::new(vec![layer], Mse, 0.1).unwrap()
    };
    for n in [1, 5, 4096 + 3] {
        let x = Array2::from_elem((3, n), 1e30f32);
        let out = huge(Box::new(Tanh)).forward_pass(x.view()).unwrap();
        assert!(out.iter().all(|&v| v == 1.0), "batch {n}");
        assert!(
            matches!(
                huge(Box::new(Identity)).forward_pass(x.view()),
                Err(Error::NonFiniteOutput { layer: 0, .. })
            ),
            "batch {n}"
        );
        let mut bad = inputs(n);
        bad[(1, n - 1)] = f32::NEG_INFINITY;
        let column = n - 1;
        assert!(
            matches!(
                network().forward_pass(bad.view()),
                Err(Error::NonFiniteInput { row: 1, column: c, .. }) if c == column
            ),
            "batch {n}"
        );
    }
}
