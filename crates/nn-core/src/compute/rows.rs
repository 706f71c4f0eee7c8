//! Passes over a matrix split by rows over threads: the passes around a layer's product
//! (its bias before, its activation after) on a large batch, the gather of a shuffled
//! batch (on the transposed view: its columns), the sum of the threads' gradients and
//! the scan of a data set, which would otherwise leave all but one thread waiting.

use ndarray::{ArrayView2, ArrayViewMut2, Axis};

use crate::{tensor, Float};

/// Entries below which a pass stays on one thread: a hand-off costs more.
const SPLIT_ABOVE: usize = 1 << 16;

/// `f(rows, first_row)` on halves of `a`'s rows, recursively, on up to `threads` threads
/// (by [`super::team::join`]), the halves' results merged by `merge`; one call on all of
/// `a` when it is small or `threads` is 1. `f` must not depend on how the rows are cut.
pub fn on_rows<F: Float, R: Send>(
    a: ArrayViewMut2<'_, F>,
    threads: usize,
    f: &(impl Fn(ArrayViewMut2<'_, F>, usize) -> R + Sync),
    merge: &(impl Fn(R, R) -> R + Sync),
) -> R {
    halves(a, 0, threads, f, merge)
}

fn halves<F: Float, R: Send>(
    a: ArrayViewMut2<'_, F>,
    first_row: usize,
    threads: usize,
    f: &(impl Fn(ArrayViewMut2<'_, F>, usize) -> R + Sync),
    merge: &(impl Fn(R, R) -> R + Sync),
) -> R {
    if threads < 2 || a.nrows() < 2 || a.len() <= SPLIT_ABOVE {
        return f(a, first_row);
    }
    let half = a.nrows() / 2;
    let (top, bottom) = a.split_at(Axis(0), half);
    let (x, y) = super::team::join(
        || halves(top, first_row, threads / 2, f, merge),
        || halves(bottom, first_row + half, threads - threads / 2, f, merge),
    );
    merge(x, y)
}

/// `max |a|`, or NaN if an entry is NaN or infinite, as
/// [`tensor::max_abs`](crate::tensor::max_abs) computes it: the scan of a whole data set,
/// which reads memory faster on two cores than on one. A contiguous matrix is cut in
/// halves of its memory (whatever its order) over up to `threads` threads, each scanned
/// by the vectorised kernel; a strided view is scanned on this thread.
pub fn max_abs<F: Float>(a: ArrayView2<'_, F>, threads: usize) -> F {
    match a.as_slice_memory_order() {
        Some(values) => max_abs_of_slice(values, threads),
        None => tensor::max_abs(a),
    }
}

fn max_abs_of_slice<F: Float>(values: &[F], threads: usize) -> F {
    if threads < 2 || values.len() <= SPLIT_ABOVE {
        return super::kernels::max_abs(values);
    }
    let (first, second) = values.split_at(values.len() / 2);
    let (x, y) = super::team::join(
        || max_abs_of_slice(first, threads / 2),
        || max_abs_of_slice(second, threads - threads / 2),
    );
    tensor::max_abs_of_both(x, y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn max_abs_on_threads_is_the_whole_matrix_s_and_keeps_non_finite_entries() {
        for (rows, cols, threads) in [(256, 784, 2), (300, 700, 3), (5, 20, 2), (256, 784, 1)] {
            let mut a = Array2::<f32>::from_shape_fn((rows, cols), |(i, j)| {
                ((i * 31 + j * 17) % 101) as f32 / 50.0 - 1.0
            });
            for at in [[rows - 1, cols / 2], [0, 1]] {
                let mut a = a.clone();
                a[at] = -7.5;
                assert_eq!(max_abs(a.view(), threads), 7.5);
                assert_eq!(max_abs(a.t(), threads), 7.5);
                // A strided view (every other column), cut by rows.
                let strided = a.slice(ndarray::s![.., ..;2]);
                let expected = if at[1] % 2 == 0 {
                    7.5
                } else {
                    tensor::max_abs(strided)
                };
                assert_eq!(max_abs(strided, threads), expected);
            }
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                for at in [[0, 0], [rows - 1, cols - 1], [rows / 2, 3]] {
                    a[at] = bad;
                    let m = max_abs(a.view(), threads);
                    assert!(!m.is_finite(), "{bad} at {at:?} on {threads}: {m}");
                    let m = max_abs(a.slice(ndarray::s![.., (at[1] % 2)..;2]), threads);
                    assert!(!m.is_finite(), "{bad} at {at:?} on {threads}, strided: {m}");
                    a[at] = 0.0;
                }
            }
        }
    }

    #[test]
    fn every_row_is_passed_once_with_its_index() {
        for (rows, cols, threads) in [(256, 4096, 2), (3, 100_000, 3), (10, 10, 4), (1000, 300, 1)]
        {
            let mut a = Array2::<f32>::zeros((rows, cols));
            let count = on_rows(
                a.view_mut(),
                threads,
                &|mut part, first| {
                    for (k, mut row) in part.rows_mut().into_iter().enumerate() {
                        row.fill((first + k) as f32);
                    }
                    part.nrows()
                },
                &|x, y| x + y,
            );
            assert_eq!(count, rows);
            for (i, row) in a.rows().into_iter().enumerate() {
                assert!(
                    row.iter().all(|&v| v == i as f32),
                    "{rows}x{cols} on {threads}"
                );
            }
        }
    }
}
