//! Integration test: loads the real Fashion-MNIST (Debian's `dataset-fashion-mnist`) when
//! it is installed, and is skipped with a message otherwise.

use std::path::Path;
use std::time::Instant;

use nn_data::{load_mnist_dir, Dataset, MNIST_CLASSES};
use rand::rngs::StdRng;
use rand::SeedableRng;

const FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

#[test]
fn loads_fashion_mnist_if_installed() {
    if !Path::new(FASHION_MNIST).is_dir() {
        eprintln!("skipped: {FASHION_MNIST} not found (install the package dataset-fashion-mnist)");
        return;
    }
    let start = Instant::now();
    let (train, test) = load_mnist_dir::<f32>(FASHION_MNIST).unwrap();
    eprintln!("loaded Fashion-MNIST in {:.0?}", start.elapsed());

    assert_eq!(train.inputs().dim(), (784, 60_000));
    assert_eq!(test.inputs().dim(), (784, 10_000));
    for set in [&train, &test] {
        check_labels_and_pixels(set);
    }
    // Fashion-MNIST is balanced: 6000 training and 1000 test images per class.
    for (set, per_class) in [(&train, 6000), (&test, 1000)] {
        let mut counts = [0; MNIST_CLASSES];
        for &l in set.labels() {
            counts[l] += 1;
        }
        assert_eq!(counts, [per_class; MNIST_CLASSES]);
    }

    // One shuffled epoch of the test set visits every image once.
    let test = test.scaled(1.0 / 255.0);
    let mut rng = StdRng::seed_from_u64(0);
    let mut batches = test.batches(128, &mut rng).unwrap();
    let mut seen = vec![false; test.len()];
    while let Some(batch) = batches.next_batch() {
        assert_eq!(batch.inputs.nrows(), 784);
        for (k, &j) in batch.indices.iter().enumerate() {
            assert!(!seen[j]);
            seen[j] = true;
            assert_eq!(batch.inputs.column(k), test.inputs().column(j));
        }
    }
    assert!(seen.iter().all(|&s| s));
}

fn check_labels_and_pixels(set: &Dataset<f32>) {
    assert_eq!(set.classes(), MNIST_CLASSES);
    assert!(set.labels().iter().all(|&l| l < MNIST_CLASSES));
    let (min, max) = set
        .inputs()
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert_eq!((min, max), (0.0, 255.0));
    assert!(set.inputs().iter().all(|&v| v.fract() == 0.0));
}
