//! Small array helpers shared by the crates: columns, finiteness checks, argmax, one-hot.

use ndarray::{Array2, ArrayView1, ArrayView2, Axis};

use crate::{Error, Float, Result};

/// Turns a slice into a column vector of shape `(len, 1)`, the article's shape for a sample.
pub fn column<F: Float>(values: &[F]) -> Array2<F> {
    Array2::from_shape_vec((values.len(), 1), values.to_vec())
        .expect("a (len, 1) shape always fits len values")
}

/// Checks that a batch `x` has `rows` rows and at least one column.
///
/// # Errors
/// [`Error::ShapeMismatch`] naming `what` for another number of rows, [`Error::EmptyBatch`]
/// for no column.
pub fn check_batch<F>(what: &str, x: ArrayView2<'_, F>, rows: usize) -> Result<()> {
    if x.nrows() != rows {
        // Samples given as rows, `(n, rows)`: the batch meant is `(rows, n)`, which the
        // error's message then recognises as the transpose.
        let samples = if x.ncols() == rows {
            x.nrows()
        } else {
            x.ncols()
        };
        return Err(Error::ShapeMismatch {
            what: what.into(),
            expected: (rows, samples),
            actual: x.dim(),
        });
    }
    if x.ncols() == 0 {
        return Err(Error::EmptyBatch { what: what.into() });
    }
    Ok(())
}

/// `max |a|` over a matrix, or NaN if an entry is NaN or infinite: one vectorised pass
/// (see [`kernels::max_abs`](crate::compute::kernels::max_abs)) when `a` is contiguous.
pub fn max_abs<F: Float>(a: ArrayView2<'_, F>) -> F {
    match a.as_slice_memory_order() {
        Some(values) => crate::compute::kernels::max_abs(values),
        // NaN on the first non-finite entry, and stop there: a NaN carried on through
        // `max` would be dropped by the next number (`NaN.max(1) = 1`).
        None => a
            .iter()
            .try_fold(F::zero(), |m, &v| v.is_finite().then(|| m.max(v.abs())))
            .unwrap_or_else(F::nan),
    }
}

/// The [`max_abs`] of the entries of two parts from the parts' own: the larger, or the
/// one that is not finite (`max` would drop a NaN: `NaN.max(1) = 1`).
pub fn max_abs_of_both<F: Float>(x: F, y: F) -> F {
    match (x.is_finite(), y.is_finite()) {
        (true, true) => x.max(y),
        (false, _) => x,
        (true, false) => y,
    }
}

/// The first non-finite entry of `a` in row-major order, as `(row, column, value)`.
pub fn first_non_finite<F: Float>(a: ArrayView2<'_, F>) -> Option<(usize, usize, F)> {
    // One vectorised pass finds whether there is anything to look for; the search for
    // its place runs only then.
    if max_abs(a).is_finite() {
        return None;
    }
    locate_non_finite(a)
}

/// The search of [`first_non_finite`], once a pass has shown there is something to find.
fn locate_non_finite<F: Float>(a: ArrayView2<'_, F>) -> Option<(usize, usize, F)> {
    a.indexed_iter()
        .find(|(_, v)| !v.is_finite())
        .map(|((r, c), &v)| (r, c, v))
}

/// Checks that every entry of `a` is finite.
///
/// # Errors
/// [`Error::NonFiniteInput`] naming `what` and the first offending entry.
pub fn check_finite<F: Float>(what: &str, a: ArrayView2<'_, F>) -> Result<()> {
    finite_max_abs(what, a).map(|_| ())
}

