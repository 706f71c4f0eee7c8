//! NumPy's `.npy` and `.npz` files: the way Python hands arrays over.
//!
//! A `.npy` file is a magic string, a version, a header (a Python dict literal giving the
//! dtype, the memory order and the shape) and the raw values. The header is parsed by the
//! `ndarray-npy` crate; the values are converted to the float type here, from any of
//! NumPy's float and integer dtypes in either byte order, so that a `float32` matrix, a
//! `float64` one or an `int64` label vector all read the same way.
//!
//! Files are not trusted: the header's length is checked against the file (and held to
//! NumPy's own limit of 10 000 bytes) before it is read, and the shape's size against the
//! bytes that follow, so a file cannot make the reader allocate more than it holds. An
//! `.npz` archive is read with the `zip` crate; each member is decompressed as far as its
//! real data goes, then read as a `.npy` file.

use std::fs;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use ndarray::{Array2, ShapeBuilder};
use ndarray_npy::npy::header::{Header, Layout};
use nn_core::{Error, Float, Result};

/// NumPy's limit on a header's length (`numpy.lib.format`'s `max_header_size`).
const MAX_HEADER: usize = 10_000;

/// Reads a `.npy` file holding a matrix (or a vector, read as one column) and converts its
/// values to `F`.
///
/// # Shapes
/// The matrix comes back as NumPy holds it: `(n, features)` for a data set, one sample
/// per row. Hand it to training with `Samples::from_rows`.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Format`], with the byte offset, for
/// anything that is not a `.npy` file of a float or integer dtype with one or two
/// dimensions, or whose values do not fill the shape exactly.
///
/// # Example
/// ```no_run
/// let x = nn_data::read_npy_matrix::<f32>("x_train.npy")?; // (n, features)
/// let y = nn_data::read_npy_labels("y_train.npy")?; // n class indices
/// # Ok::<(), nn_core::Error>(())
/// ```
pub fn read_npy_matrix<F: Float>(path: impl AsRef<Path>) -> Result<Array2<F>> {
    let path = path.as_ref();
    parse_npy_matrix(&read_file(path)?, path)
}

/// Reads a `.npy` file holding one non-negative integer per sample (a vector, or a matrix
/// of one column): class labels.
///
/// # Errors
/// As [`read_npy_matrix`], and [`Error::Format`] for a float dtype or a negative value.
pub fn read_npy_labels(path: impl AsRef<Path>) -> Result<Vec<usize>> {
    let path = path.as_ref();
    parse_npy_labels(&read_file(path)?, path)
}

/// [`read_npy_matrix`] on the bytes of a file; `source` names it in errors.
///
/// # Errors
/// As [`read_npy_matrix`].
pub fn parse_npy_matrix<F: Float>(bytes: &[u8], source: impl AsRef<Path>) -> Result<Array2<F>> {
    let npy = Npy::parse(bytes, source.as_ref())?;
    let (rows, columns) = npy.matrix_shape()?;
    let values = npy.values(|v| Some(F::from_f64(v)))?;
    let matrix = match npy.layout {
        Layout::Standard => Array2::from_shape_vec((rows, columns), values),
        Layout::Fortran => Array2::from_shape_vec((rows, columns).f(), values),
    };
    Ok(matrix.expect("the shape's size was checked against the values"))
}

/// [`read_npy_labels`] on the bytes of a file; `source` names it in errors.
///
/// # Errors
/// As [`read_npy_labels`].
pub fn parse_npy_labels(bytes: &[u8], source: impl AsRef<Path>) -> Result<Vec<usize>> {
    let npy = Npy::parse(bytes, source.as_ref())?;
    let (_, columns) = npy.matrix_shape()?;
    if columns != 1 || !npy.dtype.integer {
        return Err(npy.error(
            0,
            format!(
                "labels must be one integer per sample, found dtype {} and shape {:?}",
                npy.dtype.name, npy.shape
            ),
        ));
    }
    let labels = npy.values(|v| (v >= 0.0).then_some(v as usize))?;
    Ok(labels)
}

