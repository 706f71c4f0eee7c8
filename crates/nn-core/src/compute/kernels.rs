//! Vector kernels for the per-sample hot path: dot products, matrix-vector products and
//! rank-1 updates on row-major matrices.
//!
//! A single sample makes every product a matrix-vector one, where a general matrix multiply
//! spends more time packing its operands than multiplying them. These kernels work on
//! contiguous rows instead. The portable versions use several independent accumulators so
//! that the compiler can vectorise them; on x86-64, explicit AVX2/FMA versions of the inner
//! loops are chosen at run time when the processor has those instructions, as
//! `matrixmultiply` does for its kernels.
//!
//! Results can differ in the last bits between the two code paths (a fused multiply-add
//! rounds once), but on one machine they are deterministic.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut2, Axis, Zip};

#[cfg(target_arch = "x86_64")]
use super::vector_unit::{vector_unit, VectorUnit};
use crate::Float;

/// Number of independent accumulators in a dot product: four AVX2 registers of `f32`.
const LANES: usize = 32;

/// `a·b + c` in two roundings: without FMA in the instruction set, `mul_add` would be a
/// slow library call.
#[inline(always)]
fn madd<F: Float>(a: F, b: F, c: F) -> F {
    a * b + c
}

#[inline(always)]
fn dot_impl<F: Float>(a: &[F], b: &[F]) -> F {
    dot_after_impl::<F, 0>([], [], a, b)
}

/// `a'·b` for `a' = a + Σ_u alphas[u]·vs[u]`, each entry of `a'` computed as `axpy_impl`
/// would and kept in a register (`a` is only read), then summed as `dot_impl` sums: the
/// bits of the updates followed by the product.
#[inline(always)]
fn dot_after_impl<F: Float, const K: usize>(alphas: [F; K], vs: [&[F]; K], a: &[F], b: &[F]) -> F {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let updated = |j: usize| {
        let mut w = a[j];
        for u in 0..K {
            w = madd::<F>(alphas[u], vs[u][j], w);
        }
        w
    };
    let mut acc = [F::zero(); LANES];
    let whole = n / LANES * LANES;
    for start in (0..whole).step_by(LANES) {
        for k in 0..LANES {
            acc[k] = madd::<F>(updated(start + k), b[start + k], acc[k]);
        }
    }
    let mut tail = F::zero();
    for (j, &bj) in b.iter().enumerate().skip(whole) {
        tail = madd::<F>(updated(j), bj, tail);
    }
    // Pairwise reduction of the accumulators.
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for k in 0..width {
            acc[k] += acc[k + width];
        }
    }
    acc[0] + tail
}

#[inline(always)]
fn max_abs_impl<F: Float>(v: &[F]) -> F {
    let mut max = [F::zero(); LANES];
    // `x * 0` is 0 for finite x and NaN otherwise: these sums flag non-finite entries
    // without a branch, so the loop vectorises.
    let mut flags = [F::zero(); LANES];
    let chunks = v.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        let c: &[F; LANES] = c.try_into().expect("chunks_exact gives LANES items");
        for k in 0..LANES {
            max[k] = max[k].max(c[k].abs());
            flags[k] += c[k] * F::zero();
        }
    }
    let mut m = rest.iter().fold(F::zero(), |m, &x| m.max(x.abs()));
    let mut flag = rest.iter().fold(F::zero(), |f, &x| f + x * F::zero());
    for k in 0..LANES {
        m = m.max(max[k]);
        flag += flags[k];
    }
    m + flag
}

#[inline(always)]
fn axpy_impl<F: Float>(alpha: F, x: &[F], y: &mut [F]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = madd::<F>(alpha, x, *y);
    }
}

/// `y[i] = b[i] + W[i,:]·x` for every row of a contiguous row-major `W`.
#[inline(always)]
fn gemv_bias_impl<F: Float>(w: &[F], cols: usize, x: &[F], b: &[F], y: &mut [F]) {
    if cols == 0 {
        // No column: each row's product is the empty sum (and rows cannot be cut into
        // chunks of zero columns).
        y.copy_from_slice(b);
        return;
    }
    for ((row, y), &b) in w.chunks_exact(cols).zip(y.iter_mut()).zip(b) {
        *y = b + dot_impl::<F>(row, x);
    }
}

/// `out = Wᵀ·v`, as the sum of the rows of `W` weighted by `v`.
#[inline(always)]
fn gemv_t_impl<F: Float>(w: &[F], cols: usize, v: &[F], out: &mut [F]) {
    out.iter_mut().for_each(|o| *o = F::zero());
    if cols == 0 {
        return;
    }
    for (row, &vi) in w.chunks_exact(cols).zip(v) {
        axpy_impl::<F>(vi, row, out);
    }
}

/// `W += alpha·u·vᵀ`, row by row.
#[inline(always)]
fn rank1_impl<F: Float>(w: &mut [F], cols: usize, alpha: F, u: &[F], v: &[F]) {
    if cols == 0 {
        return;
    }
    for (row, &ui) in w.chunks_exact_mut(cols).zip(u) {
        axpy_impl::<F>(alpha * ui, v, row);
    }
}

// The explicit intrinsics, in their own files: one macro body (`simd.rs`) written out for
// AVX2 and for AVX-512.
#[cfg(target_arch = "x86_64")]
#[macro_use]
mod simd;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

