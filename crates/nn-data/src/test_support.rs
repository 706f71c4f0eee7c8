//! Helpers for the unit tests: temporary directories, IDX and gzip encoding, and an
//! allocator that records the largest allocation made by the current thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::write::GzEncoder;
use flate2::Compression;
use nn_core::Error;

/// A directory under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("nn-data-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `bytes` to the file `name` in this directory and returns its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An IDX file: magic `0 0 type ndims`, the dimensions, then `data`.
pub fn idx(element_type: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, element_type, dims.len() as u8];
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Unwraps a [`Error::Format`] into `(path, offset, message)`, failing otherwise.
#[track_caller]
pub fn format_error<T: std::fmt::Debug>(r: nn_core::Result<T>) -> (PathBuf, u64, String) {
    match r {
        Err(Error::Format {
            path,
            offset,
            message,
        }) => (path, offset, message),
        other => panic!("expected Error::Format, got {other:?}"),
    }
}

/// Unwraps a [`Error::Line`] into `(path, line, message)`, failing otherwise.
#[track_caller]
pub fn line_error<T: std::fmt::Debug>(r: nn_core::Result<T>) -> (PathBuf, usize, String) {
    match r {
        Err(Error::Line {
            path,
            line,
            message,
        }) => (path, line, message),
        other => panic!("expected Error::Line, got {other:?}"),
    }
}

struct Recording;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    let _ = COUNT.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded to the system allocator unchanged; recording the size in
// a const-initialised thread-local `Cell` does not allocate.
unsafe impl GlobalAlloc for Recording {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Recording = Recording;

/// Runs `f` and returns its result with the size of the largest single allocation the
/// current thread made meanwhile.
pub fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let out = f();
    (out, LARGEST.with(|l| l.get()))
}

/// Runs `f` and returns its result with the number of allocations (and reallocations)
/// the current thread made meanwhile.
pub fn allocation_count<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = COUNT.with(|c| c.get());
    let out = f();
    (out, COUNT.with(|c| c.get()) - before)
}
