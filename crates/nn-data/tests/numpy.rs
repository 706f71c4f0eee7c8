//! Reading NumPy's own files: every fixture in `tests/data/numpy` was written by NumPy
//! (`make.py` there), so these tests check the format as NumPy writes it, not as we think
//! it does.

use std::path::{Path, PathBuf};

use ndarray::array;
use nn_core::Error;
use nn_data::{parse_npy_matrix, read_npy_labels, read_npy_matrix, Npz};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/numpy")
        .join(name)
}

/// The error's byte offset and message, for a `Format` error.
fn format_error<T: std::fmt::Debug>(result: nn_core::Result<T>) -> (u64, String) {
    match result {
        Err(Error::Format {
            offset, message, ..
        }) => (offset, message),
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn every_float_dtype_order_and_layout_reads_the_same_matrix() {
    let expected = array![[0.5, -1.0], [2.0, 3.25], [1e-3, 7.0]];
    for name in ["x_f64_fortran.npy", "x_f64_big_endian.npy", "x_f32.npy"] {
        let x = read_npy_matrix::<f64>(fixture(name)).unwrap();
        let tolerance = if name.contains("f32") { 1e-7 } else { 0.0 };
        assert_eq!(x.dim(), (3, 2), "{name}");
        for (a, b) in x.iter().zip(expected.iter()) {
            assert!((a - b).abs() <= tolerance * b.abs(), "{name}: {a} vs {b}");
        }
    }
    // f32 values read as f32 are NumPy's float32 values exactly.
    let x32 = read_npy_matrix::<f32>(fixture("x_f32.npy")).unwrap();
    assert_eq!(x32[(2, 0)], 1e-3f32);
    // Integers become floats, negative ones included.
    let ints = read_npy_matrix::<f32>(fixture("x_i16.npy")).unwrap();
    assert_eq!(ints, array![[-3.0, 4.0], [5.0, -32768.0], [32767.0, 0.0]]);
}

#[test]
fn labels_come_from_integer_vectors_or_columns() {
    assert_eq!(read_npy_labels(fixture("y_i64.npy")).unwrap(), [0, 2, 1]);
    assert_eq!(
        read_npy_labels(fixture("y_u8_column.npy")).unwrap(),
        [1, 0, 1]
    );
    // A vector read as a matrix is one column.
    let column = read_npy_matrix::<f64>(fixture("y_i64.npy")).unwrap();
    assert_eq!(column, array![[0.0], [2.0], [1.0]]);
    // A negative label is named by its byte offset: values start at 128, element 1 at 136.
    let mut negative =
        bytes_with_header("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }");
    assert_eq!(negative.len(), 128);
    negative.extend_from_slice(&1i64.to_le_bytes());
    negative.extend_from_slice(&(-1i64).to_le_bytes());
    let (offset, message) = format_error(nn_data::parse_npy_labels(&negative, "neg.npy"));
    assert_eq!(offset, 136);
    assert!(message.contains("value -1 (element 1)"), "{message}");
    // Floats and matrices of several columns are not labels.
    let (_, message) = format_error(read_npy_labels(fixture("x_f32.npy")));
    assert!(message.contains("float32"), "{message}");
    let (offset, message) = format_error(read_npy_labels(fixture("x_i16.npy")));
    assert!(message.contains("integer per sample"), "{message}");
    assert_eq!(offset, 0);
}

#[test]
fn npz_archives_compressed_or_not_read_by_name() {
    let mut compressed = Npz::open(fixture("data.npz")).unwrap();
    let mut names = compressed.names();
    names.sort();
    assert_eq!(names, ["x", "y"]);
    let x = compressed.matrix::<f32>("x").unwrap();
    assert_eq!(x[(1, 1)], 3.25);
    assert_eq!(compressed.labels("y").unwrap(), [0, 2, 1]);
    let mut stored = Npz::open(fixture("stored.npz")).unwrap();
    assert_eq!(stored.matrix::<f64>("x").unwrap()[(2, 0)], 1e-3);
    // A missing name lists what there is.
    let (_, message) = format_error(stored.matrix::<f64>("y"));
    assert!(
        message.contains("no array named \"y\"") && message.contains("\"x\""),
        "{message}"
    );
    // A .npy file is not an archive.
    let bytes = std::fs::read(fixture("x_f32.npy")).unwrap();
    assert!(matches!(
        Npz::from_bytes(bytes, "x_f32.npy"),
        Err(Error::Format { offset: 0, .. })
    ));
}

#[test]
fn what_is_not_a_float_or_integer_matrix_is_refused_with_its_place() {
    let (_, message) = format_error(read_npy_matrix::<f32>(fixture("x_3d.npy")));
    assert!(message.contains("[2, 2, 2]"), "{message}");
    let (_, message) = format_error(read_npy_matrix::<f32>(fixture("names.npy")));
    assert!(message.contains("dtype"), "{message}");
    let bytes = std::fs::read(fixture("x_f32.npy")).unwrap();
    // The header of these files ends at byte 128; 24 bytes of values follow.
    let header_end = bytes.len() - 24;
    assert_eq!(header_end, 128);
    // A value missing, or one too many: the offset is where the values start.
    for cut in [
        &bytes[..bytes.len() - 1],
        &[&bytes[..], &[0u8][..]].concat()[..],
    ] {
        let (offset, message) = format_error(parse_npy_matrix::<f32>(cut, "cut.npy"));
        assert_eq!(offset, 128);
        assert!(message.contains("needs 24 bytes"), "{message}");
    }
    // The file ends inside the header, or declares a header longer than NumPy allows.
    let (offset, _) = format_error(parse_npy_matrix::<f32>(&bytes[..100], "short.npy"));
    assert_eq!(offset, 10);
    let mut long = bytes.clone();
    long[8..10].copy_from_slice(&20_000u16.to_le_bytes());
    let (offset, message) = format_error(parse_npy_matrix::<f32>(&long, "long.npy"));
    assert_eq!(offset, 8);
    assert!(message.contains("limit of 10000"), "{message}");
    // Not a .npy file at all, and an unknown version.
    assert_eq!(
        format_error(parse_npy_matrix::<f32>(b"PK\x03\x04", "z")).0,
        0
    );
    let mut version = bytes.clone();
    version[6] = 9;
    assert_eq!(format_error(parse_npy_matrix::<f32>(&version, "v")).0, 6);
    // A shape whose size overflows is refused before anything is allocated.
    let huge = bytes_with_header(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
    );
    let (_, message) = format_error(parse_npy_matrix::<f64>(&huge, "huge.npy"));
    assert!(message.contains("more than the address space"), "{message}");
    // Deep or unbalanced nesting in the header is refused, at the offending bracket,
    // before the header's parser (which backtracks exponentially on it) sees it.
    for open in ["[", "(", "{"] {
        let deep = bytes_with_header(&open.repeat(9000));
        assert_eq!(
            format_error(parse_npy_matrix::<f32>(&deep, "deep.npy")).0,
            12
        );
    }
    // Found by the fuzzer: 193 bytes that kept the parser busy for minutes.
    let slow = bytes_with_header(&format!(
        "{{'descr': '<f4',{}",
        "{'': '<f4',{{'d4',{{'d',{{'deskr': '<f4',".repeat(4)
    ));
    let (offset, message) = format_error(parse_npy_matrix::<f32>(&slow, "slow.npy"));
    assert_eq!(offset, 10 + 27); // the third `{`
    assert!(message.contains("nests deeper"), "{message}");
    // Brackets inside a quoted string, single or double, are not the header's nesting:
    // such a file gets as far as its (unknown) dtype.
    for descr in ["'<f4((({{'", "\"<f4[[[(\""] {
        let quoted = bytes_with_header(&format!(
            "{{'descr': {descr}, 'fortran_order': False, 'shape': (1,), }}"
        ));
        let (offset, message) = format_error(parse_npy_matrix::<f32>(&quoted, "q.npy"));
        assert!(message.contains("is not read"), "{descr}: {message}");
        assert_eq!(offset, 0);
    }
    // An escaped quote would hide brackets from that check: escapes are refused.
    let escaped = bytes_with_header("{'descr': '<f4\\', 'shape': (3, 2), }");
    let (offset, message) = format_error(parse_npy_matrix::<f32>(&escaped, "e.npy"));
    assert_eq!(offset, 10 + 14);
    assert!(message.contains("escape"), "{message}");
    let unbalanced = bytes_with_header("{'descr': '<f4', 'shape': (3, 2}, }");
    let (offset, message) = format_error(parse_npy_matrix::<f32>(&unbalanced, "u.npy"));
    assert_eq!(offset, 10 + 31);
    assert!(message.contains("unbalanced '}'"), "{message}");
    assert!(matches!(
        read_npy_matrix::<f32>(fixture("missing.npy")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn every_integer_dtype_and_header_version_reads() {
    // (descriptor, one value's bytes, the value)
    let cases: [(&str, Vec<u8>, f64); 10] = [
        ("|i1", vec![0xff], -1.0),
        ("<i2", (-300i16).to_le_bytes().to_vec(), -300.0),
        ("<i4", (-70_000i32).to_le_bytes().to_vec(), -70_000.0),
        ("<i8", (-5i64).to_le_bytes().to_vec(), -5.0),
        ("|u1", vec![255], 255.0),
        ("<u2", 65_535u16.to_le_bytes().to_vec(), 65_535.0),
        ("<u4", 4_000_000_000u32.to_le_bytes().to_vec(), 4e9),
        ("<u8", (1u64 << 40).to_le_bytes().to_vec(), 2f64.powi(40)),
        (">i4", (-7i32).to_be_bytes().to_vec(), -7.0),
        (">f4", 0.5f32.to_be_bytes().to_vec(), 0.5),
    ];
    for (descr, value, expected) in cases {
        let mut bytes = bytes_with_header(&format!(
            "{{'descr': '{descr}', 'fortran_order': False, 'shape': (1,), }}"
        ));
        bytes.extend_from_slice(&value);
        let x = parse_npy_matrix::<f64>(&bytes, "one.npy").unwrap();
        assert_eq!(x[(0, 0)], expected, "{descr}");
    }
    // Version 2.0 and 3.0 files have a 4-byte header length.
    for version in [2u8, 3] {
        let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }\n";
        let mut bytes = vec![0x93, b'N', b'U', b'M', b'P', b'Y', version, 0];
        bytes.extend_from_slice(&(dict.len() as u32).to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        bytes.extend_from_slice(&2.5f64.to_le_bytes());
        let x = parse_npy_matrix::<f64>(&bytes, "v.npy").unwrap();
        assert_eq!(x, array![[2.5]], "version {version}");
    }
}

#[test]
fn a_header_may_be_as_long_as_numpy_allows_and_no_longer() {
    for (length, accepted) in [(10_000usize, true), (10_001, false)] {
        let mut dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }".to_string();
        dict += &" ".repeat(length - dict.len() - 1);
        dict.push('\n');
        let mut bytes = vec![0x93, b'N', b'U', b'M', b'P', b'Y', 2, 0];
        bytes.extend_from_slice(&(dict.len() as u32).to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        let result = parse_npy_matrix::<f32>(&bytes, "long.npy");
        assert_eq!(result.is_ok(), accepted, "{length}: {result:?}");
    }
    // A declared header longer than the rest of the file.
    let mut bytes = bytes_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }");
    bytes.truncate(60);
    let (offset, message) = format_error(parse_npy_matrix::<f32>(&bytes, "cut.npy"));
    assert_eq!(offset, 10);
    assert!(
        message.contains("the file has 50 after its start"),
        "{message}"
    );
}

/// A version 1.0 `.npy` file with `header` and no values.
fn bytes_with_header(header: &str) -> Vec<u8> {
    let mut dict = header.to_string();
    while !(10 + dict.len() + 1).is_multiple_of(64) {
        dict.push(' ');
    }
    dict.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    bytes.extend_from_slice(dict.as_bytes());
    bytes
}