/// `max |a|`, checking on the way that every entry is finite: the same single pass as
/// [`check_finite`], for callers that also need the bound (training's proof that an
/// update stays finite). Only when an entry is not finite is `a` searched again, to name
/// it.
///
/// # Errors
/// [`Error::NonFiniteInput`] naming `what` and the first offending entry.
pub fn finite_max_abs<F: Float>(what: &str, a: ArrayView2<'_, F>) -> Result<F> {
    let largest = max_abs(a);
    if largest.is_finite() {
        return Ok(largest);
    }
    let (row, column, value) =
        locate_non_finite(a).expect("max_abs is not finite only for a non-finite entry");
    Err(Error::NonFiniteInput {
        what: what.into(),
        row,
        column,
        value: value.as_f64(),
    })
}

/// Index of the largest entry of each column (the predicted class of each sample).
/// Ties go to the lowest index; NaN entries are never chosen over a number.
pub fn argmax_columns<F: Float>(a: ArrayView2<'_, F>) -> Vec<usize> {
    a.axis_iter(Axis(1)).map(argmax).collect()
}

/// Number of columns of `output` whose largest entry (as [`argmax_columns`] picks it) is
/// at the given class: the correct predictions of a batch. Allocates nothing.
///
/// # Panics
/// If `classes` does not have one entry per column (a broken invariant of the caller).
pub fn count_correct<F: Float>(output: ArrayView2<'_, F>, classes: &[usize]) -> usize {
    assert_eq!(output.ncols(), classes.len(), "one class per column");
    (output.axis_iter(Axis(1)).zip(classes))
        .filter(|&(column, &class)| argmax(column) == class)
        .count()
}

/// The index of the largest entry of a column, as [`argmax_columns`] defines it.
fn argmax<F: Float>(column: ArrayView1<'_, F>) -> usize {
    let mut best = 0;
    for (i, &v) in column.iter().enumerate() {
        if v > column[best] || (column[best].is_nan() && !v.is_nan()) {
            best = i;
        }
    }
    best
}

/// An empty vector with room for `len` entries, or `None` when they cannot be had: their
/// size in bytes overflows or passes `isize::MAX` (which ndarray and `Vec` both need;
/// `try_reserve_exact` checks it) or the allocator refuses it. For buffers whose size
/// comes from a caller's number, which must give an error, not a panic or an abort.
///
/// On Linux, a buffer of [`HUGE_PAGE_ADVICE_FROM`] bytes or more is advised onto
/// transparent huge pages (see [`advise_huge_pages`]) before anything is written to it.
pub fn try_vec<T>(len: usize) -> Option<Vec<T>> {
    let mut values = Vec::new();
    values.try_reserve_exact(len).ok()?;
    advise_huge_pages(&mut values);
    Some(values)
}

/// The size in bytes from which [`try_vec`] advises a buffer onto huge pages: 4 MiB, so
/// that at least one whole 2 MiB page lies inside it wherever it starts.
pub const HUGE_PAGE_ADVICE_FROM: usize = 4 << 20;

