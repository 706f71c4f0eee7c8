//! `nn_data::parse_idx` on arbitrary bytes, plain and gzip-wrapped.
//!
//! The first byte chooses a mode, the rest is the file:
//! - 0: the bytes as they are (gzip is recognised by its magic bytes, so the fuzzer can
//!   reach the gzip path with raw, mostly corrupt, streams);
//! - 1: the bytes gzip-compressed, which must parse exactly as the plain bytes do (same
//!   array, or the same error at the same decompressed offset);
//! - 2: the bytes split in two gzip members at a point given by the second byte (a
//!   multi-member stream, as `cat a.gz b.gz` makes), again the same as plain;
//! - 3: the gzip-compressed bytes cut short or with one byte flipped: any error, no panic.
//!
//! Every run also checks that the largest single allocation stays within a bound
//! proportional to the size of the (decompressed) data, plus the reader's fixed chunk.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nn_data::{parse_idx, Error, IdxArray};
use nn_fuzz::{gzip, largest_allocation, Tracking};

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// The reader's first chunk (64 KiB) doubles at most once past it, and gzip adds a
/// 64 KiB buffer and the decoder's window: allow 512 KiB plus twice the data.
const FIXED: usize = 512 << 10;

fn parse(bytes: &[u8]) -> Result<IdxArray, Error> {
    parse_idx(bytes, "fuzz")
}

/// Parses `bytes`, whose decompressed length is `len` when known, and at most `max_len`.
fn parse_bounded(bytes: &[u8], len: Option<usize>, max_len: usize) -> Result<IdxArray, Error> {
    let (result, largest) = largest_allocation(|| parse(bytes));
    assert!(
        largest <= FIXED + 2 * max_len,
        "parse_idx allocated {largest} bytes at once for at most {max_len} bytes of data"
    );
    if let Ok(array) = &result {
        assert!(!array.dims.is_empty() && array.dims.iter().all(|&d| d > 0));
        assert_eq!(array.dims.iter().product::<usize>(), array.data.len());
        if let Some(len) = len {
            assert_eq!(array.data_offset() as usize + array.data.len(), len);
        }
    }
    result
}

/// Plain and gzip results agree: same array, or errors that read the same.
fn assert_same(plain: &Result<IdxArray, Error>, zipped: &Result<IdxArray, Error>) {
    match (plain, zipped) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("plain {plain:?} but gzip {zipped:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            // Raw gzip input may inflate: deflate's ratio is at most about 1032 to 1.
            let plain = !file.starts_with(&[0x1f, 0x8b]);
            let _ = parse_bounded(file, plain.then_some(file.len()), 1032 * file.len());
        }
        1 | 2 if file.starts_with(&[0x1f, 0x8b]) => {
            // The plain bytes would be read as gzip themselves: nothing to compare.
        }
        1 => {
            let plain = parse_bounded(file, Some(file.len()), file.len());
            let zipped = parse_bounded(&gzip(file), Some(file.len()), file.len());
            assert_same(&plain, &zipped);
        }
        2 => {
            let cut = usize::from(file.first().copied().unwrap_or(0)).min(file.len());
            let mut members = gzip(&file[..cut]);
            members.extend(gzip(&file[cut..]));
            let plain = parse_bounded(file, Some(file.len()), file.len());
            let zipped = parse_bounded(&members, Some(file.len()), file.len());
            assert_same(&plain, &zipped);
        }
        _ => {
            let Some((&how, file)) = file.split_first() else {
                return;
            };
            let mut zipped = gzip(file);
            let at = usize::from(how) * zipped.len() / 256;
            if how % 2 == 0 {
                zipped.truncate(at);
            } else if let Some(b) = zipped.get_mut(at) {
                *b ^= how;
            }
            let _ = parse_bounded(&zipped, None, 1032 * zipped.len() + file.len());
        }
    }
});
