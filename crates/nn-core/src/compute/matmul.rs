//! Matrix products for the batched path: `C = alpha·A·B + beta·C` on ndarray views, split
//! over threads.

use ndarray::{ArrayView2, ArrayViewMut2, Axis};

use crate::Float;

/// Products smaller than this many multiply-adds stay on one thread: below it, handing
/// half to another thread costs more than it saves.
const PARALLEL_THRESHOLD: usize = 1 << 18;

/// The threads a product of `m × k` by `k × n` is worth: `threads`, or 1 when it is
/// smaller than [`matmul`] splits (a hand-off would cost more than it saves). For
/// callers that cut the product, and the passes around it, themselves.
pub fn threads_for(threads: usize, (m, k, n): (usize, usize, usize)) -> usize {
    if m.saturating_mul(n).saturating_mul(k) < PARALLEL_THRESHOLD || (m < 2 && n < 2) {
        1
    } else {
        threads.max(1)
    }
}

/// `C = alpha·A·B + beta·C`, with `A` `(m, k)`, `B` `(k, n)` and `C` `(m, n)` in any
/// memory layout (views of transposes included).
///
/// With `threads > 1` and a large enough product, `C` is cut into `threads` blocks of
/// columns (or of rows, when it has more rows than columns), computed in parallel on
/// threads by [`super::team::join`]; each block is an independent product, so the result
/// does not depend on the number of threads. `beta = 0` overwrites `C` without reading
/// it (NaN in `C` does not propagate).
///
/// # Panics
/// If the shapes do not fit.
pub fn matmul<F: Float>(
    alpha: F,
    a: ArrayView2<'_, F>,
    b: ArrayView2<'_, F>,
    beta: F,
    mut c: ArrayViewMut2<'_, F>,
    threads: usize,
) {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    assert!(
        k == k2 && c.dim() == (m, n),
        "matmul shapes: ({m}, {k})·({k2}, {n}) into {:?}",
        c.dim()
    );
    if threads_for(threads, (m, k, n)) <= 1 {
        return single(alpha, a, b, beta, c.view_mut());
    }
    if n >= m {
        let (mid, first, second) = super::rows::cut(n, threads);
        let (c1, c2) = c.split_at(Axis(1), mid);
        let (b1, b2) = b.split_at(Axis(1), mid);
        super::team::join(
            || matmul(alpha, a, b1, beta, c1, first),
            || matmul(alpha, a, b2, beta, c2, second),
        );
    } else {
        let (mid, first, second) = super::rows::cut(m, threads);
        let (c1, c2) = c.split_at(Axis(0), mid);
        let (a1, a2) = a.split_at(Axis(0), mid);
        super::team::join(
            || matmul(alpha, a1, b, beta, c1, first),
            || matmul(alpha, a2, b, beta, c2, second),
        );
    }
}

fn single<F: Float>(
    alpha: F,
    a: ArrayView2<'_, F>,
    b: ArrayView2<'_, F>,
    beta: F,
    mut c: ArrayViewMut2<'_, F>,
) {
    let ((m, k), n) = (a.dim(), b.ncols());
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if beta == F::zero() {
            c.fill(F::zero());
        } else {
            c.mapv_inplace(|v| v * beta);
        }
        return;
    }
    let (cs, ss) = (c.strides(), (a.strides(), b.strides()));
    let (c_rs, c_cs) = (cs[0], cs[1]);
    let ((a_rs, a_cs), (b_rs, b_cs)) = ((ss.0[0], ss.0[1]), (ss.1[0], ss.1[1]));
    // SAFETY: the pointers and strides come from live views of the stated shapes, `c` is
    // borrowed mutably so it cannot alias `a` or `b`, and gemm only reads `a` and `b`.
    // gemm computes dst = alpha·dst + beta·lhs·rhs: our beta is its alpha and our alpha is
    // its beta; with read_dst false it ignores dst's old values.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_cs,
            c_rs,
            beta != F::zero(),
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            beta,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, ShapeBuilder};

    fn data(rows: usize, cols: usize, seed: usize, f_order: bool) -> Array2<f64> {
        let shape = (rows, cols).set_f(f_order);
        Array2::from_shape_fn(shape, |(i, j)| {
            ((i * 31 + j * 17 + seed * 7) % 23) as f64 / 7.0 - 1.5
        })
    }

    #[test]
    fn matches_ndarray_for_layouts_transposes_and_threads() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (3, 5, 2),
            (17, 33, 9),
            (128, 96, 70),
            (70, 96, 128),
            (4, 0, 3),
        ] {
            for (fa, fb, fc) in [
                (false, false, false),
                (true, true, true),
                (false, true, false),
            ] {
                let a = data(m, k, 1, fa);
                let b = data(k, n, 2, fb);
                let c0 = data(m, n, 3, fc);
                for threads in [1, 2, 3] {
                    for (alpha, beta) in [(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25)] {
                        let mut c = c0.clone();
                        matmul(alpha, a.view(), b.view(), beta, c.view_mut(), threads);
                        let expected = a.dot(&b) * alpha + &c0 * beta;
                        for (x, y) in c.iter().zip(&expected) {
                            assert!((x - y).abs() < 1e-9, "({m},{k},{n}) threads {threads}");
                        }
                    }
                }
                // Transposed views, as the backward pass uses them.
                let mut c = Array2::zeros((k, n));
                let bt = data(m, n, 4, fb);
                matmul(1.0, a.t(), bt.view(), 0.0, c.view_mut(), 2);
                let expected = a.t().dot(&bt);
                assert!(c.iter().zip(&expected).all(|(x, y)| (x - y).abs() < 1e-9));
            }
        }
    }

    #[test]
    fn beta_zero_ignores_nan_in_the_output() {
        let a = data(4, 4, 1, false);
        let mut c = Array2::from_elem((4, 4), f64::NAN);
        matmul(1.0, a.view(), a.view(), 0.0, c.view_mut(), 1);
        assert!(c.iter().all(|v| v.is_finite()));
    }
}
