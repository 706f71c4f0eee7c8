//! `nn_data::parse_csv` on arbitrary bytes.
//!
//! The first byte chooses the number of classes (`0..=254`, or `usize::MAX` for 255), the
//! rest is the file. A successful parse must be consistent (one label per line below the
//! number of classes, `features` pixels per label), must read back the same from a copy
//! rewritten in the canonical form `label,p1,...,pN`, and may allocate at most a bounded
//! multiple of the file's size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nn_data::parse_csv;
use nn_fuzz::{largest_allocation, Tracking};

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// The reader's 64 KiB buffer, and vectors that may double past what they hold: at most
/// one label (8 bytes) and one pixel per two bytes of input, twice over.
fn bound(len: usize) -> usize {
    (256 << 10) + 16 * len
}

fuzz_target!(|data: &[u8]| {
    let Some((&classes, file)) = data.split_first() else {
        return;
    };
    let classes = match classes {
        255 => usize::MAX,
        c => usize::from(c),
    };
    let (result, largest) = largest_allocation(|| parse_csv(file, "fuzz.csv", classes));
    assert!(
        largest <= bound(file.len()),
        "parse_csv allocated {largest} bytes at once for a file of {}",
        file.len()
    );
    let Ok(parsed) = result else {
        return;
    };
    assert!(parsed.features >= 1);
    assert!(!parsed.labels.is_empty());
    assert_eq!(parsed.pixels.len(), parsed.features * parsed.labels.len());
    assert!(parsed.labels.iter().all(|&l| l < classes));

    let mut canonical = String::new();
    for (label, pixels) in parsed
        .labels
        .iter()
        .zip(parsed.pixels.chunks(parsed.features))
    {
        canonical += &label.to_string();
        for p in pixels {
            canonical += &format!(",{p}");
        }
        canonical.push('\n');
    }
    let again = parse_csv(canonical.as_bytes(), "canonical.csv", classes)
        .expect("the canonical form of an accepted file is accepted");
    assert_eq!(again, parsed);
});
