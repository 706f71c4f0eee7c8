//! Property tests (proptest) of the readers: `parse_idx`, `parse_csv` and `parse_table`
//! never panic on arbitrary bytes (plain or gzip-compressed for IDX), and valid generated
//! files read back exactly; datasets built from arbitrary parts give an error or batches
//! that visit every sample once.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use nn_data::{
    parse_csv, parse_idx, parse_table, Column, CsvData, Dataset, Error, Header, IdxArray,
    TableOptions, TableTargets, TargetKind,
};
use proptest::prelude::*;
use proptest::test_runner::Config;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// `cases` cases, and no failure files written into the source tree (a failure prints its
/// minimal input; `PROPTEST_CASES` overrides the count for longer runs).
fn config(cases: u32) -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(cases),
        failure_persistence: None,
        ..Config::default()
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// An IDX file: magic `0 0 type ndims`, the dimensions, then `data`.
fn idx(element_type: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, element_type, dims.len() as u8];
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// A valid array: 1 to 4 dimensions of 1 to 6, and its data.
fn idx_array() -> impl Strategy<Value = (Vec<u32>, Vec<u8>)> {
    prop::collection::vec(1u32..=6, 1..=4).prop_flat_map(|dims| {
        let n = dims.iter().product::<u32>() as usize;
        (Just(dims), prop::collection::vec(any::<u8>(), n))
    })
}

/// Bytes that look like the start of an IDX file often enough to get past the magic.
fn idx_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        (
            prop_oneof![Just(8u8), any::<u8>()],
            0u8..6,
            prop::collection::vec(prop_oneof![0u32..8, Just(u32::MAX), any::<u32>()], 0..6),
            prop::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(|(t, n, dims, data)| {
                let mut bytes = vec![0, 0, t, n];
                for d in dims {
                    bytes.extend(d.to_be_bytes());
                }
                bytes.extend(data);
                bytes
            }),
    ]
}

fn assert_idx_error(result: Result<IdxArray, Error>) -> Result<(), TestCaseError> {
    match result {
        Err(Error::Format { path, .. }) => prop_assert_eq!(path.to_str(), Some("mem")),
        other => prop_assert!(false, "expected a format error, got {:?}", other),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    /// Arbitrary bytes, plain, gzip-compressed, or gzip cut short: an array or an error.
    #[test]
    fn parse_idx_never_panics(bytes in idx_like(), cut in any::<usize>()) {
        let plain = parse_idx(&bytes[..], "mem");
        let zipped = gzip(&bytes);
        // The gzip stream holds the same bytes, so it reads the same (unless the bytes
        // were gzip themselves, and the plain read inflated them).
        if !bytes.starts_with(&[0x1f, 0x8b]) {
            let from_gzip = parse_idx(&zipped[..], "mem");
            match (&plain, &from_gzip) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                _ => prop_assert!(false, "plain {:?}, gzip {:?}", plain, from_gzip),
            }
        }
        let _ = parse_idx(&zipped[..cut % (zipped.len() + 1)], "mem");
        let _ = parse_idx(&bytes[..cut % (bytes.len() + 1)], "mem");
    }

    /// A valid file reads back exactly, plain and gzip; one byte short or one too many is
    /// a format error.
    #[test]
    fn valid_idx_round_trips((dims, data) in idx_array(), extra in any::<u8>()) {
        let file = idx(8, &dims, &data);
        let expected = IdxArray {
            dims: dims.iter().map(|&d| d as usize).collect(),
            data: data.clone(),
        };
        prop_assert_eq!(&parse_idx(&file[..], "mem").unwrap(), &expected);
        prop_assert_eq!(&parse_idx(&gzip(&file)[..], "mem").unwrap(), &expected);
        prop_assert_eq!(expected.data_offset(), 4 + 4 * dims.len() as u64);

        assert_idx_error(parse_idx(&file[..file.len() - 1], "mem"))?;
        assert_idx_error(parse_idx(&gzip(&file[..file.len() - 1])[..], "mem"))?;
        let mut longer = file.clone();
        longer.push(extra);
        assert_idx_error(parse_idx(&longer[..], "mem"))?;
        assert_idx_error(parse_idx(&gzip(&longer)[..], "mem"))?;
    }
}