/// Forwards the `Sealed` kernel methods of one float type to its functions in `avx2.rs`
/// and `avx512.rs`.
#[cfg(target_arch = "x86_64")]
macro_rules! sealed_kernels {
    ($t:ty, $dot:ident, $dot4:ident, $dot4x2:ident, $axpy:ident, $axpy_dot4:ident,
     $max_abs:ident, $gemv_t:ident) => {
        impl crate::float::sealed::Sealed for $t {
            unsafe fn dot_avx2(a: &[$t], b: &[$t]) -> $t {
                // SAFETY: the caller checked AVX2 and FMA; no update.
                unsafe { avx2::$dot::<0>([], [], a, b) }
            }
            unsafe fn dot_after_avx2<const K: usize>(
                alphas: [$t; K],
                vs: [&[$t]; K],
                a: &[$t],
                b: &[$t],
            ) -> $t {
                // SAFETY: the caller checked AVX2 and FMA and the lengths.
                unsafe { avx2::$dot(alphas, vs, a, b) }
            }
            unsafe fn dot4_avx2(rows: [&[$t]; 4], x: &[$t]) -> [$t; 4] {
                // SAFETY: the caller checked AVX2 and FMA.
                unsafe { avx2::$dot4(rows, x) }
            }
            unsafe fn dot4x2_avx2(rows: [&[$t]; 4], x: [&[$t]; 2]) -> [[$t; 4]; 2] {
                // SAFETY: the caller checked AVX2 and FMA.
                unsafe { avx2::$dot4x2(rows, x) }
            }
            unsafe fn axpy_avx2(alpha: $t, x: &[$t], y: &mut [$t]) {
                // SAFETY: the caller checked AVX2 and FMA.
                unsafe { avx2::$axpy(alpha, x, y) }
            }
            unsafe fn axpy_dot4_avx2<const K: usize, const STORE: bool>(
                alphas: [[$t; 4]; K],
                vs: [&[$t]; K],
                x: &[$t],
                rows: [*mut $t; 4],
                n: usize,
            ) -> [$t; 4] {
                // SAFETY: the caller checked AVX2 and FMA and the rows.
                unsafe { avx2::$axpy_dot4::<K, STORE>(alphas, vs, x, rows, n) }
            }
            unsafe fn max_abs_avx2(v: &[$t]) -> $t {
                // SAFETY: the caller checked AVX2 and FMA.
                unsafe { avx2::$max_abs(v) }
            }
            unsafe fn gemv_t_avx2(w: &[$t], cols: usize, v: &[$t], out: &mut [$t]) {
                // SAFETY: the caller checked AVX2 and FMA and the lengths.
                unsafe { avx2::$gemv_t(w, cols, v, out) }
            }
            unsafe fn dot_avx512(a: &[$t], b: &[$t]) -> $t {
                // SAFETY: the caller checked AVX-512F, AVX2 and FMA; no update.
                unsafe { avx512::$dot::<0>([], [], a, b) }
            }
            unsafe fn dot_after_avx512<const K: usize>(
                alphas: [$t; K],
                vs: [&[$t]; K],
                a: &[$t],
                b: &[$t],
            ) -> $t {
                // SAFETY: the caller checked AVX-512F, AVX2 and FMA and the lengths.
                unsafe { avx512::$dot(alphas, vs, a, b) }
            }
            unsafe fn dot4_avx512(rows: [&[$t]; 4], x: &[$t]) -> [$t; 4] {
                // SAFETY: the caller checked AVX-512F, AVX2 and FMA.
                unsafe { avx512::$dot4(rows, x) }
            }
            unsafe fn dot4x2_avx512(rows: [&[$t]; 4], x: [&[$t]; 2]) -> [[$t; 4]; 2] {
                // SAFETY: the caller checked AVX-512F, AVX2 and FMA.
                unsafe { avx512::$dot4x2(rows, x) }
            }
            unsafe fn axpy_avx512(alpha: $t, x: &[$t], y: &mut [$t]) {
                // SAFETY: the caller checked AVX-512F, AVX2 and FMA.
                unsafe { avx512::$axpy(alpha, x, y) }
            }
            unsafe fn axpy_dot4_avx512<const K: usize, const STORE: bool>(
                alphas: [[$t; 4]; K],
                vs: [&[$t]; K],
                x: &[$t],
                rows: [*mut $t; 4],
                n: usize,
            ) -> [$t; 4] {
                // SAFETY: the caller checked AVX-512F, AVX2 and FMA and the rows.
                unsafe { avx512::$axpy_dot4::<K, STORE>(alphas, vs, x, rows, n) }
            }
            unsafe fn max_abs_avx512(v: &[$t]) -> $t {
                // SAFETY: the caller checked AVX-512F, AVX2 and FMA.
                unsafe { avx512::$max_abs(v) }
            }
            unsafe fn gemv_t_avx512(w: &[$t], cols: usize, v: &[$t], out: &mut [$t]) {
                // SAFETY: the caller checked AVX-512F, AVX2 and FMA and the lengths.
                unsafe { avx512::$gemv_t(w, cols, v, out) }
            }
        }
    };
}
#[cfg(target_arch = "x86_64")]
sealed_kernels!(
    f32,
    dot_f32,
    dot4_f32,
    dot4x2_f32,
    axpy_f32,
    axpy_dot4_f32,
    max_abs_f32,
    gemv_t_f32
);
#[cfg(target_arch = "x86_64")]
sealed_kernels!(
    f64,
    dot_f64,
    dot4_f64,
    dot4x2_f64,
    axpy_f64,
    axpy_dot4_f64,
    max_abs_f64,
    gemv_t_f64
);

/// The vector unit the kernels run on: [`vector_unit`], or in tests the one a test chose.
#[cfg(target_arch = "x86_64")]
#[inline]
fn unit() -> VectorUnit {
    #[cfg(test)]
    if let Some(unit) = tests::FORCED.get() {
        return unit;
    }
    vector_unit()
}

/// Runs the widest vector version of a kernel the processor has ([`vector_unit`]), else
/// the portable one.
macro_rules! dispatch {
    ($name:ident, $portable:ident ( $($arg:expr),* )) => {{
        #[cfg(target_arch = "x86_64")]
        match unit() {
            // SAFETY: the processor supports AVX-512F, AVX2 and FMA (`vector_unit`).
            VectorUnit::Avx512 => return unsafe { avx512::$name($($arg),*) },
            // SAFETY: the processor supports AVX2 and FMA (`vector_unit`).
            VectorUnit::Avx2 => return unsafe { avx2::$name($($arg),*) },
            VectorUnit::Baseline => {}
        }
        $portable($($arg),*)
    }};
}

/// The dot product `Σ_i a_i·b_i` of two slices of equal length (the extra entries of the
/// longer one, if any, are ignored).
pub fn dot<F: Float>(a: &[F], b: &[F]) -> F {
    dispatch!(dot, portable_dot(a, b))
}

fn portable_dot<F: Float>(a: &[F], b: &[F]) -> F {
    dot_impl::<F>(a, b)
}

/// The largest magnitude `max_i |v_i|` (0 for an empty slice), or NaN if some entry is
/// NaN or infinite: one pass that both bounds and checks a vector.
pub fn max_abs<F: Float>(v: &[F]) -> F {
    dispatch!(max_abs, max_abs_impl(v))
}

