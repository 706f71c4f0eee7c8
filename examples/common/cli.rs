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