// ---------------------------------------------------------------------------------------
// CSV.

/// Text built from the characters a CSV file of numbers is made of, and a few others.
/// Bytes that are often nearly a `.npy` file: the magic string and version, a header
/// length, then a dict of a real dtype and shape with random edits, and random values; or
/// random bytes.
fn npy_like() -> impl Strategy<Value = Vec<u8>> {
    let descr = prop_oneof![
        Just("<f4"),
        Just(">f8"),
        Just("<i8"),
        Just("|u1"),
        Just("<c8"),
        Just("|b1")
    ];
    let shape = prop::collection::vec(0usize..5, 0..4);
    let near = (
        descr,
        shape,
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..80),
    )
        .prop_map(|(descr, shape, fortran, values)| {
            let dims: Vec<String> = shape.iter().map(|d| format!("{d},")).collect();
            let order = if fortran { "True" } else { "False" };
            let dict = format!(
                "{{'descr': '{descr}', 'fortran_order': {order}, 'shape': ({}), }}\n",
                dims.concat()
            );
            let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
            bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
            bytes.extend_from_slice(dict.as_bytes());
            bytes.extend_from_slice(&values);
            bytes
        });
    let edited = (near.clone(), any::<prop::sample::Index>(), any::<u8>()).prop_map(
        |(mut bytes, at, byte)| {
            let i = at.index(bytes.len());
            bytes[i] = byte;
            bytes
        },
    );
    prop_oneof![near, edited, prop::collection::vec(any::<u8>(), 0..200)]
}

fn csv_like() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => prop::sample::select(vec![
            "0", "1", "7", "9", "12", "255", "256", "-1", "3.0", "2.5", "1e2", "1e400", "nan",
            "inf", "-0", "003", "18446744073709551616", "label", "x", " ", "\t",
        ]),
        2 => Just(","),
        1 => prop::sample::select(vec!["\n", "\r\n", "\r", "\n\n"]),
        1 => Just("\u{ff}"),
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..128),
        prop::collection::vec(piece, 0..40).prop_map(|p| p.concat().into_bytes()),
    ]
}

/// A valid file: labels below `classes`, `features` pixels per line, with or without a
/// header, `\n` or `\r\n` line ends, and spaces around some fields.
#[derive(Clone, Debug)]
struct CsvFile {
    classes: usize,
    data: CsvData,
    header: bool,
    crlf: bool,
    padded: bool,
}

impl CsvFile {
    fn text(&self) -> String {
        let end = if self.crlf { "\r\n" } else { "\n" };
        let pad = |s: String| if self.padded { format!(" {s} ") } else { s };
        let mut text = String::new();
        if self.header {
            text += "label";
            for k in 0..self.data.features {
                text += &format!(",pixel{k}");
            }
            text += end;
        }
        let rows = self.data.pixels.chunks(self.data.features);
        for (label, pixels) in self.data.labels.iter().zip(rows) {
            text += &pad(label.to_string());
            for p in pixels {
                text += ",";
                text += &pad(p.to_string());
            }
            text += end;
        }
        text
    }
}

