//! The IDX format, in which MNIST and Fashion-MNIST are distributed.
//!
//! An IDX file is a 4-byte magic number `0x00 0x00 type ndims`, then `ndims` big-endian
//! `u32` dimensions, then the elements in row-major order. MNIST uses the element type
//! `0x08` (unsigned byte): its image files have 3 dimensions `(count, rows, columns)` and
//! its label files 1 dimension `(count)`. The files are usually gzip-compressed; the reader
//! recognises gzip by its content (the bytes `0x1f 0x8b`), not by the file name.
//!
//! The header is never trusted with memory: a plain file's declared size is compared with
//! the file's length before anything is allocated, and a gzip stream (whose length is
//! unknown until it is decompressed) is read in growing chunks, so that a lying header or a
//! gzip bomb makes the reader allocate at most about twice the data that is really there,
//! and never more than the declared size.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;
use nn_core::{Error, Result};

/// The element type code of unsigned bytes (`0x08`), the only type MNIST uses and the only
/// one this reader accepts.
pub const IDX_UNSIGNED_BYTE: u8 = 0x08;

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Size of the first chunk read from a stream of unknown length; later chunks double.
const CHUNK: usize = 1 << 16;

/// An array read from an IDX file: its dimensions and its elements in row-major order.
///
/// For an MNIST image file `dims` is `[count, rows, columns]` and image `i` is
/// `data[i * rows * columns..(i + 1) * rows * columns]`, row by row; for a label file
/// `dims` is `[count]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions, outermost first. None is zero, and their product is `data.len()`.
    pub dims: Vec<usize>,
    /// The elements (unsigned bytes), in row-major order.
    pub data: Vec<u8>,
}

impl IdxArray {
    /// Byte offset of the first element in the (decompressed) file: the 4-byte magic
    /// number plus 4 bytes per dimension. Element `k` is at `data_offset() + k`, which is
    /// what error messages about a single element should report.
    pub fn data_offset(&self) -> u64 {
        header_len(self.dims.len())
    }
}

/// Reads an IDX file of unsigned bytes, plain or gzip-compressed.
///
/// # Errors
/// - [`Error::Io`] if the file cannot be opened or read;
/// - [`Error::Format`], with the path and the byte offset in the decompressed stream, if
///   the magic number is wrong, the element type is not `0x08`, there are no dimensions,
///   a dimension is 0, the dimensions multiply to more than memory can address, the data
///   is shorter than the header declares (truncated) or longer (trailing bytes), or the
///   gzip stream is corrupt or truncated.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_error)?;
    let metadata = file.metadata().map_err(io_error)?;
    // Only a regular file's length is the length of its contents (not a pipe's).
    let len = metadata.is_file().then_some(metadata.len());
    parse(file, path, len)
}

/// Parses an IDX array, plain or gzip-compressed, from any reader (a byte slice works:
/// `&[u8]` implements [`Read`]). `path` is only used in error messages; pass the name of
/// whatever the bytes came from.
///
/// The length of the stream is not known in advance, so the data is read in chunks that
/// grow as it really arrives: a header that declares more than the stream holds costs at
/// most about twice the bytes that are there.
///
/// # Errors
/// As [`read_idx`]; [`Error::Io`] carries the errors of `reader` itself.
///
/// # Example
/// ```
/// // Two labels, 3 and 7: magic 0x00000801 (unsigned bytes, 1 dimension), count 2.
/// let bytes = [0, 0, 8, 1, 0, 0, 0, 2, 3, 7];
/// let labels = nn_data::parse_idx(&bytes[..], "labels")?;
/// assert_eq!(labels.dims, [2]);
/// assert_eq!(labels.data, [3, 7]);
/// # Ok::<(), nn_core::Error>(())
/// ```
pub fn parse_idx<R: Read>(reader: R, path: impl AsRef<Path>) -> Result<IdxArray> {
    parse(reader, path.as_ref(), None)
}

