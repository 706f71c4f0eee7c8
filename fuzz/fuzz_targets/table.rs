//! `nn_data::parse_table` on arbitrary bytes, with options chosen by the first byte.
//!
//! The first byte chooses the options: bits 0–1 the delimiter (`,` tab `;` `|`), bits 2–3
//! the header (auto, present, absent, auto), bit 4 the kind (classes or values), bits 5–7
//! the columns (the last; index 0; index 1; the name `y`; indices 0 and 1; the name
//! `label`; the last with index 0 ignored; the last with the name `id` ignored). The rest
//! is the file. A table read as f64 must be consistent (one sample per column, every
//! value finite, every label naming a class) and must read back the same from a copy
//! rewritten in a canonical form (commas, no header, the features then the targets);
//! read as f32 it has the same shape, unless a value is out of f32's range. No call may
//! allocate more at once than a bounded multiple of the file's size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nn_data::{parse_table, Column, Header, Table, TableOptions, TableTargets, TargetKind};
use nn_fuzz::{largest_allocation, Tracking};

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// csv's 8 KiB buffer and the header's name per column (24 bytes, a column for each
/// byte of a header of commas), field ends (8 bytes a field, doubled as they grow), and
/// values and labels (at most 8 bytes per two bytes of file, doubled).
fn bound(len: usize) -> usize {
    (64 << 10) + 32 * len
}

fn options(mode: u8) -> TableOptions {
    let delimiter = [b',', b'\t', b';', b'|'][usize::from(mode & 3)];
    let header = [Header::Auto, Header::Present, Header::Absent, Header::Auto];
    let kind = match mode & 16 {
        0 => TargetKind::Classes,
        _ => TargetKind::Values,
    };
    let options = TableOptions::new()
        .with_delimiter(delimiter)
        .with_header(header[usize::from(mode >> 2 & 3)])
        .with_kind(kind);
    match mode >> 5 {
        0 => options,
        1 => options.with_target(0),
        2 => options.with_target(1),
        3 => options.with_target("y"),
        4 => options.with_targets([0usize, 1]),
        5 => options.with_target("label"),
        6 => options.with_ignored(0),
        _ => options.with_ignored("id"),
    }
}

/// `cell` as a CSV field: quoted, with its quotes doubled.
fn quoted(cell: &str) -> String {
    format!("\"{}\"", cell.replace('"', "\"\""))
}

/// The table as comma-separated records without a header: each sample's features, then
/// its class name or values, each value written with `{}`.
fn canonical(table: &Table<f64>) -> String {
    let mut text = String::new();
    for (j, features) in table.inputs().columns().into_iter().enumerate() {
        let mut cells: Vec<String> = features.iter().map(|v| v.to_string()).collect();
        match table.targets() {
            TableTargets::Classes {
                labels,
                class_names,
            } => cells.push(quoted(&class_names[labels[j]])),
            TableTargets::Values { values, .. } => {
                cells.extend(values.column(j).iter().map(|v| v.to_string()))
            }
        }
        text += &cells.join(",");
        text.push('\n');
    }
    text
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let options = options(mode);
    let (result, largest) = largest_allocation(|| parse_table::<f64>(file, "fuzz.csv", &options));
    assert!(
        largest <= bound(file.len()),
        "parse_table allocated {largest} bytes at once for a file of {}",
        file.len()
    );
    let Ok(table) = result else {
        return;
    };
    let (features, n) = table.inputs().dim();
    assert!(features >= 1 && n >= 1);
    assert_eq!(table.len(), n);
    assert_eq!(table.feature_names().len(), features);
    assert!(table.inputs().iter().all(|v| v.is_finite()));
    let outputs = match table.targets() {
        TableTargets::Classes {
            labels,
            class_names,
        } => {
            assert_eq!(labels.len(), n);
            assert!(labels.iter().all(|&l| l < class_names.len()));
            assert!(class_names.windows(2).all(|w| w[0] != w[1]));
            None
        }
        TableTargets::Values { values, names } => {
            assert_eq!(values.dim(), (names.len(), n));
            assert!(values.iter().all(|v| v.is_finite()));
            Some(names.len())
        }
    };

    let canonical_options = match outputs {
        None => TableOptions::new(),
        Some(outputs) => TableOptions::new()
            .with_kind(TargetKind::Values)
            .with_targets((features..features + outputs).map(Column::Index)),
    }
    .with_header(Header::Absent);
    let text = canonical(&table);
    let again = parse_table::<f64>(text.as_bytes(), "canonical.csv", &canonical_options)
        .expect("the canonical form of an accepted table is accepted");
    assert_eq!(again.inputs(), table.inputs());
    match (again.targets(), table.targets()) {
        (TableTargets::Values { values: a, .. }, TableTargets::Values { values: b, .. }) => {
            assert_eq!(a, b)
        }
        (a, b) => assert_eq!(a, b),
    }

    match parse_table::<f32>(file, "fuzz.csv", &options) {
        Ok(narrow) => assert_eq!(narrow.inputs().dim(), table.inputs().dim()),
        Err(e) => assert!(e.to_string().contains("out of the range of f32"), "{e}"),
    }
});
