//! Axis ranges and their ticks: a logarithmic axis with ticks at 1-2-5 values, a linear
//! axis fitted to the data with round ticks, and the tick labels without needless
//! decimals ("1", "0.2", never "1.0").

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;

/// An axis: the range it shows and the values where it has a tick and a label.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Axis {
    pub range: Range<f64>,
    pub ticks: Vec<f64>,
}

/// An axis as a plotters coordinate: mapped as a linear range, its grid lines and labels
/// at the ticks only (plotters' own choice, e.g. 2.5 on a log axis or `1.0` for an epoch,
/// is what this module replaces).
impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.range.clone()).map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Bold lines at the ticks; no light lines.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// The `i`-th value of the sequence …, 0.1, 0.2, 0.5, 1, 2, 5, 10, …: `[1, 2, 5][i mod 3] ·
/// 10^⌊i/3⌋` (so `one_two_five(0) = 1`, `one_two_five(-1) = 0.5`).
fn one_two_five(i: i32) -> f64 {
    let decade = i.div_euclid(3);
    let mantissa = [1.0, 2.0, 5.0][i.rem_euclid(3) as usize];
    // 10^-k as a division, so that 0.2 is 2/10, the same double as the literal 0.2.
    if decade >= 0 {
        mantissa * 10f64.powi(decade)
    } else {
        mantissa / 10f64.powi(-decade)
    }
}

/// The index of the largest 1-2-5 value at most `x` (`x > 0`, finite): a value within a
/// relative 1e-9 of `x` counts as equal, so that 0.2 computed as 0.20000000000000004 is
/// still at the tick 0.2.
fn index_at_or_below(x: f64) -> i32 {
    let decade = x.log10().floor() as i32;
    // The estimate can be one off at exact powers of ten: step to the right index.
    let mut i = 3 * decade + 2;
    while one_two_five(i) > x * (1.0 + 1e-9) {
        i -= 1;
    }
    while one_two_five(i + 1) <= x * (1.0 + 1e-9) {
        i += 1;
    }
    i
}

/// The index of the smallest 1-2-5 value at least `x` (`x > 0`, finite).
fn index_at_or_above(x: f64) -> i32 {
    let i = index_at_or_below(x);
    if one_two_five(i) >= x * (1.0 - 1e-9) {
        i
    } else {
        i + 1
    }
}

/// A logarithmic axis for values from `min` to `max` (both positive and finite; `min ≤
/// max`): ticks at the 1-2-5 values from the largest one at most `min` to the smallest one
/// at least `max`, so that every value, the lowest included, lies between two ticks; over
/// more than three decades, at the powers of ten only (every few of them over more than
/// eight). `min` and `max` within 1e-300 to 1e300. The returned range is that of
/// `log10` of the values (what the plot draws), the end ticks included, padded by 2%.
pub(crate) fn log_axis(min: f64, max: f64) -> Axis {
    let (mut low, mut high) = (index_at_or_below(min), index_at_or_above(max));
    if low == high {
        // One value, exactly on a tick: the ticks on either side.
        (low, high) = (low - 1, high + 1);
    }
    let ticks: Vec<f64> = if high - low > 9 {
        // Powers of ten: the indices that are multiples of 3; every few of them over
        // more than 8 decades.
        let (low, high) = (low.div_euclid(3), (high + 2).div_euclid(3));
        let step = (high - low + 7) / 8;
        let high = low + (high - low + step - 1) / step * step;
        (low..=high)
            .step_by(step as usize)
            .map(|decade| one_two_five(3 * decade))
            .collect()
    } else {
        (low..=high).map(one_two_five).collect()
    };
    let (first, last) = (ticks[0].log10(), ticks[ticks.len() - 1].log10());
    let pad = 0.02 * (last - first);
    Axis {
        range: first - pad..last + pad,
        ticks,
    }
}

/// A linear axis fitted to values from `min` to `max` (finite, `min ≤ max`): the range
/// padded by 5% of the data's span on each side (±0.5 for a single value), then clipped
/// to `limits`; ticks at the multiples of a 1-2-5 step of at least `min_step`, chosen so
/// that there are at most `max_ticks` of them.
pub(crate) fn linear_axis(
    min: f64,
    max: f64,
    limits: Range<f64>,
    max_ticks: usize,
    min_step: f64,
) -> Axis {
    let pad = if max > min { 0.05 * (max - min) } else { 0.5 };
    let (low, high) = ((min - pad).max(limits.start), (max + pad).min(limits.end));
    Axis {
        ticks: ticks_within(low, high, max_ticks, min_step),
        range: low..high,
    }
}