/// Reads an IDX file of images, `(count, rows, columns)` unsigned bytes, and returns
/// `(rows, columns, pixels)`: image `i` is `pixels[i * rows * columns..][..rows * columns]`,
/// row by row, and the number of images is `pixels.len() / (rows * columns)`.
///
/// # Errors
/// As [`read_idx`], and [`Error::Format`] at offset 3 if the file does not have exactly
/// 3 dimensions.
pub fn read_images(path: impl AsRef<Path>) -> Result<(usize, usize, Vec<u8>)> {
    let path = path.as_ref();
    let array = read_idx(path)?;
    check_ndims(&array, 3, "images, rows, columns", path)?;
    Ok((array.dims[1], array.dims[2], array.data))
}

/// Reads an IDX file of labels, `(count)` unsigned bytes, and returns them. Label `i` is at
/// byte `8 + i` of the (decompressed) file.
///
/// # Errors
/// As [`read_idx`], and [`Error::Format`] at offset 3 if the file does not have exactly
/// 1 dimension.
pub fn read_labels(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let array = read_idx(path)?;
    check_ndims(&array, 1, "labels", path)?;
    Ok(array.data)
}

fn check_ndims(array: &IdxArray, expected: usize, meaning: &str, path: &Path) -> Result<()> {
    if array.dims.len() == expected {
        return Ok(());
    }
    Err(format_error(
        path,
        3,
        format!(
            "expected {expected} dimension(s) ({meaning}), found {} ({})",
            array.dims.len(),
            show_dims(&array.dims)
        ),
    ))
}

/// Size of the header of an IDX file with `ndims` dimensions.
fn header_len(ndims: usize) -> u64 {
    4 + 4 * ndims as u64
}

fn format_error(path: &Path, offset: u64, message: String) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        offset,
        message,
    }
}

fn show_dims(dims: &[usize]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(" x ")
}

fn type_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0b => "16-bit integer",
        0x0c => "32-bit integer",
        0x0d => "32-bit float",
        0x0e => "64-bit float",
        _ => return None,
    })
}

/// Detects gzip from the first two bytes, then parses. `known_len` is the length of a
/// plain file, if known; it lets the declared size be checked before allocating.
fn parse<R: Read>(mut reader: R, path: &Path, known_len: Option<u64>) -> Result<IdxArray> {
    let mut prefix = [0u8; 2];
    let mut got = 0;
    while got < prefix.len() {
        match reader.read(&mut prefix[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
    let whole = (&prefix[..got]).chain(reader);
    if prefix[..got] == GZIP_MAGIC {
        let decoder = MultiGzDecoder::new(BufReader::with_capacity(CHUNK, whole));
        parse_stream(Source::new(decoder, path, true), None)
    } else {
        parse_stream(Source::new(whole, path, false), known_len)
    }
}

/// A reader that counts the bytes it has delivered, so that errors carry an offset.
struct Source<'p, R> {
    inner: R,
    path: &'p Path,
    gzip: bool,
    pos: u64,
}

impl<'p, R: Read> Source<'p, R> {
    fn new(inner: R, path: &'p Path, gzip: bool) -> Self {
        Source {
            inner,
            path,
            gzip,
            pos: 0,
        }
    }

    /// Reads until `buf` is full or the stream ends; returns the number of bytes read.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => {
                    n += k;
                    self.pos += k as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.error(e)),
            }
        }
        Ok(n)
    }

    /// A decoding failure of a gzip stream is a format error at the current offset; any
    /// other failure is an I/O error.
    fn error(&self, source: io::Error) -> Error {
        use io::ErrorKind::{InvalidData, InvalidInput, UnexpectedEof};
        if self.gzip && matches!(source.kind(), InvalidData | InvalidInput | UnexpectedEof) {
            format_error(
                self.path,
                self.pos,
                format!("corrupt or truncated gzip stream: {source}"),
            )
        } else {
            Error::Io {
                path: self.path.to_path_buf(),
                source,
            }
        }
    }
}

