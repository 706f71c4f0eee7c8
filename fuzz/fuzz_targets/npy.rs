//! `nn_data::parse_npy_matrix`, `parse_npy_labels` and `Npz` on arbitrary bytes.
//!
//! The first byte chooses the mode: even, the rest is a `.npy` file; odd, a `.npz`
//! archive, each of whose members is read as a matrix and as labels. A parsed matrix
//! holds at most one value per byte of the file; no call may allocate more at once than a
//! bounded multiple of the file's size (the header's declared length and shape are checked
//! against the file before anything is allocated for them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nn_data::{parse_npy_labels, parse_npy_matrix, Npz};
use nn_fuzz::{largest_allocation, Tracking};

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// The header's parse (at most NumPy's 10 000-byte header, in a few copies), and vectors
/// of at most one 8-byte value per byte of the file, twice over.
fn bound(len: usize) -> usize {
    (64 << 10) + 16 * len
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let (matrix, largest) = largest_allocation(|| parse_npy_matrix::<f64>(file, "fuzz.npy"));
        assert!(
            largest <= bound(file.len()),
            "{largest} bytes for a file of {}",
            file.len()
        );
        if let Ok(matrix) = matrix {
            assert!(matrix.len() <= file.len());
            // Every dtype this reads converts to f32 as well, with the same shape.
            let again = parse_npy_matrix::<f32>(file, "fuzz.npy").expect("read as f64");
            assert_eq!(again.dim(), matrix.dim());
        }
        let (labels, largest) = largest_allocation(|| parse_npy_labels(file, "fuzz.npy"));
        assert!(largest <= bound(file.len()));
        if let Ok(labels) = labels {
            assert!(labels.len() <= file.len());
        }
        return;
    }
    // A zip member may decompress to more than the archive's size: that is real data,
    // bounded by what decompresses, not by a number the archive claims.
    let Ok(mut archive) = Npz::from_bytes(file.to_vec(), "fuzz.npz") else {
        return;
    };
    for name in archive.names() {
        let _ = archive.matrix::<f32>(&name);
        let _ = archive.labels(&name);
    }
});