/// The arrays of an `.npz` archive (as `numpy.savez` and `numpy.savez_compressed` write),
/// read by name.
///
/// # Example
/// ```no_run
/// let mut archive = nn_data::Npz::open("mnist.npz")?;
/// let x = archive.matrix::<f32>("x_train")?;
/// let y = archive.labels("y_train")?;
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Npz {
    path: PathBuf,
    archive: zip::ZipArchive<Cursor<Vec<u8>>>,
}

impl Npz {
    /// Opens an `.npz` archive.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read; [`Error::Format`] if it is not a zip
    /// archive.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_bytes(read_file(path)?, path)
    }

    /// An archive from its bytes; `source` names it in errors.
    ///
    /// # Errors
    /// [`Error::Format`] if the bytes are not a zip archive.
    pub fn from_bytes(bytes: Vec<u8>, source: impl AsRef<Path>) -> Result<Self> {
        let path = source.as_ref().to_path_buf();
        let archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| Error::Format {
            path: path.clone(),
            offset: 0,
            message: format!("not an .npz (zip) archive: {e}"),
        })?;
        Ok(Npz { path, archive })
    }

    /// The names of the arrays, as NumPy gives them (without the `.npy` of the members).
    pub fn names(&self) -> Vec<String> {
        (self.archive.file_names())
            .map(|n| n.strip_suffix(".npy").unwrap_or(n).to_string())
            .collect()
    }

    /// The array `name` as a matrix, as [`read_npy_matrix`] reads it.
    ///
    /// # Errors
    /// [`Error::Format`] naming the member for a missing array, a corrupt member, or any
    /// error of [`parse_npy_matrix`].
    pub fn matrix<F: Float>(&mut self, name: &str) -> Result<Array2<F>> {
        let (bytes, member) = self.member(name)?;
        parse_npy_matrix(&bytes, member)
    }

    /// The array `name` as class labels, as [`read_npy_labels`] reads them.
    ///
    /// # Errors
    /// As [`Npz::matrix`], with those of [`parse_npy_labels`].
    pub fn labels(&mut self, name: &str) -> Result<Vec<usize>> {
        let (bytes, member) = self.member(name)?;
        parse_npy_labels(&bytes, member)
    }

    /// The decompressed bytes of member `name.npy` (or `name`), and the path that names it
    /// in errors (`archive.npz/name.npy`).
    fn member(&mut self, name: &str) -> Result<(Vec<u8>, PathBuf)> {
        let file_name = format!("{name}.npy");
        let found = [file_name.as_str(), name]
            .into_iter()
            .find(|n| self.archive.index_for_name(n).is_some());
        let Some(found) = found else {
            return Err(Error::Format {
                path: self.path.clone(),
                offset: 0,
                message: format!(
                    "no array named {name:?}; the archive holds {:?}",
                    self.names()
                ),
            });
        };
        let member = self.path.join(found);
        let format = |message: String| Error::Format {
            path: member.clone(),
            offset: 0,
            message,
        };
        let mut file = (self.archive.by_name(found)).map_err(|e| format(e.to_string()))?;
        // The member's recorded size is not trusted: the buffer grows with the data that
        // really decompresses.
        let mut bytes = Vec::new();
        (file.read_to_end(&mut bytes)).map_err(|e| format(format!("cannot decompress: {e}")))?;
        Ok((bytes, member))
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A NumPy dtype this module reads: its name, size in bytes, byte order and kind.
#[derive(Clone, Copy, Debug)]
struct Dtype {
    name: &'static str,
    size: usize,
    big_endian: bool,
    integer: bool,
    signed: bool,
}

impl Dtype {
    /// The dtype of a descriptor such as `<f4`, `>i8` or `|u1`.
    fn parse(descriptor: &str) -> Option<Dtype> {
        let (order, code) = descriptor.split_at_checked(1)?;
        let big_endian = match order {
            "<" | "|" | "=" => false,
            ">" => true,
            _ => return None,
        };
        let (name, size, integer, signed) = match code {
            "f4" => ("float32", 4, false, true),
            "f8" => ("float64", 8, false, true),
            "i1" => ("int8", 1, true, true),
            "i2" => ("int16", 2, true, true),
            "i4" => ("int32", 4, true, true),
            "i8" => ("int64", 8, true, true),
            "u1" => ("uint8", 1, true, false),
            "u2" => ("uint16", 2, true, false),
            "u4" => ("uint32", 4, true, false),
            "u8" => ("uint64", 8, true, false),
            _ => return None,
        };
        Some(Dtype {
            name,
            size,
            big_endian,
            integer,
            signed,
        })
    }

    /// The value of one element's bytes, as f64 (exact for every float32, float64 and
    /// integer up to 2^53).
    fn value(&self, bytes: &[u8]) -> f64 {
        let mut b = [0u8; 8];
        b[..self.size].copy_from_slice(bytes);
        if self.big_endian {
            b[..self.size].reverse();
        }
        // `b` now holds the little-endian bytes of the value.
        match (self.integer, self.signed, self.size) {
            (false, _, 4) => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            (false, _, _) => f64::from_le_bytes(b),
            (true, false, _) => u64::from_le_bytes(b) as f64,
            (true, true, size) => {
                // Sign-extend from `size` bytes.
                let shift = 64 - 8 * size as u32;
                ((i64::from_le_bytes(b) << shift) >> shift) as f64
            }
        }
    }
}

/// A parsed `.npy` file: its header and where its values are.
struct Npy<'b> {
    source: &'b Path,
    dtype: Dtype,
    layout: Layout,
    shape: Vec<usize>,
    /// Byte offset of the values.
    offset: usize,
    /// The values' bytes, exactly `size × dtype.size` of them.
    data: &'b [u8],
}