fn csv_file() -> impl Strategy<Value = CsvFile> {
    (1usize..=20, 1usize..=6, 1usize..=8)
        .prop_flat_map(|(classes, features, rows)| {
            (
                Just(classes),
                Just(features),
                prop::collection::vec(0..classes, rows),
                prop::collection::vec(any::<u8>(), rows * features),
                any::<(bool, bool, bool)>(),
            )
        })
        .prop_map(
            |(classes, features, labels, pixels, (header, crlf, padded))| CsvFile {
                classes,
                data: CsvData {
                    features,
                    labels,
                    pixels,
                },
                header,
                crlf,
                padded,
            },
        )
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn parse_csv_never_panics(bytes in csv_like(), classes in prop_oneof![0usize..12, Just(usize::MAX)]) {
        if let Ok(data) = parse_csv(&bytes[..], "mem.csv", classes) {
            prop_assert!(data.features >= 1 && !data.labels.is_empty());
            prop_assert_eq!(data.pixels.len(), data.features * data.labels.len());
            prop_assert!(data.labels.iter().all(|&l| l < classes));
        }
    }

    #[test]
    fn npy_and_npz_readers_never_panic(bytes in npy_like()) {
        if let Ok(x) = nn_data::parse_npy_matrix::<f32>(&bytes, "mem.npy") {
            // Every value was in the file: 1 to 8 bytes each, after a 10-byte preamble.
            prop_assert!(x.len() <= bytes.len());
        }
        if let Ok(labels) = nn_data::parse_npy_labels(&bytes, "mem.npy") {
            prop_assert!(labels.len() <= bytes.len());
        }
        if let Ok(mut archive) = nn_data::Npz::from_bytes(bytes.clone(), "mem.npz") {
            for name in archive.names() {
                let _ = archive.matrix::<f64>(&name);
                let _ = archive.labels(&name);
            }
        }
    }

    #[test]
    fn valid_csv_round_trips(file in csv_file()) {
        let text = file.text();
        let parsed = parse_csv(text.as_bytes(), "mem.csv", file.classes).unwrap();
        prop_assert_eq!(&parsed, &file.data);
        // One class fewer than the largest label needs: an error naming a line.
        let largest = *file.data.labels.iter().max().unwrap();
        let result = parse_csv(text.as_bytes(), "mem.csv", largest);
        prop_assert!(matches!(result, Err(Error::Line { .. })), "{:?}", result);
    }
}

// ---------------------------------------------------------------------------------------
// Tables.

/// Text made of what a table of numbers is made of, and a few other things; or bytes.
fn table_like() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => prop::sample::select(vec![
            "0", "1", "-2.5", "1e3", "1e400", "3e38", "nan", "inf", "+7", ".5", "007", "x",
            "setosa", "label", " ", "\t", "\"", "\"\"", "\"1\"", "\u{feff}", "\u{ff}",
        ]),
        3 => prop::sample::select(vec![",", "\t", ";"]),
        1 => prop::sample::select(vec!["\n", "\r\n", "\r", "\n\n"]),
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..128),
        prop::collection::vec(piece, 0..48).prop_map(|p| p.concat().into_bytes()),
    ]
}

fn column() -> impl Strategy<Value = Column> {
    prop_oneof![
        (0usize..5).prop_map(Column::Index),
        Just(Column::Index(usize::MAX)),
        prop::sample::select(vec!["x", "label", "0", "", "setosa"]).prop_map(Column::from),
    ]
}

/// Any options: some valid for a given table, most not.
fn table_options() -> impl Strategy<Value = TableOptions> {
    (
        prop::sample::select(vec![b',', b'\t', b';', b'"', b'\n', 0xff]),
        prop::sample::select(vec![Header::Auto, Header::Present, Header::Absent]),
        prop::option::of(prop::collection::vec(column(), 0..3)),
        any::<bool>(),
        prop::collection::vec(column(), 0..2),
    )
        .prop_map(|(delimiter, header, targets, values, ignored)| {
            let kind = if values {
                TargetKind::Values
            } else {
                TargetKind::Classes
            };
            let mut options = TableOptions::new()
                .with_delimiter(delimiter)
                .with_header(header)
                .with_kind(kind);
            if let Some(targets) = targets {
                options = options.with_targets(targets);
            }
            ignored.into_iter().fold(options, |o, c| o.with_ignored(c))
        })
}

