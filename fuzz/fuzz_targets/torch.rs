//! `NeuralNetwork::from_torch_bytes` (a PyTorch `state_dict` in safetensors form) on
//! arbitrary bytes.
//!
//! The first byte chooses how many activations are given (0 to 7, the low three bits) and
//! whether the network is f32 or f64 (bit 3); the rest is the file. A loaded network must
//! have one layer per activation, save in torch layout and load back bit for bit, and run
//! a forward pass; no call may allocate more at once than a bounded multiple of the
//! file's size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ndarray::Array2;
use nn_core::{Activation, Float};
use nn_fuzz::{largest_allocation, Tracking};
use nn_layers::{Relu, Tanh};
use nn_loss::Mse;
use nn_train::NeuralNetwork;

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// The header's JSON (parsed twice: by serde_json for the offsets, by the safetensors
/// crate) and the values, at most 8 bytes per byte of F16 data.
fn bound(len: usize) -> usize {
    (64 << 10) + 16 * len
}

fn check<F: Float>(file: &[u8], count: usize) {
    let activations = || -> Vec<Box<dyn Activation<F>>> {
        (0..count)
            .map(|k| -> Box<dyn Activation<F>> {
                if k % 2 == 0 {
                    Box::new(Relu)
                } else {
                    Box::new(Tanh)
                }
            })
            .collect()
    };
    let load = |bytes: &[u8]| {
        NeuralNetwork::<F>::from_torch_bytes(
            bytes,
            "fuzz",
            activations(),
            Box::new(Mse),
            F::from_f64(0.1),
        )
    };
    let (result, largest) = largest_allocation(|| load(file));
    assert!(
        largest <= bound(file.len()),
        "{largest} bytes for a file of {}",
        file.len()
    );
    let Ok(net) = result else {
        return;
    };
    assert_eq!(net.layers().len(), count);
    let again = load(&net.to_torch_bytes().expect("finite parameters save")).expect("reloads");
    for (a, b) in again.layers().iter().zip(net.layers()) {
        assert_eq!((a.weights(), a.bias()), (b.weights(), b.bias()));
    }
    // Only small networks run a pass: a fuzzed shape may be wide.
    if net.parameter_count() <= 1 << 16 && net.ins() <= 1 << 12 {
        let x = Array2::from_elem((net.ins(), 2), F::from_f64(0.5));
        let _ = net.forward_pass(x.view());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let count = usize::from(mode & 7);
    if mode & 8 == 0 {
        check::<f32>(file, count);
    } else {
        check::<f64>(file, count);
    }
});