/// `y = W·x + b`: the forward product of a dense layer on one sample.
///
/// # Shapes
/// `w` is `(rows, cols)`; `x` has `cols` entries, `b` and `y` have `rows`.
///
/// # Panics
/// If the lengths do not fit `w`.
pub fn gemv_bias<F: Float>(w: ArrayView2<'_, F>, x: &[F], b: &[F], y: &mut [F]) {
    let (rows, cols) = w.dim();
    assert!(
        x.len() == cols && b.len() == rows && y.len() == rows,
        "gemv_bias shapes"
    );
    match w.as_slice() {
        Some(w) => dispatch!(gemv_bias, portable_gemv_bias(w, cols, x, b, y)),
        None => Zip::from(y)
            .and(w.axis_iter(Axis(0)))
            .and(b)
            .for_each(|y, row, &b| {
                *y = b + row.iter().zip(x).fold(F::zero(), |s, (&w, &x)| s + w * x)
            }),
    }
}

fn portable_gemv_bias<F: Float>(w: &[F], cols: usize, x: &[F], b: &[F], y: &mut [F]) {
    gemv_bias_impl::<F>(w, cols, x, b, y)
}

/// `y_j = W·x_j + b` for each column `x_j` of a small batch `x`: [`gemv_bias`] on two
/// columns at a time, which reads each row of `W` once for both. Each column's output has
/// the bits [`gemv_bias`] gives that column alone, so a sample's inference does not
/// depend on whether it came alone or with a few others.
///
/// For a batch of a few samples this is several times faster than a general matrix
/// product, which copies (packs) the whole of `W` at every call: 784→256 in `f32` took
/// 86 µs for 2 to 16 samples through gemm on an Intel Xeon, where one sample takes 13.
/// Strided columns (a row-major batch) are copied into contiguous buffers first.
///
/// # Shapes
/// `w` is `(rows, cols)`, `x` is `(cols, n)`, `b` has `rows` entries and `y` is `(rows, n)`.
///
/// # Panics
/// If the shapes do not fit.
pub fn gemv_bias_columns<F: Float>(
    w: ArrayView2<'_, F>,
    x: ArrayView2<'_, F>,
    b: &[F],
    mut y: ArrayViewMut2<'_, F>,
) {
    let (rows, cols) = w.dim();
    let n = x.ncols();
    assert!(
        x.nrows() == cols && b.len() == rows && y.dim() == (rows, n),
        "gemv_bias_columns shapes"
    );
    // Column j of x as a slice: itself when contiguous, else copied into `buffer`.
    fn column<'a, F: Float>(x: ArrayView2<'a, F>, j: usize, buffer: &'a mut [F]) -> &'a [F] {
        if let Some(column) = x.index_axis_move(Axis(1), j).to_slice() {
            return column;
        }
        buffer
            .iter_mut()
            .zip(x.column(j))
            .for_each(|(b, &v)| *b = v);
        buffer
    }
    with_scratch(2 * cols + 2 * rows, |scratch: &mut [F]| {
        let (xs, ys) = scratch.split_at_mut(2 * cols);
        let (x0, x1) = xs.split_at_mut(cols);
        let (y0, y1) = ys.split_at_mut(rows);
        let mut j = 0;
        while j + 2 <= n {
            let x = [column(x, j, &mut *x0), column(x, j + 1, &mut *x1)];
            match w.as_slice() {
                Some(w) => gemv_bias_pair(w, cols, x, b, [&mut *y0, &mut *y1]),
                None => {
                    gemv_bias(w, x[0], b, y0);
                    gemv_bias(w, x[1], b, y1);
                }
            }
            y.column_mut(j).assign(&ArrayView1::from(&*y0));
            y.column_mut(j + 1).assign(&ArrayView1::from(&*y1));
            j += 2;
        }
        if j < n {
            gemv_bias(w, column(x, j, x0), b, y0);
            y.column_mut(j).assign(&ArrayView1::from(&*y0));
        }
    });
}

/// Runs `body` on a buffer of `len` entries of this thread's own, kept from call to call
/// (it holds the largest length asked for so far), so that a training step on a small
/// batch allocates nothing. Its entries are left over from the last call: `body` must
/// write before it reads.
fn with_scratch<F: Float, R>(len: usize, body: impl FnOnce(&mut [F]) -> R) -> R {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|cell| {
        // Never borrowed twice: no body calls back into this function.
        let mut buffer = cell.borrow_mut();
        let words = (len * std::mem::size_of::<F>()).div_ceil(std::mem::size_of::<f64>());
        if buffer.len() < words {
            buffer.resize(words, 0.0);
        }
        // SAFETY: F is f32 or f64 (`Float` is sealed), for which every bit pattern is a
        // value and whose alignment is at most f64's; the `len` entries lie within the
        // buffer's `words` f64s, and the borrow of the buffer outlives the slice.
        let scratch =
            unsafe { std::slice::from_raw_parts_mut(buffer.as_mut_ptr().cast::<F>(), len) };
        body(scratch)
    })
}

fn gemv_bias_pair<F: Float>(w: &[F], cols: usize, x: [&[F]; 2], b: &[F], y: [&mut [F]; 2]) {
    dispatch!(gemv_bias_pair, portable_gemv_bias_pair(w, cols, x, b, y))
}

fn portable_gemv_bias_pair<F: Float>(
    w: &[F],
    cols: usize,
    x: [&[F]; 2],
    b: &[F],
    y: [&mut [F]; 2],
) {
    let [y0, y1] = y;
    gemv_bias_impl::<F>(w, cols, x[0], b, y0);
    gemv_bias_impl::<F>(w, cols, x[1], b, y1);
}

/// `out = Wᵀ·v`: a layer's input gradient `dx = Wᵀ·delta` on one sample.
///
/// # Shapes
/// `w` is `(rows, cols)`; `v` has `rows` entries and `out` has `cols`.
///
/// # Panics
/// If the lengths do not fit `w`.
pub fn gemv_t<F: Float>(w: ArrayView2<'_, F>, v: &[F], out: &mut [F]) {
    let (rows, cols) = w.dim();
    assert!(v.len() == rows && out.len() == cols, "gemv_t shapes");
    match w.as_slice() {
        Some(w) => dispatch!(gemv_t, portable_gemv_t(w, cols, v, out)),
        None => {
            out.iter_mut().for_each(|o| *o = F::zero());
            for (row, &vi) in w.axis_iter(Axis(0)).zip(v) {
                for (o, &w) in out.iter_mut().zip(row) {
                    *o += vi * w;
                }
            }
        }
    }
}