impl<'b> Npy<'b> {
    fn parse(bytes: &'b [u8], source: &'b Path) -> Result<Self> {
        let error = |offset: usize, message: String| Error::Format {
            path: source.to_path_buf(),
            offset: offset as u64,
            message,
        };
        let (header_start, header_len) =
            check_header_length(bytes).map_err(|(offset, m)| error(offset, m))?;
        let header_bytes = &bytes[header_start..header_start + header_len];
        check_header_nesting(header_bytes).map_err(|(k, m)| error(header_start + k, m))?;
        let mut cursor = Cursor::new(bytes);
        let header = Header::from_reader(&mut cursor)
            .map_err(|e| error(header_start, format!("not a valid .npy header: {e}")))?;
        let offset = cursor.position() as usize;
        // A plain dtype's descriptor prints as a quoted string such as '<f4'; a structured
        // one as a list, which no dtype here matches.
        let descriptor = header.type_descriptor.to_string();
        let dtype = Dtype::parse(descriptor.trim_matches('\''));
        let Some(dtype) = dtype else {
            return Err(error(
                0,
                format!(
                    "dtype {} is not read: a float (f4, f8) or integer (i1..i8, u1..u8) one is \
                     needed",
                    header.type_descriptor
                ),
            ));
        };
        let count = (header.shape.iter()).try_fold(1usize, |n, &d| n.checked_mul(d));
        let needed = count.and_then(|n| n.checked_mul(dtype.size));
        let available = bytes.len() - offset;
        if needed != Some(available) {
            return Err(error(
                offset,
                format!(
                    "shape {:?} of {} needs {} bytes of values, the file holds {available}",
                    header.shape,
                    dtype.name,
                    needed.map_or("more than the address space".into(), |n| n.to_string()),
                ),
            ));
        }
        Ok(Npy {
            source,
            dtype,
            layout: header.layout,
            shape: header.shape,
            offset,
            data: &bytes[offset..],
        })
    }

