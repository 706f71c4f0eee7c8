//! Weight initialisation schemes, drawing from a caller-supplied random number generator.

use ndarray::Array2;
use rand::Rng;
// The distributions of the rand_distr that ndarray-rand is built with, so that they and the
// RNG types always line up.
use ndarray_rand::rand_distr::{Distribution, Normal, Uniform};

use crate::{tensor, Error, Float, Result};

/// How a dense layer's weights `W` (shape `(outs, ins)`) and bias `b` (shape `(outs, 1)`)
/// are first drawn.
///
/// Every scheme draws from the RNG the caller passes, so the same seed gives the same
/// network, bit for bit; the library holds no global random state.
///
/// The default is [`Init::HeNormal`], because the series' networks use LeakyReLU and ReLU,
/// for which it keeps the variance of activations steady from layer to layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Init {
    /// The original framework's scheme: every entry of `W` and of `b` is drawn from
    /// `N(0, σ²)` with `σ = 1/(rows·cols)` of that matrix (so `1/(outs·ins)` for `W` and
    /// `1/outs` for `b`). Kept for faithful reproductions; its tiny scale makes deep
    /// networks start with nearly constant outputs.
    Original,
    /// Xavier/Glorot uniform: `W ~ U(-l, l)` with `l = sqrt(6/(ins+outs))`, `b = 0`.
    /// Suited to sigmoid and tanh.
    XavierUniform,
    /// Xavier/Glorot normal: `W ~ N(0, 2/(ins+outs))`, `b = 0`.
    XavierNormal,
    /// He/Kaiming normal: `W ~ N(0, 2/ins)`, `b = 0`. Suited to ReLU and LeakyReLU.
    #[default]
    HeNormal,
    /// He/Kaiming uniform: `W ~ U(-l, l)` with `l = sqrt(6/ins)`, `b = 0`.
    HeUniform,
}

impl Init {
    /// Draws the weight matrix `W` of shape `(outs, ins)`.
    ///
    /// Values are drawn in `f64` and rounded, so an `f32` and an `f64` network built from
    /// the same seed start from the same weights up to rounding.
    ///
    /// # Errors
    /// [`Error::ZeroSizedLayer`] if `outs` or `ins` is zero; [`Error::TooLarge`] if
    /// `outs · ins` entries cannot be allocated (checked before anything is drawn).
    pub fn weights<F: Float, R: Rng + ?Sized>(
        &self,
        outs: usize,
        ins: usize,
        rng: &mut R,
    ) -> Result<Array2<F>> {
        if outs == 0 || ins == 0 {
            return Err(Error::ZeroSizedLayer {
                index: 0,
                ins,
                outs,
            });
        }
        let (fan_in, fan_out) = (ins as f64, outs as f64);
        let what = "weights";
        match self {
            Init::Original => normal(what, (outs, ins), 1.0 / (fan_in * fan_out), rng),
            Init::XavierUniform => {
                uniform(what, (outs, ins), (6.0 / (fan_in + fan_out)).sqrt(), rng)
            }
            Init::XavierNormal => normal(what, (outs, ins), (2.0 / (fan_in + fan_out)).sqrt(), rng),
            Init::HeNormal => normal(what, (outs, ins), (2.0 / fan_in).sqrt(), rng),
            Init::HeUniform => uniform(what, (outs, ins), (6.0 / fan_in).sqrt(), rng),
        }
    }

    /// Draws the bias `b` of shape `(outs, 1)`: zeros, except for [`Init::Original`].
    ///
    /// # Errors
    /// [`Error::TooLarge`] if `outs` entries cannot be allocated.
    pub fn bias<F: Float, R: Rng + ?Sized>(&self, outs: usize, rng: &mut R) -> Result<Array2<F>> {
        match self {
            Init::Original if outs > 0 => normal("bias", (outs, 1), 1.0 / outs as f64, rng),
            _ => tensor::try_zeros("bias", outs, 1),
        }
    }
}

/// Entries drawn from `distribution` in `f64`, row by row (the order of
/// `Array2::random_using`, so seeds give the weights they always gave), rounded to `F`.
fn draw<F: Float, R: Rng + ?Sized>(
    what: &str,
    (rows, cols): (usize, usize),
    distribution: impl Distribution<f64>,
    rng: &mut R,
) -> Result<Array2<F>> {
    tensor::try_from_fn(what, rows, cols, || F::from_f64(distribution.sample(rng)))
}

