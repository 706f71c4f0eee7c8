//! The CSV format of the article series: one sample per line, `label,p1,...,pN`.
//!
//! The label is a class index and the pixels are integers in `0..=255` (784 of them for
//! MNIST). A header line such as `label,pixel0,...` or `label,1x1,...` may come first; it is
//! recognised by its first field not being a number, and skipped. A UTF-8 byte-order mark at
//! the start of the file is skipped too. Blank lines are skipped; every other line must have
//! as many fields as the first data line.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use nn_core::{Error, Result};

/// The samples of a CSV file: one label and `features` pixel bytes per data line.
///
/// The pixels of sample `j` are `pixels[j * features..(j + 1) * features]`, so `pixels`
/// is a `(features, labels.len())` matrix stored column by column — the layout of
/// [`Dataset::from_bytes`](crate::Dataset::from_bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvData {
    /// Number of pixels per sample (fields per line minus the label).
    pub features: usize,
    /// The label of each sample, in file order.
    pub labels: Vec<usize>,
    /// The pixels of all samples, sample after sample.
    pub pixels: Vec<u8>,
}

/// Reads a CSV file of `label,p1,...,pN` lines. Labels must be below `classes` (pass
/// `usize::MAX` to accept any).
///
/// # Errors
/// - [`Error::Io`] if the file cannot be opened or read;
/// - [`Error::Line`], with the path and the 1-based line number, for a line whose field
///   count differs from the first data line's, a field that is not a number, a label that
///   is not a non-negative integer or not below `classes`, a pixel that is not an integer
///   in `0..=255`, or a first data line with no pixel;
/// - [`Error::Format`] if the file holds no data line at all.
pub fn read_csv(path: impl AsRef<Path>, classes: usize) -> Result<CsvData> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_csv(file, path, classes)
}

/// Parses CSV lines `label,p1,...,pN` from any reader (a byte slice works). `path` is only
/// used in error messages.
///
/// # Errors
/// As [`read_csv`].
///
/// # Example
/// ```
/// let text = "label,p1,p2\n3,0,255\n7,12,34\n";
/// let data = nn_data::parse_csv(text.as_bytes(), "inline.csv", 10)?;
/// assert_eq!(data.features, 2);
/// assert_eq!(data.labels, [3, 7]);
/// assert_eq!(data.pixels, [0, 255, 12, 34]);
/// # Ok::<(), nn_core::Error>(())
/// ```
pub fn parse_csv<R: Read>(reader: R, path: impl AsRef<Path>, classes: usize) -> Result<CsvData> {
    let path = path.as_ref();
    let mut lines = Lines::new(reader, path);
    let mut table = Table::default();
    while let Some((number, line)) = lines.next_line()? {
        table
            .add(line, number, classes)
            .map_err(|message| Error::Line {
                path: path.to_path_buf(),
                line: number,
                message,
            })?;
    }
    table.finish(path, lines.bytes_read)
}

/// The non-empty lines of a CSV file, trimmed, with their 1-based numbers.
struct Lines<'p, R> {
    reader: BufReader<R>,
    path: &'p Path,
    buf: Vec<u8>,
    number: usize,
    /// Bytes read so far (the offset reported when the file holds no data).
    bytes_read: u64,
}

impl<'p, R: Read> Lines<'p, R> {
    fn new(reader: R, path: &'p Path) -> Self {
        Lines {
            reader: BufReader::with_capacity(1 << 16, reader),
            path,
            buf: Vec::new(),
            number: 0,
            bytes_read: 0,
        }
    }