    /// `(rows, columns)`: a vector of `n` is one column of `n` rows.
    fn matrix_shape(&self) -> Result<(usize, usize)> {
        match self.shape[..] {
            [n] => Ok((n, 1)),
            [rows, columns] => Ok((rows, columns)),
            _ => Err(self.error(
                0,
                format!(
                    "an array of shape {:?} is not a matrix or a vector",
                    self.shape
                ),
            )),
        }
    }

    /// The values in file order, each converted by `convert`, which returns `None` for a
    /// value it does not accept (named in the error by its byte offset).
    fn values<T>(&self, convert: impl Fn(f64) -> Option<T>) -> Result<Vec<T>> {
        let size = self.dtype.size;
        let mut out = Vec::with_capacity(self.data.len() / size);
        for (k, element) in self.data.chunks_exact(size).enumerate() {
            let value = self.dtype.value(element);
            match convert(value) {
                Some(v) => out.push(v),
                None => {
                    return Err(self.error(
                        self.offset + k * size,
                        format!("value {value} (element {k}) is not accepted here"),
                    ))
                }
            }
        }
        Ok(out)
    }

    fn error(&self, offset: usize, message: String) -> Error {
        Error::Format {
            path: self.source.to_path_buf(),
            offset: offset as u64,
            message,
        }
    }
}

/// Checks that the header has no escape and that its brackets (outside quoted strings)
/// are balanced and nest at most two deep, as a plain dtype's header does
/// (`{'shape': (3, 2), …}`), before its
/// Python-literal parser sees it: that parser backtracks exponentially on unbalanced
/// nesting (a 193-byte header of repeated `{{` ran for minutes), and the dtypes read here
/// never need more. `header` starts at the header's first byte; an error gives the
/// offset of the offending bracket in it.
fn check_header_nesting(header: &[u8]) -> std::result::Result<(), (usize, String)> {
    let mut open = Vec::new();
    let mut quote = None;
    for (k, &b) in header.iter().enumerate() {
        // No plain dtype's header has an escape; refusing them keeps the quotes, and so
        // the brackets outside them, unambiguous.
        if b == b'\\' {
            return Err((
                k,
                "an escape in the header, which no plain dtype's has".into(),
            ));
        }
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(b),
            (None, b'{' | b'(' | b'[') => {
                open.push(b);
                if open.len() > 2 {
                    return Err((k, "the header nests deeper than a plain dtype's".into()));
                }
            }
            (None, b'}' | b')' | b']') => {
                let expected = match open.pop() {
                    Some(b'{') => b'}',
                    Some(b'(') => b')',
                    Some(_) => b']',
                    None => 0,
                };
                if b != expected {
                    return Err((k, format!("an unbalanced {:?} in the header", b as char)));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks the magic string and that the header's declared length fits the file and
/// NumPy's limit, before the header is read (its reader allocates what it declares), and
/// returns the header's offset and length.
fn check_header_length(bytes: &[u8]) -> std::result::Result<(usize, usize), (usize, String)> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if !bytes.starts_with(MAGIC) {
        return Err((0, "not a .npy file (no \\x93NUMPY magic string)".into()));
    }
    let (length, start) = match bytes.get(6) {
        Some(1) => (
            bytes
                .get(8..10)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize),
            10,
        ),
        Some(2 | 3) => (
            bytes
                .get(8..12)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize),
            12,
        ),
        _ => return Err((6, "an unknown .npy format version".into())),
    };
    match length {
        None => Err((8, "the file ends inside the header".into())),
        Some(n) if n > MAX_HEADER => Err((
            8,
            format!("a header of {n} bytes, over NumPy's limit of {MAX_HEADER}"),
        )),
        Some(n) if start + n > bytes.len() => Err((
            start,
            format!(
                "a header of {n} bytes, but the file has {} after its start",
                bytes.len() - start
            ),
        )),
        Some(n) => Ok((start, n)),
    }
}