fn normal<F: Float, R: Rng + ?Sized>(
    what: &str,
    shape: (usize, usize),
    std: f64,
    rng: &mut R,
) -> Result<Array2<F>> {
    let dist = Normal::new(0.0, std).expect("std is finite and positive for non-empty layers");
    draw(what, shape, dist, rng)
}

fn uniform<F: Float, R: Rng + ?Sized>(
    what: &str,
    shape: (usize, usize),
    limit: f64,
    rng: &mut R,
) -> Result<Array2<F>> {
    let dist = Uniform::new(-limit, limit).expect("limit is finite and positive");
    draw(what, shape, dist, rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    fn std_of(a: &Array2<f64>) -> f64 {
        let n = a.len() as f64;
        let mean = a.sum() / n;
        (a.mapv(|v| (v - mean).powi(2)).sum() / n).sqrt()
    }

    #[test]
    fn schemes_have_their_documented_scale() {
        let mut rng = StdRng::seed_from_u64(1);
        let he: Array2<f64> = Init::HeNormal.weights(200, 300, &mut rng).unwrap();
        assert!((std_of(&he) / (2.0f64 / 300.0).sqrt() - 1.0).abs() < 0.03);
        let xu: Array2<f64> = Init::XavierUniform.weights(200, 300, &mut rng).unwrap();
        let limit = (6.0f64 / 500.0).sqrt();
        assert!(xu.iter().all(|v| v.abs() <= limit));
        // U(-l, l) has std l/sqrt(3).
        assert!((std_of(&xu) / (limit / 3f64.sqrt()) - 1.0).abs() < 0.03);
        let orig: Array2<f64> = Init::Original.weights(20, 30, &mut rng).unwrap();
        assert!((std_of(&orig) * 600.0 - 1.0).abs() < 0.1);
        let b: Array2<f64> = Init::HeNormal.bias(5, &mut rng).unwrap();
        assert!(b.iter().all(|&v| v == 0.0));
        let b: Array2<f64> = Init::Original.bias(5000, &mut rng).unwrap();
        assert!((std_of(&b) * 5000.0 - 1.0).abs() < 0.05);
        let xn: Array2<f64> = Init::XavierNormal.weights(200, 300, &mut rng).unwrap();
        assert!((std_of(&xn) / (2.0f64 / 500.0).sqrt() - 1.0).abs() < 0.03);
        let hu: Array2<f64> = Init::HeUniform.weights(200, 300, &mut rng).unwrap();
        let limit = (6.0f64 / 300.0).sqrt();
        assert!(hu.iter().all(|v| v.abs() <= limit));
        assert!((std_of(&hu) / (limit / 3f64.sqrt()) - 1.0).abs() < 0.03);
        // More outputs than inputs: Xavier's fan is their sum (a difference would be
        // negative).
        let wide: Array2<f64> = Init::XavierNormal.weights(300, 200, &mut rng).unwrap();
        assert!((std_of(&wide) / (2.0f64 / 500.0).sqrt() - 1.0).abs() < 0.03);
    }

    #[test]
    fn zero_sizes_are_errors_or_empty() {
        let mut rng = StdRng::seed_from_u64(2);
        for (outs, ins) in [(0, 3), (3, 0)] {
            assert!(matches!(
                Init::HeNormal.weights::<f32, _>(outs, ins, &mut rng),
                Err(Error::ZeroSizedLayer { .. })
            ));
        }
        // A bias of no entries is empty for every scheme (the original's σ = 1/outs would
        // be infinite).
        for init in [Init::Original, Init::HeNormal] {
            let b: Array2<f64> = init.bias(0, &mut rng).unwrap();
            assert_eq!(b.dim(), (0, 1));
        }
    }

    #[test]
    fn same_seed_gives_same_weights() {
        let a: Array2<f32> = Init::HeNormal
            .weights(3, 4, &mut StdRng::seed_from_u64(7))
            .unwrap();
        let b: Array2<f32> = Init::HeNormal
            .weights(3, 4, &mut StdRng::seed_from_u64(7))
            .unwrap();
        assert_eq!(a, b);
    }
}
