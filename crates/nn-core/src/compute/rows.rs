//! Passes over a matrix split by rows over threads: the passes around a layer's product
//! (its bias before, its activation after) on a large batch, the gather of a shuffled
//! batch (on the transposed view: its columns) and the sum of the threads' gradients,
//! which would otherwise leave all but one thread waiting.

use ndarray::{ArrayViewMut2, Axis};

use crate::Float;

/// Entries below which a pass stays on one thread: a hand-off costs more.
const SPLIT_ABOVE: usize = 1 << 16;

/// `f(rows, first_row)` on halves of `a`'s rows, recursively, on up to `threads` threads
/// (by [`super::team::join`]), the halves' results merged by `merge`; one call on all of `a` when it
/// is small or `threads` is 1. `f` must not depend on how the rows are cut.
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

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