/// A valid table: `features` columns of finite f64 values and the targets after them
/// (class indices, or `outputs` value columns), written with `{}`, with or without a
/// header, comma- or tab-separated, `\n` or `\r\n` line ends, and spaces around some
/// cells.
#[derive(Clone, Debug)]
struct TableFile {
    features: usize,
    /// One row per sample: its features, then its targets.
    rows: Vec<Vec<f64>>,
    /// Classes (one integer target) or `Some(outputs)` values.
    outputs: Option<usize>,
    header: bool,
    tab: bool,
    crlf: bool,
    padded: bool,
}

impl TableFile {
    fn text(&self) -> String {
        let delimiter = if self.tab { "\t" } else { "," };
        let end = if self.crlf { "\r\n" } else { "\n" };
        let pad = |s: String| if self.padded { format!(" {s} ") } else { s };
        let width = self.rows[0].len();
        let mut lines = Vec::new();
        if self.header {
            let names: Vec<String> = (0..width).map(|k| format!("c{k}")).collect();
            lines.push(names.join(delimiter));
        }
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|v| pad(format!("{v}"))).collect();
            lines.push(cells.join(delimiter));
        }
        lines.join(end) + end
    }

    fn options(&self) -> TableOptions {
        let options = TableOptions::new().with_delimiter(if self.tab { b'\t' } else { b',' });
        match self.outputs {
            None => options,
            Some(outputs) => options
                .with_kind(TargetKind::Values)
                .with_targets(self.features..self.features + outputs),
        }
    }
}

/// Finite values of every kind: zeros of both signs, subnormals, normals up to the maximum.
fn finite() -> impl Strategy<Value = f64> {
    prop::num::f64::POSITIVE
        | prop::num::f64::NEGATIVE
        | prop::num::f64::NORMAL
        | prop::num::f64::SUBNORMAL
        | prop::num::f64::ZERO
}

fn table_file() -> impl Strategy<Value = TableFile> {
    (1usize..=5, prop::option::of(1usize..=3), 1usize..=8)
        .prop_flat_map(|(features, outputs, n)| {
            let width = features + outputs.unwrap_or(1);
            let row = match outputs {
                // A class index after the features.
                None => (
                    prop::collection::vec(finite(), features),
                    (0u32..5).prop_map(f64::from),
                )
                    .prop_map(|(mut row, class)| {
                        row.push(class);
                        row
                    })
                    .boxed(),
                Some(_) => prop::collection::vec(finite(), width).boxed(),
            };
            (
                Just(features),
                prop::collection::vec(row, n),
                Just(outputs),
                any::<(bool, bool, bool, bool)>(),
            )
        })
        .prop_map(
            |(features, rows, outputs, (header, tab, crlf, padded))| TableFile {
                features,
                rows,
                outputs,
                header,
                tab,
                crlf,
                padded,
            },
        )
}