/// Parses an IDX stream in three steps: the magic number (element type and number of
/// dimensions), the dimensions, then exactly the data they declare.
fn parse_stream<R: Read>(mut src: Source<'_, R>, known_len: Option<u64>) -> Result<IdxArray> {
    let ndims = read_magic(&mut src)?;
    let (dims, declared) = read_dims(&mut src, ndims)?;
    let data = read_data(&mut src, &dims, declared, known_len)?;
    Ok(IdxArray { dims, data })
}

/// The error for a file that ends inside its header, at `offset`.
fn truncated_header(path: &Path, offset: u64, what: &str) -> Error {
    format_error(
        path,
        offset,
        format!("truncated header: the file ends inside {what}"),
    )
}

/// Reads the 4-byte magic number: two zero bytes, the element type (only unsigned bytes
/// are supported) and the number of dimensions, which it returns.
fn read_magic<R: Read>(src: &mut Source<'_, R>) -> Result<usize> {
    let path = src.path;
    let mut magic = [0u8; 4];
    let n = src.fill(&mut magic)?;
    if n < magic.len() {
        return Err(truncated_header(path, n as u64, "the 4-byte magic number"));
    }
    if magic[..2] != [0, 0] {
        return Err(format_error(
            path,
            0,
            format!(
                "bad magic number {:02x} {:02x} {:02x} {:02x}: an IDX file starts with two zero \
                 bytes, then the element type and the number of dimensions",
                magic[0], magic[1], magic[2], magic[3]
            ),
        ));
    }
    let element_type = magic[2];
    if element_type != IDX_UNSIGNED_BYTE {
        let message = match type_name(element_type) {
            Some(name) => format!(
                "element type 0x{element_type:02x} ({name}) is not supported; only 0x08 \
                 (unsigned byte, the type of MNIST) is"
            ),
            None => format!(
                "unknown element type 0x{element_type:02x}; only 0x08 (unsigned byte, the \
                 type of MNIST) is supported"
            ),
        };
        return Err(format_error(path, 2, message));
    }
    let ndims = usize::from(magic[3]);
    if ndims == 0 {
        return Err(format_error(
            path,
            3,
            "the header declares 0 dimensions; at least 1 is needed".into(),
        ));
    }
    Ok(ndims)
}

/// Reads `ndims` big-endian `u32` dimensions, each at least 1, and returns them with the
/// number of elements they declare, checked to fit in memory's address space.
fn read_dims<R: Read>(src: &mut Source<'_, R>, ndims: usize) -> Result<(Vec<usize>, usize)> {
    let path = src.path;
    let mut raw = vec![0u8; 4 * ndims];
    let n = src.fill(&mut raw)?;
    if n < raw.len() {
        return Err(truncated_header(
            path,
            4 + n as u64,
            &format!("the {ndims} dimensions"),
        ));
    }
    let mut dims = Vec::with_capacity(ndims);
    let mut declared: u64 = 1;
    for (i, bytes) in raw.chunks_exact(4).enumerate() {
        let dim = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if dim == 0 {
            return Err(format_error(
                path,
                4 + 4 * i as u64,
                format!("dimension {i} is 0; every dimension must be at least 1"),
            ));
        }
        dims.push(dim as usize);
        declared = declared.checked_mul(u64::from(dim)).ok_or_else(|| {
            format_error(
                path,
                4,
                format!(
                    "the dimensions {} multiply to more than 2^64 elements",
                    show_dims_u32(&raw)
                ),
            )
        })?;
    }
    // A `Vec` can hold at most `isize::MAX` bytes.
    let declared = usize::try_from(declared)
        .ok()
        .filter(|&d| d <= isize::MAX as usize)
        .ok_or_else(|| {
            format_error(
                path,
                4,
                format!(
                    "the dimensions {} declare {declared} elements, more than memory can address",
                    show_dims(&dims)
                ),
            )
        })?;
    Ok((dims, declared))
}

