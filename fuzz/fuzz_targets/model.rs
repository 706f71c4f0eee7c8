//! `NeuralNetwork::<f32>::from_safetensors_bytes` and `::<f64>` on arbitrary bytes.
//!
//! The first byte chooses how the rest becomes a file:
//! - even: the rest is the file, as it is;
//! - odd: the next two bytes are a little-endian header length `n` (cut to what follows),
//!   and the file is the 8-byte length `n` followed by the rest, so that mutations of the
//!   JSON header keep a consistent length prefix and reach the layout checks.
//!
//! Loading may allocate at most a bounded multiple of the file's size. A network that
//! loads must save back to bytes that load to the same parameters, and must run a forward
//! pass and a training step without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ndarray::Array2;
use nn_core::{Float, Target};
use nn_fuzz::{largest_allocation, Tracking};
use nn_train::NeuralNetwork;

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

fn bound(len: usize) -> usize {
    (64 << 10) + 16 * len
}

fn bits<F: Float>(net: &NeuralNetwork<F>) -> Vec<u64> {
    net.layers()
        .iter()
        .flat_map(|l| l.weights().into_iter().chain(l.bias()).copied())
        .map(|v| v.as_f64().to_bits())
        .collect()
}

fn check<F: Float>(file: &[u8]) {
    let (result, largest) =
        largest_allocation(|| NeuralNetwork::<F>::from_safetensors_bytes(file, "fuzz"));
    assert!(
        largest <= bound(file.len()),
        "loading allocated {largest} bytes at once for a file of {}",
        file.len()
    );
    let Ok(mut net) = result else {
        return;
    };
    let saved = net.to_safetensors_bytes().expect("a loaded network saves");
    let again =
        NeuralNetwork::<F>::from_safetensors_bytes(&saved, "saved").expect("a saved network loads");
    assert_eq!(bits(&net), bits(&again));
    assert_eq!(again.to_safetensors_bytes().unwrap(), saved);
    assert_eq!(
        net.learning_rate().as_f64().to_bits(),
        again.learning_rate().as_f64().to_bits()
    );

    // The parameters are finite but may be anything: the outputs are whatever they are,
    // and training may diverge, but neither may panic.
    if net.parameter_count() > 1 << 16 {
        return;
    }
    let x = Array2::from_elem((net.ins(), 1), F::one());
    let _ = net.forward_pass(x.view());
    let _ = net.train(x.view(), Target::Classes(&[0]));
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        let Some((n, rest)) = rest.split_first_chunk::<2>() else {
            return;
        };
        let n = usize::from(u16::from_le_bytes(*n)).min(rest.len());
        let mut file = (n as u64).to_le_bytes().to_vec();
        file.extend_from_slice(rest);
        file
    };
    check::<f32>(&file);
    check::<f64>(&file);
});