fn portable_gemv_t<F: Float>(w: &[F], cols: usize, v: &[F], out: &mut [F]) {
    gemv_t_impl::<F>(w, cols, v, out)
}

/// `W += alpha·u·vᵀ`: the SGD update `W -= learning_rate·delta·xᵀ` of one sample, without
/// forming the gradient matrix.
///
/// # Shapes
/// `w` is `(rows, cols)`; `u` has `rows` entries and `v` has `cols`.
///
/// # Panics
/// If the lengths do not fit `w`.
pub fn rank1_update<F: Float>(mut w: ArrayViewMut2<'_, F>, alpha: F, u: &[F], v: &[F]) {
    let (rows, cols) = w.dim();
    assert!(u.len() == rows && v.len() == cols, "rank1_update shapes");
    match w.as_slice_mut() {
        Some(w) => dispatch!(rank1, portable_rank1(w, cols, alpha, u, v)),
        None => {
            for (mut row, &ui) in w.axis_iter_mut(Axis(0)).zip(u) {
                for (w, &vj) in row.iter_mut().zip(v) {
                    *w += alpha * ui * vj;
                }
            }
        }
    }
}

/// A rank-1 update `W += alpha·u·vᵀ` of a matrix, waiting to be applied by
/// [`rank1_gemv_bias`] or to be seen by [`gemv_bias_after`]: a per-sample SGD step's
/// update of a layer's weights is `alpha = −learning_rate`, `u = delta`, `v = x`.
#[derive(Clone, Copy, Debug)]
pub struct Rank1<'a, F> {
    /// The scale of the update.
    pub alpha: F,
    /// The column factor, one entry a row of `W`.
    pub u: &'a [F],
    /// The row factor, one entry a column of `W`.
    pub v: &'a [F],
}

/// At most this many updates are added in registers by one pass of [`rank1_gemv_bias`] or
/// [`gemv_bias_after`]; [`rank1_gemv_bias`] applies any before the last four by
/// [`rank1_update`] first.
pub const MAX_FUSED_UPDATES: usize = 4;