    /// The next non-empty line and its number, or `None` at the end of the file.
    ///
    /// # Errors
    /// [`Error::Io`] if reading fails.
    fn next_line(&mut self) -> Result<Option<(usize, &[u8])>> {
        loop {
            self.buf.clear();
            let n = (self.reader.read_until(b'\n', &mut self.buf)).map_err(|source| Error::Io {
                path: self.path.to_path_buf(),
                source,
            })?;
            if n == 0 {
                return Ok(None);
            }
            self.bytes_read += n as u64;
            self.number += 1;
            // A UTF-8 byte-order mark (as spreadsheet exports write) is not part of the
            // first field: left there, it would make a first data line look like a header.
            let start = match self.buf.starts_with(UTF8_BOM) && self.number == 1 {
                true => UTF8_BOM.len(),
                false => 0,
            };
            if !trim(&self.buf[start..]).is_empty() {
                return Ok(Some((self.number, trim(&self.buf[start..]))));
            }
        }
    }
}

/// The table being read: an optional header, then data lines of one field count.
#[derive(Default)]
struct Table {
    header_seen: bool,
    /// Field count and line number of the first data line, once seen.
    first: Option<(usize, usize)>,
    labels: Vec<usize>,
    pixels: Vec<u8>,
}

impl Table {
    /// Adds line `number`: the header if it is the first line and its first field is not
    /// a number, else a data line of `label,p1,...,pN`.
    ///
    /// # Errors
    /// The message of an [`Error::Line`] for a line that does not fit.
    fn add(
        &mut self,
        line: &[u8],
        number: usize,
        classes: usize,
    ) -> std::result::Result<(), String> {
        let count = line.iter().filter(|&&b| b == b',').count() + 1;
        let mut fields = line.split(|&b| b == b',');
        let label_field = fields.next().unwrap_or_default();
        let (expected, first_line) = match self.first {
            Some(first) => first,
            None => {
                if !self.header_seen && parse_number(label_field).is_none() {
                    self.header_seen = true;
                    return Ok(());
                }
                if count < 2 {
                    return Err(
                        "a data line needs a label and at least one pixel, found 1 field".into(),
                    );
                }
                *self.first.insert((count, number))
            }
        };
        if count != expected {
            return Err(format!(
                "{count} fields, but the first data line (line {first_line}) has {expected}"
            ));
        }
        self.labels.push(parse_label(label_field, classes)?);
        for (k, field) in fields.enumerate() {
            let pixel = match parse_pixel_fast(field) {
                Some(p) => p,
                None => parse_pixel_slow(field, k)?,
            };
            self.pixels.push(pixel);
        }
        Ok(())
    }

    /// The samples read, once the file has ended after `bytes_read` bytes.
    ///
    /// # Errors
    /// [`Error::Format`] if there was no data line.
    fn finish(self, path: &Path, bytes_read: u64) -> Result<CsvData> {
        match self.first {
            Some((count, _)) => Ok(CsvData {
                features: count - 1,
                labels: self.labels,
                pixels: self.pixels,
            }),
            None => Err(Error::Format {
                path: path.to_path_buf(),
                offset: bytes_read,
                message: if self.header_seen {
                    "no data lines after the header; expected lines `label,p1,...,pN`".into()
                } else {
                    "the file is empty; expected lines `label,p1,...,pN`".into()
                },
            }),
        }
    }
}

/// The UTF-8 encoding of U+FEFF, which some programs write at the start of a text file
/// (the numeric tables' reader skips it too).
pub(crate) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Strips ASCII whitespace (including the `\r` of a `\r\n` line end) from both ends.
fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

fn show(field: &[u8]) -> String {
    String::from_utf8_lossy(trim(field)).into_owned()
}

/// Parses a field as a number, if it is one (NaN is not).
fn parse_number(field: &[u8]) -> Option<f64> {
    parse_f64(field).filter(|v| !v.is_nan())
}

/// A field as a number, if it is one (any number `f64` parses, NaN and infinities too),
/// surrounding ASCII whitespace ignored.
pub(crate) fn parse_f64(field: &[u8]) -> Option<f64> {
    std::str::from_utf8(trim(field)).ok()?.parse().ok()
}