/// The multiples of the smallest 1-2-5 step (at least `min_step`) that put at most
/// `max_ticks` of them in `low..=high`.
pub(crate) fn ticks_within(low: f64, high: f64, max_ticks: usize, min_step: f64) -> Vec<f64> {
    let span = (high - low).max(f64::MIN_POSITIVE);
    let mut i = index_at_or_above((span / max_ticks.max(1) as f64).max(min_step));
    loop {
        let step = one_two_five(i);
        let first = (low / step - 1e-9).ceil() as i64;
        let last = (high / step + 1e-9).floor() as i64;
        if last - first < max_ticks as i64 {
            // 0 written as 0, not -0.
            return (first..=last).map(|k| k as f64 * step + 0.0).collect();
        }
        i += 1;
    }
}

/// A tick value as a label: as few decimals as it needs, from at most 6 significant digits
/// (`1`, `0.2`, `0.05`, `82`, `2.5`; never `1.0`).
pub(crate) fn label(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let decimals = (5 - value.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_two_five_sequence() {
        let values: Vec<f64> = (-4..=4).map(one_two_five).collect();
        assert_eq!(values, [0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0]);
        assert_eq!(index_at_or_below(0.2), -2);
        assert_eq!(index_at_or_below(0.1 + 0.1), -2);
        assert_eq!(index_at_or_below(0.19), -3);
        assert_eq!(index_at_or_below(1.0), 0);
        assert_eq!(index_at_or_below(4.99), 1);
        assert_eq!(index_at_or_above(4.99), 2);
        assert_eq!(index_at_or_above(5.0), 2);
        assert_eq!(index_at_or_above(1000.0), 9);
    }

    #[test]
    fn log_ticks_are_one_two_five_values_around_every_loss() {
        // The mnist curves: a final loss of 0.27 below the first tick of plotters'
        // choice (0.63) was the complaint; 0.2 is now below it.
        let axis = log_axis(0.27, 2.31);
        assert_eq!(axis.ticks, [0.2, 0.5, 1.0, 2.0, 5.0]);
        assert!(axis.range.start < 0.2f64.log10() && axis.range.end > 5f64.log10());
        // A loss on a tick keeps that tick as the end.
        assert_eq!(log_axis(0.5, 1.0).ticks, [0.5, 1.0]);
        assert_eq!(log_axis(0.5, 0.5).ticks, [0.2, 0.5, 1.0]);
        assert_eq!(log_axis(0.3, 0.45).ticks, [0.2, 0.5]);
        // Many decades: powers of ten only.
        assert_eq!(
            log_axis(3e-4, 2.0).ticks,
            [1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0]
        );
        for (min, max) in [(0.27, 2.31), (1e-3, 0.9), (0.011, 0.012), (7.0, 7.0)] {
            let ticks = log_axis(min, max).ticks;
            assert!(
                ticks[0] <= min && *ticks.last().unwrap() >= max,
                "{ticks:?}"
            );
        }
    }

    #[test]
    fn a_linear_axis_is_fitted_to_the_data() {
        // Accuracies from 82% to 93%: the axis shows 81.45..93.55, not 0..100.
        let axis = linear_axis(82.0, 93.0, 0.0..100.0, 8, 0.0);
        assert!((axis.range.start - 81.45).abs() < 1e-9 && (axis.range.end - 93.55).abs() < 1e-9);
        assert_eq!(axis.ticks, [82.0, 84.0, 86.0, 88.0, 90.0, 92.0]);
        // Clipped to the limits.
        let axis = linear_axis(90.0, 100.0, 0.0..100.0, 8, 0.0);
        assert_eq!(axis.range.end, 100.0);
        assert_eq!(
            linear_axis(50.0, 50.0, 0.0..100.0, 8, 0.0).range,
            49.5..50.5
        );
    }

    #[test]
    fn epoch_ticks_are_whole_numbers_with_a_minimum_step_of_one() {
        assert_eq!(
            ticks_within(0.0, 10.0, 8, 1.0),
            [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        assert_eq!(ticks_within(0.0, 3.0, 8, 1.0), [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(
            ticks_within(0.0, 1.0, 8, 0.0),
            [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        assert!(ticks_within(0.0, 40.0, 8, 1.0).len() <= 8);
    }

    #[test]
    fn labels_have_no_needless_decimals() {
        let labels: Vec<String> = [
            1.0,
            0.2,
            0.05,
            82.0,
            2.5,
            0.6000000000000001,
            1e-4,
            100.0,
            -0.5,
        ]
        .into_iter()
        .map(label)
        .collect();
        assert_eq!(
            labels,
            ["1", "0.2", "0.05", "82", "2.5", "0.6", "0.0001", "100", "-0.5"]
        );
    }
}