/// Asks the kernel (Linux's `madvise(MADV_HUGEPAGE)`) to back the whole 2 MiB pages inside
/// the memory reserved by a vector of [`HUGE_PAGE_ADVICE_FROM`] bytes or more (its
/// capacity) with transparent huge pages, as the kernel does for every large buffer when
/// `/sys/kernel/mm/transparent_hugepage/enabled` is `always` and only for advised ones
/// when it is `madvise`, the default of many distributions. Best called before anything
/// is written to the vector: pages already touched stay small until the kernel's
/// `khugepaged` merges them. Elsewhere than on Linux, and for smaller vectors, it does
/// nothing.
///
/// Why: a data set is read once an epoch in its order or a shuffled one, a few KB per
/// sample, so with 4 KiB pages nearly every sample costs a miss in the processor's
/// address-translation cache. Streaming Fashion-MNIST's 188 MB in a `SampleStream`
/// (784→16→16→10, `f32`) took 1.52–1.56 µs a step on 4 KiB pages and 1.43–1.47 µs on
/// huge pages, on an Intel Xeon with AVX-512.
///
/// It is advice: the contents and validity of the memory do not change, and when the
/// kernel has no huge pages to give (or no support for them) the call fails or is
/// ignored, and the buffer is the same buffer on small pages. Where the system's
/// `/sys/kernel/mm/transparent_hugepage/defrag` lets the kernel compact memory for advised
/// buffers (its default, `madvise`), the first write to a page may wait while it does.
pub fn advise_huge_pages<T>(values: &mut Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        let bytes = values.capacity().saturating_mul(std::mem::size_of::<T>());
        if let Some((first, length)) = huge_pages_inside(values.as_mut_ptr() as usize, bytes) {
            // SAFETY: the range lies inside the vector's allocation, which nothing else
            // uses while this function borrows it mutably, and starts on a page boundary
            // as madvise requires. MADV_HUGEPAGE changes only which pages the kernel will
            // back the range with, never its contents or whether it may be accessed; a
            // failure (no huge page support) leaves the range as it was, so the result is
            // ignored.
            unsafe {
                libc::madvise(first as *mut libc::c_void, length, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = values;
}

/// The whole 2 MiB pages inside the `bytes` bytes from address `start`, as
/// `(first address, length)`, for a buffer of [`HUGE_PAGE_ADVICE_FROM`] bytes or more;
/// `None` for a smaller one. Both ends round inwards, and 4 MiB always hold one whole page.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn huge_pages_inside(start: usize, bytes: usize) -> Option<(usize, usize)> {
    const HUGE_PAGE: usize = 2 << 20;
    if bytes < HUGE_PAGE_ADVICE_FROM {
        return None;
    }
    let first = start.next_multiple_of(HUGE_PAGE);
    let end = (start + bytes) / HUGE_PAGE * HUGE_PAGE;
    Some((first, end - first))
}

/// A `(rows, cols)` matrix of zeros, allocated fallibly: a size whose bytes overflow or
/// that the allocator refuses is an error, not a panic or an abort. For every allocation
/// whose size comes from a caller's number.
///
/// # Errors
/// [`Error::TooLarge`] naming `what`.
pub fn try_zeros<F: Float>(what: &str, rows: usize, cols: usize) -> Result<Array2<F>> {
    try_from_fn(what, rows, cols, F::zero)
}

/// A `(rows, cols)` matrix of zeros in column-major order (each column contiguous),
/// allocated fallibly as [`try_zeros`].
///
/// For a batch's layer outputs in inference, one sample per column: a product written
/// into a column-major matrix is computed by gemm as it is stated, `W·x`, with only the
/// small `W` packed; into a row-major one it computes `xᵀ·Wᵀ` and packs the whole batch,
/// entry by entry (784→256 on 2 048 samples in `f32`: 6.0–6.4 ms against 5.3–5.4 ms on
/// an Intel Xeon with AVX-512, the same bits).
///
/// # Errors
/// [`Error::TooLarge`] naming `what`.
pub fn try_zeros_column_major<F: Float>(what: &str, rows: usize, cols: usize) -> Result<Array2<F>> {
    match try_zeros(what, cols, rows) {
        Ok(transposed) => Ok(transposed.reversed_axes()),
        // The error names the shape asked for, not its transpose.
        Err(Error::TooLarge { what, .. }) => Err(Error::TooLarge {
            what,
            rows,
            columns: cols,
        }),
        Err(other) => Err(other),
    }
}

/// A `(rows, cols)` matrix whose entries are `next()` in row-major order (as
/// `Array2::from_shape_simple_fn` fills it), allocated fallibly as [`try_zeros`].
///
/// # Errors
/// [`Error::TooLarge`] naming `what`.
pub fn try_from_fn<F: Float>(
    what: &str,
    rows: usize,
    cols: usize,
    mut next: impl FnMut() -> F,
) -> Result<Array2<F>> {
    let too_large = || Error::TooLarge {
        what: what.to_string(),
        rows,
        columns: cols,
    };
    let len = rows.checked_mul(cols).ok_or_else(too_large)?;
    let mut values = try_vec(len).ok_or_else(too_large)?;
    values.extend((0..len).map(|_| next()));
    Ok(Array2::from_shape_vec((rows, cols), values).expect("rows·cols values"))
}

/// A copy of `a` in row-major order whose first entry starts on a 64-byte boundary (a
/// cache line, and one AVX-512 vector), allocated fallibly as [`try_zeros`].
///
/// The allocator aligns a buffer to 16 bytes only, so every 64-byte vector the per-sample
/// kernels load or store along a row of a layer's weights would straddle two cache lines:
/// on an Intel Xeon with AVX-512 the fused first-layer kernel of 784→16 in `f32` took
/// 820–860 ns a call that way and 670 ns aligned. Each row of such a matrix starts on a
/// boundary too when its length in bytes is a multiple of 64 (784 `f32` or `f64` are).
///
/// # Errors
/// [`Error::TooLarge`] naming `what`.
pub fn try_aligned_copy<F: Float>(what: &str, a: ArrayView2<'_, F>) -> Result<Array2<F>> {
    const ALIGN: usize = 64;
    let (rows, cols) = a.dim();
    let too_large = || Error::TooLarge {
        what: what.to_string(),
        rows,
        columns: cols,
    };
    // The entries plus a cache line's worth, to slide the start along.
    let pad = ALIGN / std::mem::size_of::<F>();
    let len = rows.checked_mul(cols).ok_or_else(too_large)?;
    let total = len.checked_add(pad).ok_or_else(too_large)?;
    let mut values = try_vec(total).ok_or_else(too_large)?;
    values.resize(total, F::zero());
    // In entries; below `pad`, as a buffer of `F` is aligned to `F`'s size at least.
    let start = values.as_ptr().align_offset(ALIGN).min(pad);
    let mut flat = ndarray::Array1::from_vec(values);
    flat.slice_collapse(ndarray::s![start..start + len]);
    let mut out = flat
        .into_shape_with_order((rows, cols))
        .expect("a contiguous slice of rows·cols entries");
    out.assign(&a);
    Ok(out)
}

/// One-hot columns: a `(classes, labels.len())` matrix with a 1 at `(labels[j], j)`.
///
/// # Errors
/// [`Error::ClassOutOfRange`] if a label is not below `classes`, [`Error::TooLarge`] if
/// `classes · labels.len()` entries cannot be allocated.
pub fn one_hot<F: Float>(labels: &[usize], classes: usize) -> Result<Array2<F>> {
    let mut out = try_zeros("one-hot targets", classes, labels.len())?;
    for (sample, &class) in labels.iter().enumerate() {
        if class >= classes {
            return Err(Error::ClassOutOfRange {
                sample,
                class,
                classes,
            });
        }
        out[(class, sample)] = F::one();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, ShapeBuilder};

    /// The `VmFlags` of the mapping that holds `address`, from `/proc/self/smaps`.
    #[cfg(target_os = "linux")]
    fn vm_flags_at(address: usize) -> String {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("/proc/self/smaps");
        let mut inside = false;
        for line in smaps.lines() {
            let range = line
                .split_whitespace()
                .next()
                .and_then(|r| r.split_once('-'));
            let bounds = range.and_then(|(a, b)| {
                let parse = |h| usize::from_str_radix(h, 16).ok();
                Some((parse(a)?, parse(b)?))
            });
            if let Some((start, end)) = bounds {
                inside = (start..end).contains(&address);
            } else if let Some(flags) = line.strip_prefix("VmFlags:") {
                if inside {
                    return flags.trim().to_string();
                }
            }
        }
        panic!("no mapping holds {address:#x}");
    }

    #[test]
    fn the_advice_covers_the_whole_huge_pages_inside_a_buffer_of_4_mib_or_more() {
        const MIB: usize = 1 << 20;
        assert_eq!(huge_pages_inside(4096, 4 * MIB - 1), None);
        assert_eq!(huge_pages_inside(4096, 4 * MIB), Some((2 * MIB, 2 * MIB)));
        assert_eq!(
            huge_pages_inside(2 * MIB, 8 * MIB),
            Some((2 * MIB, 8 * MIB))
        );
        assert_eq!(
            huge_pages_inside(2 * MIB + 16, 6 * MIB),
            Some((4 * MIB, 4 * MIB))
        );
        assert_eq!(
            huge_pages_inside(6 * MIB - 64, 7 * MIB),
            Some((6 * MIB, 6 * MIB))
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_large_buffer_is_advised_onto_huge_pages_and_keeps_its_values() {
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
            // A kernel without transparent huge pages: there is nothing to ask for.
            return;
        }
        let len = 2 * HUGE_PAGE_ADVICE_FROM / std::mem::size_of::<f32>();
        let mut values = try_vec::<f32>(len).expect("8 MiB");
        values.extend((0..len).map(|i| i as f32));
        let first_huge_page = (values.as_ptr() as usize).next_multiple_of(2 << 20);
        let flags = vm_flags_at(first_huge_page);
        // `hg`: the mapping was advised with MADV_HUGEPAGE.
        assert!(
            flags.split_whitespace().any(|f| f == "hg"),
            "VmFlags: {flags}"
        );
        assert!(values.iter().enumerate().all(|(i, &v)| v == i as f32));
        // A matrix allocated by `try_zeros` goes through the same buffer.
        let zeros = try_zeros::<f64>("test", 1024, 1024).expect("8 MiB");
        let first_huge_page = (zeros.as_ptr() as usize).next_multiple_of(2 << 20);
        assert!(vm_flags_at(first_huge_page)
            .split_whitespace()
            .any(|f| f == "hg"));
        assert!(zeros.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn max_abs_of_both_keeps_the_max_and_any_non_finite_value() {
        let seen = |values: &[f64]| crate::compute::kernels::max_abs(values);
        assert_eq!(seen(&[]), 0.0);
        assert_eq!(seen(&[1.0, -3.0, 2.0]), 3.0);
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(!seen(&[1.0, bad, 2.0]).is_finite());
            assert!(!seen(&[bad, 5.0]).is_finite());
            let (good, bad) = (seen(&[-4.0]), seen(&[bad]));
            assert!(!max_abs_of_both(good, bad).is_finite());
            assert!(!max_abs_of_both(bad, good).is_finite());
        }
        assert_eq!(max_abs_of_both(seen(&[-4.0]), seen(&[2.0])), 4.0);
        assert_eq!(max_abs_of_both(seen(&[2.0]), seen(&[-4.0])), 4.0);
    }

    #[test]
    fn finite_max_abs_bounds_or_names_the_first_bad_entry() {
        let a = array![[1.0, -3.5], [2.0, 0.5]];
        assert_eq!(finite_max_abs("x", a.view()).unwrap(), 3.5);
        // Strided (a transposed view) takes the fallback loop, with the same result.
        assert_eq!(max_abs(a.t()), 3.5);
        let b = array![[1.0, 2.0], [f64::INFINITY, f64::NAN]];
        for view in [b.view(), b.t()] {
            assert!(max_abs(view).is_nan());
        }
        // A strided view whose non-finite entry is followed by numbers.
        let c = array![[1.0, 0.0], [f64::NAN, 0.0], [0.5, 0.0]];
        assert!(max_abs(c.column(0).insert_axis(ndarray::Axis(1))).is_nan());
        assert!(check_finite("x", c.slice(ndarray::s![.., ..1])).is_err());
        match finite_max_abs("x", b.view()) {
            Err(Error::NonFiniteInput {
                what,
                row: 1,
                column: 0,
                value,
            }) => assert!(what == "x" && value == f64::INFINITY),
            other => panic!("expected the infinity at (1, 0), got {other:?}"),
        }
    }

    #[test]
    fn count_correct_counts_the_columns_whose_argmax_is_the_class() {
        // Columns' argmax: 1, 0 (a tie goes to the lowest index), 2 (NaN never wins).
        let out = array![[0.0, 5.0, f64::NAN], [1.0, 5.0, 0.0], [0.5, 1.0, 2.0]];
        assert_eq!(argmax_columns(out.view()), [1, 0, 2]);
        assert_eq!(count_correct(out.view(), &[1, 0, 2]), 3);
        assert_eq!(count_correct(out.view(), &[1, 1, 2]), 2);
        assert_eq!(count_correct(out.view(), &[0, 1, 0]), 0);
    }

    #[test]
    fn zeros_in_column_major_order_have_the_shape_asked_for_and_contiguous_columns() {
        let a = try_zeros_column_major::<f32>("test", 3, 5).unwrap();
        assert_eq!(a.dim(), (3, 5));
        assert!(a.iter().all(|&v| v == 0.0));
        assert!(a.t().is_standard_layout() && !a.is_standard_layout());
        assert!(matches!(
            try_zeros_column_major::<f64>("huge", usize::MAX, 2),
            Err(Error::TooLarge {
                rows: usize::MAX,
                columns: 2,
                ..
            })
        ));
    }

    #[test]
    fn an_aligned_copy_starts_on_a_cache_line_and_holds_the_same_entries() {
        // Several sizes, so that the allocator's start moves relative to a line; f32 from
        // a row-major source, f64 from a column-major one.
        for (rows, cols) in [(0, 0), (1, 1), (3, 5), (16, 784), (7, 13), (256, 784)] {
            let a = Array2::from_shape_fn((rows, cols), |(i, j)| (i * 1000 + j) as f32);
            let mut by_columns = Array2::<f64>::zeros((rows, cols).f());
            by_columns.assign(&a.mapv(f64::from));
            let copy32 = try_aligned_copy("w", a.view()).unwrap();
            let copy64 = try_aligned_copy("w", by_columns.view()).unwrap();
            assert_eq!(copy32, a, "{rows}x{cols}");
            assert_eq!(copy64, by_columns, "{rows}x{cols}");
            assert!(copy32.is_standard_layout() && copy64.is_standard_layout());
            if rows * cols > 0 {
                assert_eq!(copy32.as_ptr() as usize % 64, 0, "f32 {rows}x{cols}");
                assert_eq!(copy64.as_ptr() as usize % 64, 0, "f64 {rows}x{cols}");
            }
        }
    }

    #[test]
    fn finds_the_first_non_finite_entry() {
        let a = array![[1.0f32, 2.0], [f32::INFINITY, f32::NAN]];
        assert_eq!(
            first_non_finite(a.view()).map(|(r, c, _)| (r, c)),
            Some((1, 0))
        );
        let ok = array![[f32::MAX, f32::MAX]];
        assert_eq!(first_non_finite(ok.view()), None);
        assert!(check_finite("input", a.view()).is_err());
    }

    #[test]
    fn argmax_and_one_hot_agree() {
        let labels = [2, 0, 1, 2];
        let m: Array2<f64> = one_hot(&labels, 3).unwrap();
        assert_eq!(argmax_columns(m.view()), labels);
        assert!(one_hot::<f64>(&[3], 3).is_err());
        let with_nan = array![[f64::NAN], [1.0], [0.5]];
        assert_eq!(argmax_columns(with_nan.view()), vec![1]);
        // Ties go to the lowest index, as NumPy's and PyTorch's argmax.
        let ties = array![[0.5, 2.0], [0.5, 1.0], [0.1, 2.0]];
        assert_eq!(argmax_columns(ties.view()), vec![0, 0]);
        assert_eq!(column(&[1.0f32, 2.0]).dim(), (2, 1));
    }
}