proptest! {
    #![proptest_config(config(512))]

    /// Arbitrary bytes with arbitrary options: a consistent table or an error naming the
    /// source, never a panic.
    #[test]
    fn parse_table_never_panics(bytes in table_like(), options in table_options()) {
        match parse_table::<f32>(&bytes[..], "mem.csv", &options) {
            Ok(table) => {
                let (features, n) = table.inputs().dim();
                prop_assert!(n >= 1 && features >= 1);
                prop_assert_eq!(table.len(), n);
                prop_assert_eq!(table.feature_names().len(), features);
                prop_assert!(table.inputs().iter().all(|v| v.is_finite()));
                match table.targets() {
                    TableTargets::Classes { labels, class_names } => {
                        prop_assert_eq!(labels.len(), n);
                        prop_assert!(labels.iter().all(|&l| l < class_names.len()));
                        // Every class is some sample's.
                        let mut used = vec![false; class_names.len()];
                        labels.iter().for_each(|&l| used[l] = true);
                        prop_assert!(used.iter().all(|&u| u));
                    }
                    TableTargets::Values { values, names } => {
                        prop_assert_eq!(values.ncols(), n);
                        prop_assert_eq!(values.nrows(), names.len());
                        prop_assert!(values.iter().all(|v| v.is_finite()));
                    }
                }
            }
            Err(Error::Line { path, line, .. }) => {
                prop_assert_eq!(path.to_str(), Some("mem.csv"));
                prop_assert!(line >= 1 && line <= bytes.len() + 1);
            }
            Err(Error::Format { path, offset, .. }) => {
                prop_assert_eq!(path.to_str(), Some("mem.csv"));
                prop_assert_eq!(offset, bytes.len() as u64);
            }
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    /// A generated table of finite f64 values, written with `{}`, reads back bit for bit,
    /// whether it has a header or not (found by `Header::Auto`).
    #[test]
    fn valid_table_round_trips(file in table_file()) {
        let text = file.text();
        let table = parse_table::<f64>(text.as_bytes(), "mem.csv", &file.options());
        let table = table.map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let n = file.rows.len();
        prop_assert_eq!(table.inputs().dim(), (file.features, n));
        let bits = |values: Vec<f64>| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        for (j, row) in file.rows.iter().enumerate() {
            let column = table.inputs().column(j).to_vec();
            prop_assert_eq!(bits(column), bits(row[..file.features].to_vec()));
        }
        let names: Vec<String> = match file.header {
            true => (0..file.features).map(|k| format!("c{k}")).collect(),
            false => (0..file.features).map(|k| format!("column {k}")).collect(),
        };
        prop_assert_eq!(table.feature_names(), &names[..]);
        match (table.targets(), file.outputs) {
            (TableTargets::Classes { labels, class_names }, None) => {
                for (j, row) in file.rows.iter().enumerate() {
                    prop_assert_eq!(class_names[labels[j]].parse::<f64>().unwrap(), row[file.features]);
                }
            }
            (TableTargets::Values { values, .. }, Some(outputs)) => {
                prop_assert_eq!(values.dim(), (outputs, n));
                for (j, row) in file.rows.iter().enumerate() {
                    prop_assert_eq!(bits(values.column(j).to_vec()), bits(row[file.features..].to_vec()));
                }
            }
            (targets, outputs) => prop_assert!(false, "{:?} for {:?}", targets, outputs),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Datasets.

proptest! {
    #![proptest_config(config(256))]

    /// `Dataset::from_bytes` on parts that may not fit: an error, or a dataset whose
    /// shuffled and in-order batches visit every sample exactly once.
    #[test]
    fn datasets_from_arbitrary_parts(
        features in 0usize..5,
        pixels in prop::collection::vec(any::<u8>(), 0..24),
        labels in prop::collection::vec(prop_oneof![0usize..4, Just(usize::MAX)], 0..8),
        classes in 0usize..5,
        batch_size in 0usize..6,
        seed in any::<u64>(),
        (start, end) in (0usize..10, 0usize..10),
    ) {
        let Ok(data) = Dataset::<f32>::from_bytes(features, &pixels, labels, classes) else {
            return Ok(());
        };
        prop_assert_eq!(data.inputs().dim(), (features, data.len()));
        prop_assert_eq!(data.one_hot().unwrap().dim(), (classes, data.len()));
        let _ = data.subset(start..end);
        let _ = data.split(start, &mut StdRng::seed_from_u64(seed));
        let mut rng = StdRng::seed_from_u64(seed);
        for shuffled in [true, false] {
            let batches = if shuffled {
                data.batches(batch_size, &mut rng)
            } else {
                data.batches_in_order(batch_size)
            };
            let Ok(mut batches) = batches else {
                prop_assert_eq!(batch_size, 0);
                continue;
            };
            let mut seen = vec![0; data.len()];
            while let Some(batch) = batches.next_batch() {
                prop_assert!(batch.labels.len() <= batch_size);
                prop_assert_eq!(batch.inputs.dim(), (features, batch.labels.len()));
                for (k, &j) in batch.indices.iter().enumerate() {
                    seen[j] += 1;
                    prop_assert_eq!(batch.labels[k], data.labels()[j]);
                    prop_assert_eq!(batch.inputs.column(k), data.inputs().column(j));
                }
            }
            prop_assert!(seen.iter().all(|&s| s == 1));
        }
    }
}