fn parse_label(field: &[u8], classes: usize) -> std::result::Result<usize, String> {
    let label = match parse_digits(trim(field)) {
        Some(v) => v,
        None => match parse_number(field) {
            None => return Err(format!("label {:?} is not a number", show(field))),
            Some(v) if v < 0.0 || v.fract() != 0.0 || v.is_infinite() => {
                return Err(format!(
                    "label {} is not a non-negative integer",
                    show(field)
                ))
            }
            // Whole numbers written with a fraction or exponent, such as `3.0`.
            Some(v) => v.min(usize::MAX as f64) as usize,
        },
    };
    if label >= classes {
        return Err(format!(
            "label {label} is out of range: there are {classes} classes (0..{classes})"
        ));
    }
    Ok(label)
}

/// A field of ASCII digits only, as a `usize`; `None` for anything else or on overflow.
fn parse_digits(field: &[u8]) -> Option<usize> {
    if field.is_empty() {
        return None;
    }
    field.iter().try_fold(0usize, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(usize::from(b - b'0'))
        } else {
            None
        }
    })
}

/// The common case: one to three ASCII digits with a value of at most 255.
#[inline]
fn parse_pixel_fast(field: &[u8]) -> Option<u8> {
    if field.is_empty() || field.len() > 3 {
        return None;
    }
    let mut v: u32 = 0;
    for &b in field {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(b - b'0');
    }
    u8::try_from(v).ok()
}