/// Deferred rank-1 updates fused with the next product: `W += alpha_u·u_u·v_uᵀ` for each
/// of `updates` in turn, then `y = W·x + b` with the updated `W`, in one pass over `W`.
///
/// A per-sample SGD step updates the first layer's weights, and the next step's forward
/// product reads them again. Here each vector of `W` is loaded once, updated, stored and
/// multiplied while in a register: one load and one store of `W` instead of two loads
/// and one store, which is what the two kernels' time is made of (784→16 in `f32` is
/// 49 KB, past the L1 cache). With two updates, one store serves two steps (see
/// [`gemv_bias_after`]). The results are bit for bit those of [`rank1_update`] for each
/// update followed by [`gemv_bias`], whose four-row blocks and accumulators this follows;
/// with no update, this is [`gemv_bias`].
///
/// Successive calls on a thread walk the four-row blocks in alternate directions: a call
/// then starts on the blocks the previous one ended on, which are still in the L1 cache,
/// where a walk in the same direction would find the cache holding only the end of `W`
/// and evict it before reaching it (a `SampleStream` step of 784→16→16→10 on an Intel
/// Xeon with AVX-512, criterion's hot samples: `f32` 1.62–1.65 → 1.50–1.57 µs, `f64`
/// 2.76–2.84 → 2.66–2.76 µs). Each row's values do not depend on the order of the rows.
///
/// # Shapes
/// `w` is `(rows, cols)`; each update's `u`, and `b` and `y`, have `rows` entries; each
/// update's `v`, and `x`, have `cols`.
///
/// # Panics
/// If the lengths do not fit `w`.
pub fn rank1_gemv_bias<F: Float>(
    mut w: ArrayViewMut2<'_, F>,
    updates: &[Rank1<'_, F>],
    x: &[F],
    b: &[F],
    y: &mut [F],
) {
    check_fused_shapes(w.dim(), updates, x, b, y);
    let (earlier, updates) = updates.split_at(updates.len().saturating_sub(MAX_FUSED_UPDATES));
    for update in earlier {
        rank1_update(w.view_mut(), update.alpha, update.u, update.v);
    }
    let (rows, cols) = w.dim();
    match w.as_slice_mut() {
        // SAFETY: `w` is this call's `&mut` borrow of `rows·cols` contiguous entries.
        Some(w) => unsafe { fused((w.as_mut_ptr(), rows, cols), updates, x, b, y, true) },
        None => {
            for update in updates {
                rank1_update(w.view_mut(), update.alpha, update.u, update.v);
            }
            gemv_bias(w.view(), x, b, y);
        }
    }
}

/// `y = W'·x + b` for the `W'` that `W` becomes after `updates` (as [`rank1_update`] would
/// apply them, in turn), without changing `W`: the updated entries live in registers only.
///
/// A per-sample SGD step in a `SampleStream` leaves its first-layer update pending, and
/// the next step's product is taken through it: this reads `W` once and writes nothing,
/// and every second step [`rank1_gemv_bias`] applies the two pending updates with one
/// store of `W`, where storing at every step would write `W` back twice. The outputs are
/// bit for bit those of applying the updates, then [`gemv_bias`].
///
/// A `W` that is not contiguous is copied first.
///
/// # Shapes
/// As [`rank1_gemv_bias`].
///
/// # Panics
/// If the lengths do not fit `w`, or with more than [`MAX_FUSED_UPDATES`] updates.
pub fn gemv_bias_after<F: Float>(
    w: ArrayView2<'_, F>,
    updates: &[Rank1<'_, F>],
    x: &[F],
    b: &[F],
    y: &mut [F],
) {
    check_fused_shapes(w.dim(), updates, x, b, y);
    assert!(
        updates.len() <= MAX_FUSED_UPDATES,
        "gemv_bias_after: more than {MAX_FUSED_UPDATES} updates"
    );
    let (rows, cols) = w.dim();
    match w.as_slice() {
        // SAFETY: `w` holds `rows·cols` contiguous entries; without `store`, nothing
        // writes through the pointer.
        Some(w) => unsafe { fused((w.as_ptr().cast_mut(), rows, cols), updates, x, b, y, false) },
        None => rank1_gemv_bias(w.to_owned().view_mut(), updates, x, b, y),
    }
}

fn check_fused_shapes<F>(
    (rows, cols): (usize, usize),
    updates: &[Rank1<'_, F>],
    x: &[F],
    b: &[F],
    y: &[F],
) {
    assert!(
        updates
            .iter()
            .all(|update| update.u.len() == rows && update.v.len() == cols)
            && x.len() == cols
            && b.len() == rows
            && y.len() == rows,
        "rank1_gemv_bias shapes"
    );
}

/// [`rank1_gemv_bias`] (`store`) or [`gemv_bias_after`] on a contiguous `w`, with the
/// number of updates made a constant for the kernels.
///
/// # Safety
/// `w` points to `rows·cols` entries, writable when `store`, that no other argument
/// overlaps; the other lengths fit (checked by the caller); at most
/// [`MAX_FUSED_UPDATES`] updates.
unsafe fn fused<F: Float>(
    w: (*mut F, usize, usize),
    updates: &[Rank1<'_, F>],
    x: &[F],
    b: &[F],
    y: &mut [F],
    store: bool,
) {
    thread_local! {
        static BACKWARDS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    let backwards = BACKWARDS.with(|flag| flag.replace(!flag.get()));
    /// The updates' scales and factors as arrays of `K`.
    fn split<'a, F: Float, const K: usize>(
        updates: &[Rank1<'a, F>],
    ) -> ([F; K], [&'a [F]; K], [&'a [F]; K]) {
        (
            std::array::from_fn(|u| updates[u].alpha),
            std::array::from_fn(|u| updates[u].u),
            std::array::from_fn(|u| updates[u].v),
        )
    }
    let order = (backwards, store);
    // SAFETY: passed on from this function's caller.
    unsafe {
        match updates.len() {
            0 => fused_k::<F, 0>(w, split(updates), x, b, y, order),
            1 => fused_k::<F, 1>(w, split(updates), x, b, y, order),
            2 => fused_k::<F, 2>(w, split(updates), x, b, y, order),
            3 => fused_k::<F, 3>(w, split(updates), x, b, y, order),
            4 => fused_k::<F, 4>(w, split(updates), x, b, y, order),
            _ => unreachable!("at most MAX_FUSED_UPDATES updates"),
        }
    }
}

/// [`fused`] with `K` updates, on the widest vector unit.
///
/// # Safety
/// As [`fused`].
unsafe fn fused_k<F: Float, const K: usize>(
    w: (*mut F, usize, usize),
    updates: ([F; K], [&[F]; K], [&[F]; K]),
    x: &[F],
    b: &[F],
    y: &mut [F],
    order: (bool, bool),
) {
    #[cfg(target_arch = "x86_64")]
    match unit() {
        // SAFETY: the processor supports AVX-512F, AVX2 and FMA (`vector_unit`); the
        // rest is this function's caller's promise.
        VectorUnit::Avx512 => {
            return unsafe { avx512::rank1_gemv_bias::<F, K>(w, updates, x, b, y, order) }
        }
        // SAFETY: the processor supports AVX2 and FMA (`vector_unit`); as above.
        VectorUnit::Avx2 => {
            return unsafe { avx2::rank1_gemv_bias::<F, K>(w, updates, x, b, y, order) }
        }
        VectorUnit::Baseline => {}
    }
    // SAFETY: this function's caller's promise.
    unsafe { portable_rank1_gemv_bias::<F, K>(w, updates, x, b, y, order) }
}

/// Row by row: each row is updated and multiplied while it is in L1 (the portable
/// kernels' products are row by row too, so the bits are theirs); the rows from the last
/// when `backwards`.
///
/// # Safety
/// As [`fused`].
unsafe fn portable_rank1_gemv_bias<F: Float, const K: usize>(
    (w, rows, cols): (*mut F, usize, usize),
    (alphas, us, vs): ([F; K], [&[F]; K], [&[F]; K]),
    x: &[F],
    b: &[F],
    y: &mut [F],
    (backwards, store): (bool, bool),
) {
    if cols == 0 {
        y.copy_from_slice(b);
        return;
    }
    let one_row = |r: usize| {
        let coefficients: [F; K] = std::array::from_fn(|u| alphas[u] * us[u][r]);
        let row = w.wrapping_add(r * cols);
        // SAFETY: row `r` of `w` holds `cols` entries (writable when `store`) that no
        // other argument overlaps (this function's caller's promise).
        y[r] = b[r]
            + unsafe {
                if store {
                    let row = std::slice::from_raw_parts_mut(row, cols);
                    for u in 0..K {
                        axpy_impl::<F>(coefficients[u], vs[u], row);
                    }
                    dot_impl::<F>(row, x)
                } else {
                    let row = std::slice::from_raw_parts(row.cast_const(), cols);
                    dot_after_impl::<F, K>(coefficients, vs, row, x)
                }
            };
    };
    if backwards {
        (0..rows).rev().for_each(one_row);
    } else {
        (0..rows).for_each(one_row);
    }
}

fn portable_rank1<F: Float>(w: &mut [F], cols: usize, alpha: F, u: &[F], v: &[F]) {
    rank1_impl::<F>(w, cols, alpha, u, v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::vector_unit::{vector_unit, VectorUnit};
    use ndarray::{Array2, ShapeBuilder};

    fn data(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
        // A small deterministic generator is enough for test data.
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        Array2::from_shape_simple_fn((rows, cols), || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
    }

    #[test]
    fn kernels_agree_with_ndarray_on_every_path() {
        for (rows, cols) in [(1, 1), (3, 31), (16, 784), (10, 16), (7, 65)] {
            let w = data(rows, cols, 1);
            let x = data(cols, 1, 2).into_raw_vec_and_offset().0;
            let b = data(rows, 1, 3).into_raw_vec_and_offset().0;
            let v = data(rows, 1, 4).into_raw_vec_and_offset().0;
            let x_col = ndarray::aview1(&x);
            let v_col = ndarray::aview1(&v);
            let expected_y = w.dot(&x_col) + ndarray::aview1(&b);
            let expected_t = w.t().dot(&v_col);
            let mut expected_w = w.clone();
            for i in 0..rows {
                for j in 0..cols {
                    expected_w[(i, j)] += 0.5 * v[i] * x[j];
                }
            }
            // Both the dispatched (possibly AVX2) and the portable code, and the fallback
            // for a non-contiguous (column-major) matrix.
            let w_f = w.t().as_standard_layout().reversed_axes().to_owned();
            assert_eq!(w_f, w);
            for which in 0..3 {
                let mut y = vec![0.0; rows];
                let mut t = vec![0.0; cols];
                let mut updated = if which == 2 { w_f.clone() } else { w.clone() };
                match which {
                    0 => {
                        gemv_bias(w.view(), &x, &b, &mut y);
                        gemv_t(w.view(), &v, &mut t);
                        rank1_update(updated.view_mut(), 0.5, &v, &x);
                    }
                    1 => {
                        portable_gemv_bias(w.as_slice().unwrap(), cols, &x, &b, &mut y);
                        portable_gemv_t(w.as_slice().unwrap(), cols, &v, &mut t);
                        portable_rank1(updated.as_slice_mut().unwrap(), cols, 0.5, &v, &x);
                    }
                    _ => {
                        gemv_bias(w_f.view(), &x, &b, &mut y);
                        gemv_t(w_f.view(), &v, &mut t);
                        rank1_update(updated.view_mut(), 0.5, &v, &x);
                    }
                }
                for (a, e) in y.iter().zip(&expected_y) {
                    assert!(
                        (a - e).abs() < 1e-12,
                        "gemv_bias {rows}x{cols} path {which}"
                    );
                }
                for (a, e) in t.iter().zip(&expected_t) {
                    assert!((a - e).abs() < 1e-12, "gemv_t {rows}x{cols} path {which}");
                }
                for (a, e) in updated.iter().zip(&expected_w) {
                    assert!((a - e).abs() < 1e-12, "rank1 {rows}x{cols} path {which}");
                }
            }
            assert!((dot(&x, &x) - x.iter().map(|v| v * v).sum::<f64>()).abs() < 1e-12);
            let largest = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            assert_eq!(max_abs(&x), largest);
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let mut with_bad = x.clone();
                with_bad[cols / 2] = bad;
                assert!(max_abs(&with_bad).is_nan(), "{bad} in {cols} entries");
            }
        }
    }

    thread_local! {
        /// The vector unit the kernels run on in this test thread, if a test chose one.
        pub(super) static FORCED: std::cell::Cell<Option<VectorUnit>> =
            const { std::cell::Cell::new(None) };
    }

    /// Which implementation a test runs: the public kernel dispatched to one vector unit
    /// the processor has, or the portable function called directly, so that every path
    /// is checked on a machine with AVX-512 (the AVX2 one included).
    #[derive(Clone, Copy, Debug)]
    enum Path {
        Dispatched(VectorUnit),
        Portable,
    }

    /// Every path this processor can run: each vector unit up to [`vector_unit`], and
    /// the portable functions.
    fn paths() -> Vec<Path> {
        let units = match vector_unit() {
            VectorUnit::Avx512 => &[VectorUnit::Avx512, VectorUnit::Avx2, VectorUnit::Baseline][..],
            VectorUnit::Avx2 => &[VectorUnit::Avx2, VectorUnit::Baseline][..],
            VectorUnit::Baseline => &[VectorUnit::Baseline][..],
        };
        let mut paths: Vec<Path> = units.iter().map(|&u| Path::Dispatched(u)).collect();
        paths.push(Path::Portable);
        paths
    }

    /// Makes the kernels of this thread run on `path`'s vector unit.
    fn force(path: Path) {
        FORCED.set(match path {
            Path::Dispatched(unit) => Some(unit),
            Path::Portable => None,
        });
    }

    /// `len` values in `[-1, 1)` from a seed, as `F`.
    fn values<F: Float>(len: usize, seed: u64) -> Vec<F> {
        data(len.max(1), 1, seed)
            .iter()
            .take(len)
            .map(|&v| F::from_f64(v))
            .collect()
    }

    /// Whether `actual` is within rounding of `exact`, the sum of terms whose magnitudes
    /// add up to `magnitude`: each of up to `terms` additions and products rounds once.
    fn close<F: Float>(actual: F, exact: f64, magnitude: f64, terms: usize) -> bool {
        let eps = F::epsilon().as_f64();
        (actual.as_f64() - exact).abs() <= 2.0 * (terms as f64 + 2.0) * eps * magnitude + 1e-300
    }

    /// Every vector kernel, on every length 0..=83 (every remainder of the 16-, 8- and
    /// 4-lane loops and of the 32-wide accumulators, past two full blocks of AVX-512) and on slices starting
    /// at 0 to 3 elements past an aligned address, against a plain f64 loop.
    fn vector_kernels_on_every_length_and_offset<F: Float>() {
        for path in paths() {
            force(path);
            for len in 0..=(5 * 16 + 3) {
                for offset in 0..4 {
                    let a = values::<F>(len + offset, 11 + len as u64);
                    let b = values::<F>(len + offset, 97 + len as u64);
                    let (a, b) = (&a[offset..], &b[offset..]);
                    let what = format!("{path:?} {} len {len} offset {offset}", F::DTYPE);

                    let d = match path {
                        Path::Dispatched(_) => dot(a, b),
                        Path::Portable => portable_dot(a, b),
                    };
                    let exact: f64 = a.iter().zip(b).map(|(x, y)| x.as_f64() * y.as_f64()).sum();
                    let magnitude: f64 = a
                        .iter()
                        .zip(b)
                        .map(|(x, y)| (x.as_f64() * y.as_f64()).abs())
                        .sum();
                    assert!(
                        close(d, exact, magnitude, len),
                        "dot {what}: {d} vs {exact}"
                    );

                    let m = match path {
                        Path::Dispatched(_) => max_abs(a),
                        Path::Portable => max_abs_impl(a),
                    };
                    let largest = a.iter().fold(F::zero(), |m, &v| m.max(v.abs()));
                    assert_eq!(m, largest, "max_abs {what}");
                    // A non-finite entry anywhere, the tail included, makes it NaN.
                    if offset == 0 {
                        for at in 0..len {
                            for bad in [F::nan(), F::infinity(), F::neg_infinity()] {
                                let mut with_bad = a.to_vec();
                                with_bad[at] = bad;
                                let m = match path {
                                    Path::Dispatched(_) => max_abs(&with_bad),
                                    Path::Portable => max_abs_impl(&with_bad),
                                };
                                assert!(m.is_nan(), "max_abs {what}: {bad} at {at} gave {m}");
                            }
                        }
                    }
                }
            }
        }
    }

    /// `gemv_bias_columns` on batches of 0 to 5 columns, stored column by column or row
    /// by row, for every shape of `matrix_kernels_on_every_shape_and_offset`: each column's
    /// output has the bits of `gemv_bias` on that column alone (and the pair kernel's
    /// portable version those of the portable `gemv_bias`).
    fn few_columns_give_each_column_its_own_bits<F: Float>() {
        for path in paths() {
            force(path);
            for rows in [0, 1, 3, 4, 5, 7, 8, 9] {
                for cols in 0..=(5 * 16 + 3) {
                    let w = Array2::from_shape_vec(
                        (rows, cols),
                        values::<F>(rows * cols, (rows * 31 + cols) as u64),
                    )
                    .unwrap();
                    let bias = values::<F>(rows, 3 + rows as u64);
                    for n in 0..=5 {
                        let data = values::<F>(cols * n, (cols * 7 + n) as u64);
                        let by_columns =
                            Array2::from_shape_vec((cols, n).f(), data.clone()).unwrap();
                        let by_rows = Array2::from_shape_vec((cols, n), data).unwrap();
                        for x in [by_columns.view(), by_rows.view()] {
                            let what = format!(
                                "{path:?} {} {rows}x{cols}, {n} columns, strides {:?}",
                                F::DTYPE,
                                x.strides()
                            );
                            let mut alone = vec![F::zero(); rows];
                            let mut y = Array2::from_elem((rows, n), F::nan());
                            match path {
                                Path::Dispatched(_) => {
                                    gemv_bias_columns(w.view(), x, &bias, y.view_mut());
                                }
                                Path::Portable => {
                                    if n < 2 || cols == 0 {
                                        continue;
                                    }
                                    let x0 = x.column(0).to_vec();
                                    let x1 = x.column(1).to_vec();
                                    let (mut y0, mut y1) =
                                        (vec![F::zero(); rows], vec![F::zero(); rows]);
                                    let ws = w.as_slice().unwrap();
                                    portable_gemv_bias_pair(
                                        ws,
                                        cols,
                                        [&x0, &x1],
                                        &bias,
                                        [&mut y0, &mut y1],
                                    );
                                    portable_gemv_bias(ws, cols, &x1, &bias, &mut alone);
                                    assert_eq!(y1, alone, "{what}");
                                    continue;
                                }
                            }
                            for j in 0..n {
                                gemv_bias(w.view(), &x.column(j).to_vec(), &bias, &mut alone);
                                let bits = |v: &[F]| {
                                    v.iter().map(|v| v.as_f64().to_bits()).collect::<Vec<_>>()
                                };
                                assert_eq!(
                                    bits(&y.column(j).to_vec()),
                                    bits(&alone),
                                    "{what}: column {j}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// `gemv_bias`, `gemv_t` and `rank1_update` for every column count 0..=83 and row
    /// counts around the four-row blocks, with the matrix starting off an aligned address;
    /// `gemv_t` also against the rows added one by one, bit for bit.
    fn matrix_kernels_on_every_shape_and_offset<F: Float>() {
        for path in paths() {
            force(path);
            for rows in [0, 1, 3, 4, 5, 7, 8, 9] {
                for cols in 0..=(5 * 16 + 3) {
                    let offset = (rows + cols) % 4;
                    let mut buffer = values::<F>(rows * cols + offset, (rows * 100 + cols) as u64);
                    let x = values::<F>(cols, 5 + cols as u64);
                    let v = values::<F>(rows, 7 + rows as u64);
                    let bias = values::<F>(rows, 9 + rows as u64);
                    let what = format!("{path:?} {} {rows}x{cols} offset {offset}", F::DTYPE);
                    let w = ArrayView2::from_shape((rows, cols), &buffer[offset..]).unwrap();
                    let (mut y, mut t) = (vec![F::zero(); rows], vec![F::zero(); cols]);
                    match path {
                        Path::Dispatched(_) => {
                            gemv_bias(w, &x, &bias, &mut y);
                            gemv_t(w, &v, &mut t);
                        }
                        Path::Portable => {
                            let ws = w.as_slice().unwrap();
                            portable_gemv_bias(ws, cols, &x, &bias, &mut y);
                            portable_gemv_t(ws, cols, &v, &mut t);
                        }
                    }
                    for r in 0..rows {
                        let terms = (0..cols).map(|c| w[(r, c)].as_f64() * x[c].as_f64());
                        let exact = bias[r].as_f64() + terms.clone().sum::<f64>();
                        let magnitude = bias[r].as_f64().abs() + terms.map(f64::abs).sum::<f64>();
                        assert!(
                            close(y[r], exact, magnitude, cols + 1),
                            "gemv_bias {what} row {r}"
                        );
                    }
                    if let Path::Dispatched(_) = path {
                        // Each column summed in row order, as adding the rows one by one
                        // (a one-row `rank1_update` is one `axpy`) gives it: the same bits.
                        let mut by_rows = Array2::zeros((1, cols));
                        for (row, &vr) in w.rows().into_iter().zip(&v) {
                            let row = row.as_slice().expect("a contiguous row");
                            rank1_update(by_rows.view_mut(), vr, &[F::one()], row);
                        }
                        let bits =
                            |t: &[F]| t.iter().map(|t| t.as_f64().to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&t), bits(by_rows.as_slice().unwrap()), "gemv_t {what}");
                    }
                    for c in 0..cols {
                        let terms = (0..rows).map(|r| w[(r, c)].as_f64() * v[r].as_f64());
                        let exact = terms.clone().sum::<f64>();
                        let magnitude = terms.map(f64::abs).sum::<f64>();
                        assert!(
                            close(t[c], exact, magnitude, rows),
                            "gemv_t {what} column {c}"
                        );
                    }
                    let before = w.to_owned();
                    let alpha = F::from_f64(-0.75);
                    let mut w =
                        ArrayViewMut2::from_shape((rows, cols), &mut buffer[offset..]).unwrap();
                    match path {
                        Path::Dispatched(_) => rank1_update(w.view_mut(), alpha, &v, &x),
                        Path::Portable => {
                            portable_rank1(w.as_slice_mut().unwrap(), cols, alpha, &v, &x)
                        }
                    }
                    for ((r, c), &after) in w.indexed_iter() {
                        let update = -0.75 * v[r].as_f64() * x[c].as_f64();
                        let exact = before[(r, c)].as_f64() + update;
                        let magnitude = before[(r, c)].as_f64().abs() + update.abs();
                        assert!(
                            close(after, exact, magnitude, 3),
                            "rank1 {what} at ({r}, {c})"
                        );
                    }
                }
            }
        }
    }

    /// The fused updates and product give the bits of the updates followed by the
    /// product, on every path, for row counts around the four-row blocks and every number
    /// of updates, in both directions (two calls in a row on a thread walk the blocks both
    /// ways); the product after the updates gives the same outputs and leaves `W` as it was.
    fn fused_updates_and_product_equal_the_separate_kernels<F: Float>() {
        for path in paths() {
            force(path);
            for rows in [1, 3, 4, 5, 8, 10, 16] {
                for cols in [1, 7, 16, 33, 784] {
                    let w = values::<F>(rows * cols, (rows * 7 + cols) as u64);
                    let w = Array2::from_shape_vec((rows, cols), w).unwrap();
                    let (b, x) = (values::<F>(rows, 4), values::<F>(cols, 6));
                    let us: Vec<_> = (0..6).map(|k| values::<F>(rows, 10 + k)).collect();
                    let vs: Vec<_> = (0..6).map(|k| values::<F>(cols, 20 + k)).collect();
                    let alphas = [-0.01, 0.02, -0.03, 0.005, -0.02, 0.01].map(F::from_f64);
                    let updates: Vec<_> = (0..6)
                        .map(|k| Rank1 {
                            alpha: alphas[k],
                            u: &us[k],
                            v: &vs[k],
                        })
                        .collect();
                    for count in 0..=6 {
                        let updates = &updates[..count];
                        let what = format!("{path:?} {} {rows}x{cols}, {count} updates", F::DTYPE);
                        let mut separate = w.clone();
                        let mut y_separate = vec![F::zero(); rows];
                        let mut fused = w.clone();
                        let mut y_fused = vec![F::zero(); rows];
                        for call in ["first", "second"] {
                            let before = fused.clone();
                            for update in updates {
                                rank1_update(separate.view_mut(), update.alpha, update.u, update.v);
                            }
                            gemv_bias(separate.view(), &x, &b, &mut y_separate);
                            if count <= MAX_FUSED_UPDATES {
                                let mut y_after = vec![F::zero(); rows];
                                gemv_bias_after(fused.view(), updates, &x, &b, &mut y_after);
                                assert_eq!(
                                    y_after, y_separate,
                                    "outputs after, {call} call, {what}"
                                );
                                assert_eq!(fused, before, "the product after changed W: {what}");
                            }
                            rank1_gemv_bias(fused.view_mut(), updates, &x, &b, &mut y_fused);
                            assert_eq!(fused, separate, "weights, {call} call, {what}");
                            assert_eq!(y_fused, y_separate, "outputs, {call} call, {what}");
                            if count > 0 {
                                assert_ne!(fused, before, "the updates changed nothing: {what}");
                            }
                        }
                    }
                }
            }
        }
    }

    /// A length that does not fit `W` is refused by both fused kernels before any
    /// access: an update's `u` or `v`, `x`, `b` or `y`.
    #[test]
    fn the_fused_kernels_refuse_lengths_that_do_not_fit() {
        let (rows, cols) = (4, 6);
        let ok = |n: usize| vec![0.5f64; n];
        let cases = [
            (rows + 1, cols, cols, rows, rows),
            (rows, cols - 1, cols, rows, rows),
            (rows, cols, cols + 1, rows, rows),
            (rows, cols, cols, rows - 1, rows),
            (rows, cols, cols, rows, rows + 1),
        ];
        for (k, &(u, v, x, b, y)) in cases.iter().enumerate() {
            for store in [true, false] {
                let result = std::panic::catch_unwind(|| {
                    let mut w = Array2::<f64>::zeros((rows, cols));
                    let (u, v, x, b) = (ok(u), ok(v), ok(x), ok(b));
                    let mut y = ok(y);
                    let update = [Rank1 {
                        alpha: 1.0,
                        u: &u,
                        v: &v,
                    }];
                    if store {
                        rank1_gemv_bias(w.view_mut(), &update, &x, &b, &mut y);
                    } else {
                        gemv_bias_after(w.view(), &update, &x, &b, &mut y);
                    }
                });
                assert!(result.is_err(), "case {k}, store {store}: accepted");
            }
        }
    }

    /// The product after pending updates of a `W` that is not contiguous (a transposed
    /// view) is that of the updates applied to a copy.
    #[test]
    fn the_product_after_updates_of_a_strided_matrix_is_that_of_its_copy() {
        let w = Array2::from_shape_vec((7, 5), values::<f64>(35, 1)).unwrap();
        let (u, v) = (values::<f64>(5, 2), values::<f64>(7, 3));
        let (x, b) = (values::<f64>(7, 4), values::<f64>(5, 5));
        let update = [Rank1 {
            alpha: -0.5,
            u: &u,
            v: &v,
        }];
        let mut y = vec![0.0; 5];
        gemv_bias_after(w.t(), &update, &x, &b, &mut y);
        let mut copy = w.t().to_owned();
        rank1_update(copy.view_mut(), -0.5, &u, &v);
        let mut expected = vec![0.0; 5];
        gemv_bias(copy.view(), &x, &b, &mut expected);
        assert_eq!(y, expected);
        assert_ne!(copy, w.t(), "the update changed nothing");
    }

    #[test]
    fn the_fused_update_and_product_is_exact() {
        fused_updates_and_product_equal_the_separate_kernels::<f32>();
        fused_updates_and_product_equal_the_separate_kernels::<f64>();
    }

    #[test]
    fn f32_kernels_are_right_on_every_length_shape_and_offset() {
        vector_kernels_on_every_length_and_offset::<f32>();
        few_columns_give_each_column_its_own_bits::<f32>();
        matrix_kernels_on_every_shape_and_offset::<f32>();
    }

    #[test]
    fn f64_kernels_are_right_on_every_length_shape_and_offset() {
        vector_kernels_on_every_length_and_offset::<f64>();
        few_columns_give_each_column_its_own_bits::<f64>();
        matrix_kernels_on_every_shape_and_offset::<f64>();
    }
}