/// Reads exactly the `declared` bytes of data after the header, then checks that the
/// stream ends there. Memory grows only as far as the data really comes (the first chunk,
/// then doubling), so a header that lies about its size costs no allocation.
fn read_data<R: Read>(
    src: &mut Source<'_, R>,
    dims: &[usize],
    declared: usize,
    known_len: Option<u64>,
) -> Result<Vec<u8>> {
    let path = src.path;
    let header = header_len(dims.len());
    let truncated = |found: u64| {
        format_error(
            path,
            header + found,
            format!(
                "truncated data: the header declares {} = {declared} bytes of data, but the \
                 data ends after {found}",
                show_dims(dims)
            ),
        )
    };
    let trailing = |extra: Option<u64>| {
        let extra = extra.map_or_else(|| "unexpected".into(), |e| format!("{e}"));
        format_error(
            path,
            header + declared as u64,
            format!(
                "{extra} trailing bytes after the {declared} bytes of data the header \
                 declares ({})",
                show_dims(dims)
            ),
        )
    };

    // A plain file of known length: check the declared size before allocating anything.
    let initial = match known_len {
        Some(len) => {
            let available = len.saturating_sub(header);
            if available < declared as u64 {
                return Err(truncated(available));
            }
            if available > declared as u64 {
                return Err(trailing(Some(available - declared as u64)));
            }
            declared
        }
        None => declared.min(CHUNK),
    };

    let mut data: Vec<u8> = Vec::new();
    let mut filled = 0;
    while filled < declared {
        let target = declared.min(initial.max(filled.saturating_mul(2)));
        data.try_reserve_exact(target - data.len())
            .map_err(|e| Error::Io {
                path: path.to_path_buf(),
                source: io::Error::new(io::ErrorKind::OutOfMemory, e),
            })?;
        data.resize(target, 0);
        let n = src.fill(&mut data[filled..])?;
        filled += n;
        if filled < target {
            break;
        }
    }
    if filled < declared {
        return Err(truncated(filled as u64));
    }
    // Read on to the end of the stream: this finds trailing bytes and, for gzip, makes the
    // decoder verify the stream's checksum and length.
    let mut probe = [0u8; 1];
    if src.fill(&mut probe)? > 0 {
        return Err(trailing(None));
    }
    Ok(data)
}