/// Everything else: spaces, leading zeros, `12.0`, or an error saying what is wrong.
/// `k` is the 0-based index of the pixel (the field after the label is pixel 0).
fn parse_pixel_slow(field: &[u8], k: usize) -> std::result::Result<u8, String> {
    let column = k + 2;
    match parse_number(field) {
        None => Err(format!(
            "field {column} (pixel {k}) {:?} is not a number",
            show(field)
        )),
        Some(v) if !(0.0..=255.0).contains(&v) => Err(format!(
            "field {column} (pixel {k}) = {} is outside 0..=255",
            show(field)
        )),
        Some(v) if v.fract() != 0.0 => Err(format!(
            "field {column} (pixel {k}) = {} is not an integer",
            show(field)
        )),
        Some(v) => Ok(v as u8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{format_error, line_error, TempDir};

    #[test]
    fn reads_lines_with_or_without_a_header() {
        let dir = TempDir::new();
        let expected = CsvData {
            features: 3,
            labels: vec![5, 0],
            pixels: vec![0, 128, 255, 1, 2, 3],
        };
        for text in [
            "5,0,128,255\n0,1,2,3\n",
            "label,pixel0,pixel1,pixel2\n5,0,128,255\n0,1,2,3",
            "label,1x1,1x2,1x3\r\n5,0,128,255\r\n\r\n0, 1 ,2,003\r\n\n",
            "\n5,0,128.0,255\n0,1,2,3\n",
        ] {
            let path = dir.write("data.csv", text.as_bytes());
            assert_eq!(read_csv(&path, 10).unwrap(), expected, "{text:?}");
        }
    }

    /// Writes `text` to a file, reads it, and checks a line error at `line` whose
    /// message contains `needle` and whose display names the file and the line.
    #[track_caller]
    fn assert_line_error(text: &str, classes: usize, line: usize, needle: &str) {
        let dir = TempDir::new();
        let path = dir.write("bad.csv", text.as_bytes());
        let result = read_csv(&path, classes);
        let shown = result.as_ref().map(|_| ()).unwrap_err().to_string();
        let (p, l, message) = line_error(result);
        assert_eq!(p, path);
        assert_eq!(l, line, "{message}");
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        assert!(
            shown.starts_with(&format!("{}: line {line}: ", path.display())),
            "{shown}"
        );
    }

    #[test]
    fn rejects_a_wrong_field_count() {
        let text = "label,a,b\n1,2,3\n\n4,5\n";
        assert_line_error(
            text,
            10,
            4,
            "2 fields, but the first data line (line 2) has 3",
        );
        assert_line_error("1,2,3\n4,5,6,7\n", 10, 2, "4 fields");
        assert_line_error("label,a\n7\n", 10, 2, "at least one pixel");
    }

    #[test]
    fn rejects_non_numeric_fields() {
        assert_line_error(
            "1,2,3\n4,x5,6\n",
            10,
            2,
            "field 2 (pixel 0) \"x5\" is not a number",
        );
        assert_line_error(
            "1,2,3\n4,5,\n",
            10,
            2,
            "field 3 (pixel 1) \"\" is not a number",
        );
        assert_line_error("1,2,3\n4,nan,6\n", 10, 2, "is not a number");
        // After the first line, a non-numeric label is an error, not a second header.
        assert_line_error(
            "label,a\n1,2\nlabel,a\n",
            10,
            3,
            "label \"label\" is not a number",
        );
    }

    #[test]
    fn rejects_pixels_outside_0_to_255_or_not_integers() {
        assert_line_error(
            "1,2,256\n",
            10,
            1,
            "field 3 (pixel 1) = 256 is outside 0..=255",
        );
        assert_line_error("1,2,3\n1,-1,3\n", 10, 2, "= -1 is outside 0..=255");
        assert_line_error("1,2,3\n1,2,0.5\n", 10, 2, "= 0.5 is not an integer");
        assert_line_error("1,2,1000000\n", 10, 1, "outside 0..=255");
    }

    #[test]
    fn rejects_labels_that_are_not_class_indices() {
        assert_line_error(
            "1,2\n2.5,3\n",
            10,
            2,
            "label 2.5 is not a non-negative integer",
        );
        assert_line_error("-1,2\n", 10, 1, "label -1 is not a non-negative integer");
        assert_line_error(
            "1,2\n10,3\n",
            10,
            2,
            "label 10 is out of range: there are 10 classes",
        );
        // Any label is accepted with `usize::MAX` classes.
        let data = parse_csv("123456,7\n".as_bytes(), "big", usize::MAX).unwrap();
        assert_eq!(data.labels, [123456]);
    }

    #[test]
    fn an_empty_file_or_a_lone_header_is_an_error() {
        let dir = TempDir::new();
        for (text, needle) in [
            ("", "the file is empty"),
            ("\n\n", "the file is empty"),
            ("label,pixel0\n", "no data lines after the header"),
        ] {
            let path = dir.write("empty.csv", text.as_bytes());
            let (p, offset, message) = format_error(read_csv(&path, 10));
            assert_eq!(p, path);
            assert_eq!(offset, text.len() as u64);
            assert!(message.contains(needle), "{message}");
        }
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let dir = TempDir::new();
        let path = dir.path().join("mnist_train.csv");
        match read_csv(&path, 10) {
            Err(Error::Io { path: p, .. }) => assert_eq!(p, path),
            other => panic!("expected Error::Io, got {other:?}"),
        }
    }

    #[test]
    fn a_byte_order_mark_does_not_hide_the_first_line() {
        // With the mark read as part of the label, "\u{feff}5" is not a number, and the
        // first data line was silently skipped as a header.
        let data = parse_csv("\u{feff}5,1,2\n7,3,4\n".as_bytes(), "bom.csv", 10).unwrap();
        assert_eq!(data.labels, [5, 7]);
        assert_eq!(data.pixels, [1, 2, 3, 4]);
        let data = parse_csv("\u{feff}label,a,b\r\n5,1,2\r\n".as_bytes(), "bom.csv", 10).unwrap();
        assert_eq!(data.labels, [5]);
        // Only at the start of the file.
        let result = parse_csv("5,1,2\n\u{feff}7,3,4\n".as_bytes(), "bom.csv", 10);
        let (_, line, message) = line_error(result);
        assert_eq!(line, 2);
        assert!(message.contains("is not a number"), "{message}");
    }
}
