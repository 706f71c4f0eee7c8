//! Command-line helpers shared by the examples.

use std::fmt::Display;
use std::str::FromStr;

/// The value of `flag` (the option just read), parsed as a `T`; the error names the flag,
/// e.g. `--epochs: cannot parse argument "x": invalid digit found in string`.
pub fn value<T>(parser: &mut lexopt::Parser, flag: &str) -> Result<T, String>
where
    T: FromStr,
    T::Err: Display,
{
    let raw = parser.value().map_err(|e| e.to_string())?; // lexopt names the flag
    let text = raw
        .into_string()
        .map_err(|raw| format!("{flag}: {raw:?} is not valid UTF-8"))?;
    text.parse()
        .map_err(|e| format!("{flag}: cannot parse {text:?}: {e}"))
}

/// A percentage for `flag`: finite and within `0..=100` (NaN would silently pass every
/// comparison, and values outside the range cannot be reached or missed).
#[allow(dead_code)] // not every example that includes this file takes a percentage
pub fn percent(value: f64, flag: &str) -> Result<f64, String> {
    if (0.0..=100.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{flag}: {value} is not a percentage from 0 to 100"))
    }
}

/// `--min-accuracy P`: an error (the example then exits with status 1) when `accuracy`, a
/// fraction, is below `P`%; `what` names it in the message, e.g. `"the test accuracy"`.
#[allow(dead_code)] // not every example that includes this file has a floor
pub fn check_min_accuracy(accuracy: f64, min: Option<f64>, what: &str) -> Result<(), String> {
    match min {
        Some(min) if 100.0 * accuracy < min => Err(format!(
            "{what} {:.2}% is below --min-accuracy {min}%",
            100.0 * accuracy
        )),
        _ => Ok(()),
    }
}
