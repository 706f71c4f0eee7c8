//! Passes over a matrix split by rows over threads: the passes around a layer's product
//! (its bias before, its activation after) on a large batch, the gather of a shuffled
//! batch (on the transposed view: its columns), the sum of the threads' gradients and
//! the scan of a data set, which would otherwise leave all but one thread waiting.

use ndarray::{ArrayView2, ArrayViewMut2, Axis};

use crate::{tensor, Float};

/// Entries below which a pass stays on one thread: a hand-off costs more.
const SPLIT_ABOVE: usize = 1 << 16;

/// `f(rows, first_row)` on one block of `a`'s rows per thread, on up to `threads`
/// threads, cut as [`on_blocks_of_rows`] cuts them, the blocks' results merged by
/// `merge`; one call on all of `a` when it is small or `threads` is 1. `f` must not
/// depend on how the rows are cut.
pub fn on_rows<F: Float, R: Send>(
    a: ArrayViewMut2<'_, F>,
    threads: usize,
    f: &(impl Fn(ArrayViewMut2<'_, F>, usize) -> R + Sync),
    merge: &(impl Fn(R, R) -> R + Sync),
) -> R {
    let threads = if a.len() <= SPLIT_ABOVE { 1 } else { threads };
    on_blocks_of_rows([a], threads, &|[rows], first| f(rows, first), merge)
}

/// `f(blocks, first_row)` on blocks of the same rows of every view in `views` (which all
/// have the same number of rows), one block per thread on up to `threads` threads (by
/// [`super::team::join`]), the blocks' results merged by `merge`. The rows are cut as
/// [`super::matmul::matmul`] cuts them: thread `t` of `T` gets rows from `m·t/T`, with
/// the first block on this thread, so that a pass cut this way touches the rows the
/// product before it wrote on the same core. Unlike [`on_rows`], it cuts whatever the
/// size: the caller decides whether the work is worth `threads`.
///
/// # Panics
/// If the views have different numbers of rows (a broken invariant of the caller).
pub fn on_blocks_of_rows<'a, F: Float, R: Send, const N: usize>(
    views: [ArrayViewMut2<'a, F>; N],
    threads: usize,
    f: &(impl Fn([ArrayViewMut2<'a, F>; N], usize) -> R + Sync),
    merge: &(impl Fn(R, R) -> R + Sync),
) -> R {
    let rows = views.first().map_or(0, |v| v.nrows());
    assert!(
        views.iter().all(|v| v.nrows() == rows),
        "on_blocks_of_rows: views of different heights"
    );
    blocks(views, 0, threads, f, merge)
}

/// Where `len` rows or columns are cut in two for `threads` threads, and how many threads
/// each part gets: `(len·⌊T/2⌋/T, ⌊T/2⌋, ⌈T/2⌉)`. Cutting each part again the same way
/// starts thread `t` of `T` at `len·t/T`; [`super::matmul::matmul`] and
/// [`on_blocks_of_rows`] both cut this way, so that a pass over rows touches those the
/// product before it wrote on the same core.
pub(crate) fn cut(len: usize, threads: usize) -> (usize, usize, usize) {
    let (first, second) = (threads / 2, threads - threads / 2);
    (len * first / threads, first, second)
}

fn blocks<'a, F: Float, R: Send, const N: usize>(
    views: [ArrayViewMut2<'a, F>; N],
    first_row: usize,
    threads: usize,
    f: &(impl Fn([ArrayViewMut2<'a, F>; N], usize) -> R + Sync),
    merge: &(impl Fn(R, R) -> R + Sync),
) -> R {
    let rows = views.first().map_or(0, |v| v.nrows());
    if threads < 2 || rows < 2 {
        return f(views, first_row);
    }
    let (mid, left, right) = cut(rows, threads);
    let mid = mid.max(1);
    let mut halves = views.map(|v| {
        let (top, bottom) = v.split_at(Axis(0), mid);
        (Some(top), Some(bottom))
    });
    let top = std::array::from_fn(|i| halves[i].0.take().expect("taken once"));
    let bottom = std::array::from_fn(|i| halves[i].1.take().expect("taken once"));
    let (x, y) = super::team::join(
        || blocks(top, first_row, left, f, merge),
        || blocks(bottom, first_row + mid, right, f, merge),
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
    fn blocks_of_rows_are_cut_as_matmul_cuts_them_the_same_rows_of_every_view() {
        type Blocks = Vec<(usize, usize)>;
        for (rows, threads, cut) in [
            (256, 1, vec![(0, 256)]),
            (256, 2, vec![(0, 128), (128, 128)]),
            (255, 2, vec![(0, 127), (127, 128)]),
            (256, 3, vec![(0, 85), (85, 85), (170, 86)]),
            (256, 4, vec![(0, 64), (64, 64), (128, 64), (192, 64)]),
            (1, 4, vec![(0, 1)]),
            (3, 4, vec![(0, 1), (1, 1), (2, 1)]),
        ] {
            let mut a = Array2::<f32>::zeros((rows, 3));
            let mut b = Array2::<f32>::zeros((rows, 5));
            let blocks: Blocks = on_blocks_of_rows(
                [a.view_mut(), b.view_mut()],
                threads,
                &|[mut a, mut b], first| {
                    assert_eq!(a.nrows(), b.nrows());
                    for (k, (mut x, mut y)) in
                        a.rows_mut().into_iter().zip(b.rows_mut()).enumerate()
                    {
                        x.fill((first + k) as f32);
                        y.fill((first + k) as f32 + 0.5);
                    }
                    vec![(first, a.nrows())]
                },
                &|x: Blocks, y: Blocks| x.into_iter().chain(y).collect(),
            );
            assert_eq!(blocks, cut, "{rows} rows on {threads}");
            for i in 0..rows {
                assert!(
                    a.row(i).iter().all(|&v| v == i as f32),
                    "{rows} on {threads}"
                );
                assert!(b.row(i).iter().all(|&v| v == i as f32 + 0.5));
            }
        }
    }

    #[test]
    #[should_panic(expected = "views of different heights")]
    fn views_of_different_heights_are_a_broken_invariant() {
        let (mut a, mut b) = (Array2::<f32>::zeros((4, 2)), Array2::<f32>::zeros((5, 2)));
        on_blocks_of_rows([a.view_mut(), b.view_mut()], 2, &|_, _| (), &|(), ()| ());
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