fn show_dims_u32(raw: &[u8]) -> String {
    raw.chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]).to_string())
        .collect::<Vec<_>>()
        .join(" x ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{format_error, gzip, idx, largest_allocation, TempDir};
    use std::path::PathBuf;

    /// Two 2x3 images and their IDX encoding.
    fn two_images() -> (Vec<u8>, Vec<u8>) {
        let pixels: Vec<u8> = (0..12).map(|i| i * 20).collect();
        (idx(8, &[2, 2, 3], &pixels), pixels)
    }

    /// Writes `bytes` plain and gzip-compressed (both without a telling extension), reads
    /// each with `read_idx` and `parse_idx`, and returns the four results.
    fn read_all_ways(bytes: &[u8]) -> Vec<(PathBuf, Result<IdxArray>)> {
        let dir = TempDir::new();
        let plain = dir.write("data.idx", bytes);
        let zipped = dir.write("data.bin", &gzip(bytes));
        let gz_bytes = gzip(bytes);
        vec![
            (plain.clone(), read_idx(&plain)),
            (zipped.clone(), read_idx(&zipped)),
            (PathBuf::from("slice"), parse_idx(bytes, "slice")),
            (
                PathBuf::from("gz slice"),
                parse_idx(&gz_bytes[..], "gz slice"),
            ),
        ]
    }

    /// Checks that every way of reading `bytes` fails with a format error at `offset`
    /// whose message contains `needle`, and that the message names the file.
    #[track_caller]
    fn assert_format_error_everywhere(bytes: &[u8], offset: u64, needle: &str) {
        for (path, result) in read_all_ways(bytes) {
            let err_text = result.as_ref().map(|_| ()).unwrap_err().to_string();
            let (p, o, message) = format_error(result);
            assert_eq!(p, path);
            assert_eq!(o, offset, "{path:?}: {message}");
            assert!(
                message.contains(needle),
                "{path:?}: {message:?} lacks {needle:?}"
            );
            assert!(err_text.contains(&path.display().to_string()), "{err_text}");
            assert!(
                err_text.contains(&format!("at byte {offset}")),
                "{err_text}"
            );
        }
    }

    #[test]
    fn reads_plain_and_gzip_files_and_slices_alike() {
        let (bytes, pixels) = two_images();
        for (path, result) in read_all_ways(&bytes) {
            let array = result.unwrap_or_else(|e| panic!("{path:?}: {e}"));
            assert_eq!(array.dims, [2, 2, 3]);
            assert_eq!(array.data, pixels);
            assert_eq!(array.data_offset(), 16);
        }
        let dir = TempDir::new();
        let images = dir.write("images", &gzip(&bytes));
        assert_eq!(read_images(&images).unwrap(), (2, 3, pixels));
        let labels = dir.write("labels", &idx(8, &[3], &[7, 0, 9]));
        assert_eq!(read_labels(&labels).unwrap(), [7, 0, 9]);
    }

    #[test]
    fn concatenated_gzip_members_are_one_stream() {
        let (bytes, pixels) = two_images();
        let mut two_members = gzip(&bytes[..10]);
        two_members.extend(gzip(&bytes[10..]));
        let array = parse_idx(&two_members[..], "members").unwrap();
        assert_eq!(array.data, pixels);
    }

    #[test]
    fn rejects_a_wrong_magic_number() {
        let (mut bytes, _) = two_images();
        bytes[0] = 0x50;
        assert_format_error_everywhere(&bytes, 0, "bad magic number");
        // A gzip file holding a gzip file is not an IDX file either.
        let (bytes, _) = two_images();
        let (_, offset, message) = format_error(parse_idx(&gzip(&gzip(&bytes))[..], "twice"));
        assert_eq!(offset, 0);
        assert!(message.contains("bad magic number 1f 8b"), "{message}");
    }

    #[test]
    fn rejects_unsupported_element_types() {
        assert_format_error_everywhere(&idx(0x0d, &[1], &[0; 4]), 2, "0x0d (32-bit float)");
        assert_format_error_everywhere(&idx(0x42, &[1], &[0]), 2, "unknown element type 0x42");
    }

    #[test]
    fn rejects_zero_dimensions() {
        assert_format_error_everywhere(&idx(8, &[], &[1]), 3, "0 dimensions");
        assert_format_error_everywhere(&idx(8, &[3, 0, 2], &[]), 8, "dimension 1 is 0");
    }

    #[test]
    fn rejects_dimensions_whose_product_overflows_or_cannot_be_addressed() {
        let huge = u32::MAX;
        assert_format_error_everywhere(&idx(8, &[huge, huge, huge], &[]), 4, "2^64");
        // (2^32 - 1)^2 fits in a u64 but exceeds isize::MAX.
        assert_format_error_everywhere(&idx(8, &[huge, huge], &[]), 4, "more than memory");
    }

    #[test]
    fn rejects_a_truncated_header() {
        assert_format_error_everywhere(&[0, 0, 8], 3, "inside the 4-byte magic number");
        assert_format_error_everywhere(&[], 0, "inside the 4-byte magic number");
        let cut = &idx(8, &[3, 2, 2], &[])[..10];
        assert_format_error_everywhere(cut, 10, "inside the 3 dimensions");
    }

    #[test]
    fn rejects_data_shorter_than_declared() {
        let bytes = idx(8, &[10], &[1, 2, 3, 4, 5]);
        assert_format_error_everywhere(&bytes, 8 + 5, "truncated data");
        assert_format_error_everywhere(&bytes, 8 + 5, "declares 10 = 10 bytes of data");
    }

    #[test]
    fn rejects_trailing_bytes() {
        let bytes = idx(8, &[3], &[1, 2, 3, 4, 5]);
        assert_format_error_everywhere(&bytes, 8 + 3, "trailing bytes");
        // A plain file's length is known, so the message counts them.
        let dir = TempDir::new();
        let path = dir.write("labels", &bytes);
        let (_, _, message) = format_error(read_idx(&path));
        assert!(message.starts_with("2 trailing bytes"), "{message}");
    }

    #[test]
    fn rejects_corrupt_and_truncated_gzip() {
        let (bytes, _) = two_images();
        let zipped = gzip(&bytes);
        let dir = TempDir::new();

        // Cut inside the deflate data or inside the 8-byte trailer (checksum, length).
        for cut in [zipped.len() / 2, zipped.len() - 3] {
            let path = dir.write("cut", &zipped[..cut]);
            let (p, offset, message) = format_error(read_idx(&path));
            assert_eq!(p, path);
            assert!(offset <= bytes.len() as u64, "{offset}");
            assert!(message.contains("corrupt or truncated gzip"), "{message}");
        }

        // A wrong checksum: the data decompresses, then the trailer does not match.
        let mut bad_crc = zipped.clone();
        let crc_at = bad_crc.len() - 8;
        bad_crc[crc_at] ^= 0xff;
        let path = dir.write("crc", &bad_crc);
        let (p, offset, message) = format_error(read_idx(&path));
        assert_eq!(p, path);
        assert_eq!(offset, bytes.len() as u64);
        assert!(message.contains("corrupt or truncated gzip"), "{message}");

        // Garbage in the deflate stream itself.
        let mut garbage = zipped.clone();
        for b in &mut garbage[10..zipped.len() - 8] {
            *b = 0xff;
        }
        let path = dir.write("garbage", &garbage);
        let (_, _, message) = format_error(read_idx(&path));
        assert!(message.contains("gzip"), "{message}");
    }

    #[test]
    fn a_header_declaring_2_pow_31_bytes_in_a_tiny_file_fails_without_allocating() {
        let bytes = idx(8, &[1 << 31], &[1, 2, 3]);
        let dir = TempDir::new();
        let plain = dir.write("plain", &bytes);
        let zipped = dir.write("zipped", &gzip(&bytes));
        let (results, largest) = largest_allocation(|| {
            [
                read_idx(&plain),
                read_idx(&zipped),
                parse_idx(&bytes[..], "slice"),
            ]
        });
        for result in results {
            let (_, offset, message) = format_error(result);
            assert_eq!(offset, 8 + 3);
            assert!(message.contains("2147483648 bytes of data"), "{message}");
        }
        assert!(largest < 1 << 20, "largest allocation: {largest} bytes");
    }

    #[test]
    fn a_gzip_bomb_allocates_about_the_data_that_is_really_there() {
        // 8 MiB of zeros compress to a few kilobytes; the header claims 2 GiB.
        let real = 8 << 20;
        let mut bytes = idx(8, &[1 << 31], &[]);
        bytes.resize(bytes.len() + real, 0);
        let zipped = gzip(&bytes);
        drop(bytes);
        assert!(zipped.len() < 100_000);
        let (result, largest) = largest_allocation(|| parse_idx(&zipped[..], "bomb"));
        let (_, offset, _) = format_error(result);
        assert_eq!(offset, 8 + real as u64);
        assert!(largest <= 2 * real, "largest allocation: {largest} bytes");
    }

    #[test]
    fn images_and_labels_need_3_and_1_dimensions() {
        let dir = TempDir::new();
        let labels = dir.write("labels", &idx(8, &[3], &[1, 2, 3]));
        let (p, offset, message) = format_error(read_images(&labels));
        assert_eq!((p, offset), (labels, 3));
        assert!(message.contains("expected 3 dimension(s)"), "{message}");
        let (images, _) = two_images();
        let images = dir.write("images", &images);
        let (_, offset, message) = format_error(read_labels(&images));
        assert_eq!(offset, 3);
        assert!(message.contains("found 3 (2 x 2 x 3)"), "{message}");
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let dir = TempDir::new();
        let path = dir.path().join("missing");
        match read_idx(&path) {
            Err(Error::Io { path: p, source }) => {
                assert_eq!(p, path);
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("expected Error::Io, got {other:?}"),
        }
    }
}
