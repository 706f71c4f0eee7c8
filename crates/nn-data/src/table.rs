//! Numeric tables: CSV or TSV files of feature columns and one or more target columns.
//!
//! The `csv` crate splits the file into records (quoting, delimiters, `\n`, `\r\n` or
//! `\r` line ends, a UTF-8 byte-order mark); this module decides what the records mean.
//! The first record may be a header ([`Header`]); the target columns are chosen by name or
//! index ([`Column`]), the last one by default, and hold class names or values
//! ([`TargetKind`]); some columns may be ignored; every other column is a feature and
//! must hold a finite number in every data record.
//!
//! Cells are trimmed of surrounding whitespace. A number is whatever
//! [`str::parse::<f64>`](f64#impl-FromStr-for-f64) accepts (`3`, `-0.5`, `1e-3`, `.5`),
//! converted to the float type with [`Float::from_f64`]. Lines that are empty or hold only
//! whitespace are skipped; every other record must have as many fields as the first.
//!
//! The file is not trusted: every problem is an [`Error`] naming the file and the line
//! where the record starts, and the column (its 0-based index, and its header name) for a
//! bad cell. Memory grows with the records really read, never from a number in the file.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use ndarray::{Array2, ShapeBuilder};
use nn_core::{Error, Float, Result};

use crate::csv::{parse_f64, UTF8_BOM};
use crate::Dataset;

/// Whether the first record of a table is a header of column names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Header {
    /// Decide from the first record: it is a header if a target or ignored column is
    /// chosen by name (names need one), or if any of its cells that must hold numbers —
    /// the features, and the targets of [`TargetKind::Values`] — holds text that is not a
    /// number. Class and ignored cells may hold text in data records, so they do not
    /// decide, nor do empty cells (a missing value in a first data record is an error, not
    /// a header). Give [`Header::Present`] for a header whose every such name is a number
    /// or empty.
    #[default]
    Auto,
    /// The first record is a header.
    Present,
    /// There is no header: the first record is data, and columns are named `column 0`,
    /// `column 1`, ….
    Absent,
}

/// A column of a table, by its header name or by its 0-based index.
///
/// `"species".into()` and `4.into()` make one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    /// The column whose header cell is this name (compared after trimming whitespace).
    Name(String),
    /// The column at this 0-based index.
    Index(usize),
}

impl From<&str> for Column {
    fn from(name: &str) -> Self {
        Column::Name(name.to_string())
    }
}

impl From<String> for Column {
    fn from(name: String) -> Self {
        Column::Name(name)
    }
}

impl From<usize> for Column {
    fn from(index: usize) -> Self {
        Column::Index(index)
    }
}

/// What the target columns hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// Class names, in one target column: integers (`0`, `1`, `7`) or any text
    /// (`setosa`). See [`TableTargets::Classes`] for how they are numbered.
    #[default]
    Classes,
    /// Numbers to predict (regression), in one or more target columns.
    Values,
}

/// How to read a table: the delimiter, the header, the target columns and their kind, and
/// columns to ignore.
///
/// The default reads a comma-separated file (tab-separated for a `.tsv` or `.tab` file
/// given to [`read_table`]), with a header if the first record looks like one
/// ([`Header::Auto`]), and the last column as class names.
///
/// # Example
/// ```
/// use nn_data::{Header, TableOptions, TargetKind};
///
/// let options = TableOptions::new()
///     .with_delimiter(b';')
///     .with_header(Header::Present)
///     .with_targets(["price", "rent"])
///     .with_kind(TargetKind::Values)
///     .with_ignored("id");
/// # let _ = options;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableOptions {
    delimiter: Option<u8>,
    header: Header,
    /// `None`: the last column.
    targets: Option<Vec<Column>>,
    kind: TargetKind,
    ignored: Vec<Column>,
}

impl TableOptions {
    /// The default options (see the type's documentation).
    pub fn new() -> Self {
        Self::default()
    }

    /// The same options with the byte that separates fields (`b','`, `b'\t'`, `b';'`…).
    #[must_use]
    pub fn with_delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = Some(delimiter);
        self
    }

    /// The same options with the header rule.
    #[must_use]
    pub fn with_header(mut self, header: Header) -> Self {
        self.header = header;
        self
    }

    /// The same options with one target column, in place of the last one or of earlier
    /// choices.
    #[must_use]
    pub fn with_target(mut self, column: impl Into<Column>) -> Self {
        self.targets = Some(vec![column.into()]);
        self
    }

    /// The same options with these target columns, in this order (the rows of
    /// [`TableTargets::Values`]); several are only allowed with [`TargetKind::Values`].
    #[must_use]
    pub fn with_targets<C: Into<Column>>(mut self, columns: impl IntoIterator<Item = C>) -> Self {
        self.targets = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// The same options with the kind of target: class names or values.
    #[must_use]
    pub fn with_kind(mut self, kind: TargetKind) -> Self {
        self.kind = kind;
        self
    }

    /// The same options with one more column left out of the features (an identifier, a
    /// date, a second target one does not want).
    #[must_use]
    pub fn with_ignored(mut self, column: impl Into<Column>) -> Self {
        self.ignored.push(column.into());
        self
    }
}

/// The targets of a [`Table`], one per sample.
#[derive(Clone, Debug, PartialEq)]
pub enum TableTargets<F: Float> {
    /// Class targets.
    ///
    /// `class_names` are the distinct cells of the target column. If every one of them is
    /// an integer, they are sorted by value (and written in canonical form, so `07` and `7`
    /// are one class `7`); otherwise they are sorted as strings (by bytes). A sample's
    /// label is the index of its class in `class_names`, so integer classes `0..k` keep
    /// their numbers.
    Classes {
        /// The class index of each sample.
        labels: Vec<usize>,
        /// The name of each class, by index.
        class_names: Vec<String>,
    },
    /// Regression targets.
    Values {
        /// `(outputs, n)`, one column per sample (stored column-major), one row per target
        /// column in the order they were chosen.
        values: Array2<F>,
        /// The names of the target columns (header names, or `column k`).
        names: Vec<String>,
    },
}

/// A table read by [`read_table`] or [`parse_table`]: the features of each sample and its
/// target.
///
/// # Shapes
/// [`inputs`](Self::inputs) is `(features, n)`: sample `j` is column `j`, as everywhere in
/// `nn`, stored column-major (each sample contiguous). Regression values are
/// `(outputs, n)` the same way.
#[derive(Clone, Debug, PartialEq)]
pub struct Table<F: Float> {
    inputs: Array2<F>,
    feature_names: Vec<String>,
    targets: TableTargets<F>,
}

impl<F: Float> Table<F> {
    /// The features, `(features, n)`: one sample per column.
    pub fn inputs(&self) -> &Array2<F> {
        &self.inputs
    }

    /// The name of each feature (row of [`inputs`](Self::inputs)): its header cell, or
    /// `column k` (`k` its index in the file) without a header or for an empty header cell.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// The target of each sample.
    pub fn targets(&self) -> &TableTargets<F> {
        &self.targets
    }

    /// The number of samples (data records).
    pub fn len(&self) -> usize {
        self.inputs.ncols()
    }

    /// Whether there is no sample (never, for a table that was read: a table without data
    /// records is an error).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The inputs, the feature names and the targets.
    pub fn into_parts(self) -> (Array2<F>, Vec<String>, TableTargets<F>) {
        (self.inputs, self.feature_names, self.targets)
    }

    /// The table as a [`Dataset`] for training: classes with their names
    /// ([`Dataset::class_names`]), or values ([`Dataset::regression`]). The arrays are
    /// moved, not copied.
    ///
    /// # Errors
    /// None for a table that was read; the checks of [`Dataset::new`] and
    /// [`Dataset::regression`] otherwise.
    ///
    /// # Example
    /// ```
    /// use nn_data::{parse_table, TableOptions};
    ///
    /// let text = "length,width,kind\n5.1,3.5,setosa\n6.3,3.3,virginica\n4.9,3.0,setosa\n";
    /// let data = parse_table::<f32>(text.as_bytes(), "flowers.csv", &TableOptions::new())?
    ///     .into_dataset()?;
    /// assert_eq!((data.len(), data.features(), data.classes()), (3, 2, 2));
    /// assert_eq!(data.labels(), [0, 1, 0]);
    /// assert_eq!(data.class_names().unwrap(), ["setosa", "virginica"]);
    /// # Ok::<(), nn_core::Error>(())
    /// ```
    pub fn into_dataset(self) -> Result<Dataset<F>> {
        match self.targets {
            TableTargets::Classes {
                labels,
                class_names,
            } => {
                Dataset::new(self.inputs, labels, class_names.len())?.with_class_names(class_names)
            }
            TableTargets::Values { values, .. } => Dataset::regression(self.inputs, values),
        }
    }
}

/// Reads a CSV or TSV table of numbers.
///
/// The delimiter is a comma unless the options set one, or a tab if the path ends in
/// `.tsv` or `.tab` (in any case).
///
/// # Errors
/// - [`Error::Io`] if the file cannot be opened or read;
/// - [`Error::Line`], with the path and the 1-based line where the record starts, for:
///   a cell of a feature or value column that is empty, not a number, not finite (`nan`,
///   `inf`) or out of the float type's range, and an empty or non-UTF-8 class cell (the
///   message names the column by index and header name, e.g.
///   `column 3 ("petal_width"): "abc" is not a number`); a record whose field count
///   differs from the first record's; and, at the first record's line, a target or
///   ignored column that does not exist (an unknown name, with the names there are; an
///   index out of range; a name without a header, or one the header holds twice), a
///   column chosen twice as a target or both as a target and ignored, several target
///   columns for classes, no target column, or no feature column left;
/// - [`Error::Format`], with the byte offset of the end, if the file holds no data record
///   (empty, blank, or a header alone).
///
/// # Example
/// ```no_run
/// use nn_data::{read_table, TableOptions};
///
/// let table = read_table::<f32>("iris.csv", &TableOptions::new().with_target("species"))?;
/// println!("{} samples of {:?}", table.len(), table.feature_names());
/// # Ok::<(), nn_core::Error>(())
/// ```
pub fn read_table<F: Float>(path: impl AsRef<Path>, options: &TableOptions) -> Result<Table<F>> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let tab_separated = (path.extension().and_then(|e| e.to_str()))
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv") || e.eq_ignore_ascii_case("tab"));
    let delimiter = match options.delimiter {
        Some(d) => d,
        None if tab_separated => b'\t',
        None => b',',
    };
    read(file, path, options, delimiter)
}

/// Parses a table from any reader (a byte slice works). `source` only names the data in
/// errors; the delimiter is a comma unless the options set one.
///
/// # Errors
/// As [`read_table`].
///
/// # Examples
///
/// Classes named by strings, with a header; the class column is the last one:
/// ```
/// use nn_data::{parse_table, TableOptions, TableTargets};
///
/// let text = "sepal_length,sepal_width,species\n\
///             5.1,3.5,setosa\n\
///             7.0,3.2,versicolor\n\
///             4.9,3.0,setosa\n";
/// let table = parse_table::<f32>(text.as_bytes(), "iris.csv", &TableOptions::new())?;
/// assert_eq!(table.feature_names(), ["sepal_length", "sepal_width"]);
/// assert_eq!(table.inputs().dim(), (2, 3)); // one sample per column
/// assert_eq!(table.inputs().column(1).to_vec(), [7.0, 3.2]);
/// let TableTargets::Classes { labels, class_names } = table.targets() else {
///     unreachable!("the default target kind is classes")
/// };
/// assert_eq!(class_names, &["setosa", "versicolor"]);
/// assert_eq!(labels, &[0, 1, 0]);
/// # Ok::<(), nn_core::Error>(())
/// ```
///
/// Regression on two value columns chosen by name, from a tab-separated table, with an
/// identifier column left out:
/// ```
/// use nn_data::{parse_table, TableOptions, TableTargets, TargetKind};
///
/// let text = "id\tx\ty\tz\n\
///             a\t1\t2.5\t-1\n\
///             b\t2\t4.5\t-2e1\n";
/// let options = TableOptions::new()
///     .with_delimiter(b'\t')
///     .with_kind(TargetKind::Values)
///     .with_targets(["z", "y"])
///     .with_ignored("id");
/// let table = parse_table::<f64>(text.as_bytes(), "points.tsv", &options)?;
/// assert_eq!(table.feature_names(), ["x"]);
/// assert_eq!(table.inputs().row(0).to_vec(), [1.0, 2.0]);
/// let TableTargets::Values { values, names } = table.targets() else {
///     unreachable!("the options ask for values")
/// };
/// assert_eq!(names, &["z", "y"]);
/// assert_eq!(values.column(1).to_vec(), [-20.0, 4.5]); // (z, y) of the second sample
/// # Ok::<(), nn_core::Error>(())
/// ```
pub fn parse_table<F: Float>(
    reader: impl Read,
    source: impl AsRef<Path>,
    options: &TableOptions,
) -> Result<Table<F>> {
    read(
        reader,
        source.as_ref(),
        options,
        options.delimiter.unwrap_or(b','),
    )
}

/// [`parse_table`] with the delimiter decided.
fn read<F: Float>(
    reader: impl Read,
    path: &Path,
    options: &TableOptions,
    delimiter: u8,
) -> Result<Table<F>> {
    let line_error = |line: usize, message: String| Error::Line {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut records = Records::new(reader, path, delimiter);
    let Some(first_line) = records.next()? else {
        return Err(Error::Format {
            path: path.to_path_buf(),
            offset: records.bytes_read(),
            message: "the file holds no table: it is empty or blank".into(),
        });
    };
    let layout = Layout::new(options, records.record(), first_line)
        .map_err(|message| line_error(first_line, message))?;
    let mut rows = Rows::new(&layout, options.kind);
    if !layout.header {
        (rows.add(&layout, records.record())).map_err(|m| line_error(first_line, m))?;
    }
    while let Some(line) = records.next()? {
        let record = records.record();
        if record.len() != layout.width {
            let first = match layout.header {
                true => "the header",
                false => "the first record",
            };
            return Err(line_error(
                line,
                format!(
                    "{} fields, but {first} (line {first_line}) has {}",
                    record.len(),
                    layout.width
                ),
            ));
        }
        (rows.add(&layout, record)).map_err(|m| line_error(line, m))?;
    }
    if rows.count == 0 {
        return Err(Error::Format {
            path: path.to_path_buf(),
            offset: records.bytes_read(),
            message: format!("no data records after the header (line {first_line})"),
        });
    }
    Ok(rows.finish(layout))
}

/// The records of a file, with the line where each one starts.
///
/// csv's own positions do not count the blank lines skipped before a record, nor a lone
/// `\r` as a line end, so the lines are counted here, on the bytes csv consumed for each
/// record, which the [`Tap`] under its buffer keeps until then.
struct Records<'p, R> {
    reader: csv::Reader<Tap<R>>,
    record: csv::ByteRecord,
    lines: LineCounter,
    path: &'p Path,
}

impl<'p, R: Read> Records<'p, R> {
    fn new(reader: R, path: &'p Path, delimiter: u8) -> Self {
        let tap = Tap {
            inner: reader,
            kept: VecDeque::new(),
            kept_from: 0,
        };
        let reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            // Field counts are checked here, to name the line and both counts.
            .flexible(true)
            .from_reader(tap);
        Records {
            reader,
            record: csv::ByteRecord::new(),
            lines: LineCounter::default(),
            path,
        }
    }

    /// Reads the next record that is not blank (one field of whitespace) into
    /// [`record`](Self::record), and returns the line it starts on; `None` at the end.
    ///
    /// # Errors
    /// [`Error::Io`] if reading fails.
    fn next(&mut self) -> Result<Option<usize>> {
        loop {
            match self.reader.read_byte_record(&mut self.record) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e) => return Err(self.csv_error(e)),
            }
            let end = self.reader.position().byte();
            let tap = self.reader.get_mut();
            let consumed = usize::try_from(end - tap.kept_from)
                .unwrap_or(usize::MAX)
                .min(tap.kept.len());
            // The mark holds no line end; it only must not count as the record's start.
            let bom = tap.kept_from == 0 && tap.kept.iter().take(3).eq(UTF8_BOM);
            let skip = if bom { UTF8_BOM.len().min(consumed) } else { 0 };
            let line = self.lines.record(tap.kept.range(skip..consumed));
            tap.kept.drain(..consumed);
            tap.kept_from += consumed as u64;
            // (csv returns no record without a field; were it to, it would be blank too, so
            // that every table has at least one column.)
            let blank = matches!(self.record.len(), 0 | 1)
                && self.record.iter().all(|cell| cell.trim_ascii().is_empty());
            if !blank {
                return Ok(Some(line));
            }
        }
    }

    fn record(&self) -> &csv::ByteRecord {
        &self.record
    }

    /// Bytes read so far (all of them, once [`next`](Self::next) has returned `None`).
    fn bytes_read(&self) -> u64 {
        self.reader.position().byte()
    }

    /// The error of a failed read. With byte records and flexible field counts, csv only
    /// fails on I/O; anything else keeps csv's position.
    fn csv_error(&self, error: csv::Error) -> Error {
        let offset = (error.position()).map_or(self.bytes_read(), |p| p.byte());
        let message = error.to_string();
        match error.into_kind() {
            csv::ErrorKind::Io(source) => Error::Io {
                path: self.path.to_path_buf(),
                source,
            },
            _ => Error::Format {
                path: self.path.to_path_buf(),
                offset,
                message,
            },
        }
    }
}

/// The reader under csv's buffer: passes the bytes on, and keeps those csv has not yet
/// returned in a record (at most its buffer's worth beyond the current record).
struct Tap<R> {
    inner: R,
    kept: VecDeque<u8>,
    /// The byte offset of `kept[0]` in the file.
    kept_from: u64,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = (buf.get(..n)).ok_or_else(|| {
            io::Error::other(format!(
                "the reader returned {n} bytes into a buffer of {}",
                buf.len()
            ))
        })?;
        self.kept.extend(read);
        Ok(n)
    }
}

/// Counts line ends — `\n`, `\r\n` or a lone `\r`, as csv reads them — through the bytes
/// of the file in order.
#[derive(Default)]
struct LineCounter {
    /// Line ends passed so far.
    ends: usize,
    /// Whether the last byte was a `\r` (so that a `\n` after it ends no second line).
    after_cr: bool,
}

impl LineCounter {
    /// Counts through the bytes csv consumed for one record (after a byte-order mark at
    /// the start of the file), and returns the 1-based line where the record starts:
    /// after the line ends of the blank lines csv skipped before it.
    fn record<'b>(&mut self, bytes: impl Iterator<Item = &'b u8>) -> usize {
        let mut bytes = bytes.peekable();
        while let Some(&b) = bytes.next_if(|&&b| b == b'\r' || b == b'\n') {
            self.count(b);
        }
        let start = self.ends + 1;
        bytes.for_each(|&b| self.count(b));
        start
    }

    fn count(&mut self, byte: u8) {
        match byte {
            b'\r' => self.ends += 1,
            b'\n' if !self.after_cr => self.ends += 1,
            _ => {}
        }
        self.after_cr = byte == b'\r';
    }
}

/// What a column is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Feature,
    /// The target at this position in the chosen list.
    Target(usize),
    Ignored,
}

/// The columns of a table, decided from its first record and the options.
struct Layout {
    /// The number of fields of every record.
    width: usize,
    /// Whether the first record is a header.
    header: bool,
    /// The name of each column.
    names: Vec<String>,
    roles: Vec<Role>,
    /// The target columns, in the chosen order.
    targets: Vec<usize>,
    features: usize,
}

impl Layout {
    /// The layout of a table whose first non-blank record is `first`.
    ///
    /// # Errors
    /// The message of an [`Error::Line`] at the first record's line for a target or
    /// ignored column that does not exist or is chosen twice, or no feature left.
    fn new(
        options: &TableOptions,
        first: &csv::ByteRecord,
        line: usize,
    ) -> std::result::Result<Layout, String> {
        let width = first.len();
        let header_names: Vec<String> = (first.iter().enumerate())
            .map(|(k, cell)| {
                let name = String::from_utf8_lossy(cell).trim().to_string();
                if name.is_empty() {
                    default_name(k)
                } else {
                    name
                }
            })
            .collect();
        let by_name = (options.targets.iter().flatten())
            .chain(&options.ignored)
            .any(|c| matches!(c, Column::Name(_)));
        let header = match options.header {
            Header::Present => true,
            Header::Absent => false,
            Header::Auto if by_name => true,
            Header::Auto => {
                // No names: the roles depend on the width alone.
                let roles = roles(options, width, None, line)?.0;
                let numeric = |k: usize| match roles[k] {
                    Role::Feature => true,
                    Role::Target(_) => options.kind == TargetKind::Values,
                    Role::Ignored => false,
                };
                let text = |cell: &[u8]| !cell.trim_ascii().is_empty() && parse_f64(cell).is_none();
                (first.iter().enumerate()).any(|(k, cell)| numeric(k) && text(cell))
            }
        };
        let names = match header {
            true => header_names,
            false => (0..width).map(default_name).collect(),
        };
        let (roles, targets) = roles(options, width, header.then_some(&names[..]), line)?;
        let features = roles.iter().filter(|&&r| r == Role::Feature).count();
        if features == 0 {
            return Err(format!(
                "no feature column is left: the table has {width} column{}, {} target and {} \
                 ignored",
                if width == 1 { "" } else { "s" },
                targets.len(),
                width - targets.len(),
            ));
        }
        Ok(Layout {
            width,
            header,
            names,
            roles,
            targets,
            features,
        })
    }

    /// Column `k` in a message: `column 3 ("petal_width")`, or `column 3` when it has no
    /// header name.
    fn describe(&self, k: usize) -> String {
        if self.names[k] != default_name(k) {
            format!("column {k} ({:?})", self.names[k])
        } else {
            format!("column {k}")
        }
    }
}

/// The name of column `k` when the header gives none.
fn default_name(k: usize) -> String {
    format!("column {k}")
}

/// The role of each of `width` columns and the target columns in order, given the header
/// `names` (`None` without a header). `line` is the first record's, for messages.
fn roles(
    options: &TableOptions,
    width: usize,
    names: Option<&[String]>,
    line: usize,
) -> std::result::Result<(Vec<Role>, Vec<usize>), String> {
    let index = |column: &Column, what: &str| -> std::result::Result<usize, String> {
        match (column, names) {
            (&Column::Index(k), _) if k < width => Ok(k),
            (&Column::Index(k), _) => Err(format!(
                "the {what} column {k} is out of range: the table has {width} column{} \
                 (0..{width})",
                if width == 1 { "" } else { "s" }
            )),
            (Column::Name(name), None) => Err(format!(
                "the {what} column {name:?} is chosen by name, but the table has no header: \
                 choose it by index"
            )),
            (Column::Name(name), Some(names)) => {
                let name = name.trim();
                let mut found = (names.iter().enumerate()).filter(|(_, n)| *n == name);
                match (found.next(), found.next()) {
                    (Some((k, _)), None) => Ok(k),
                    (Some((a, _)), Some((b, _))) => Err(format!(
                        "the header (line {line}) names columns {a} and {b} {name:?}: choose \
                         the {what} column by index"
                    )),
                    (None, _) => Err(format!(
                        "no column is named {name:?} (the {what} column): the header (line \
                         {line}) names {}",
                        list_names(names)
                    )),
                }
            }
        }
    };
    let targets = match &options.targets {
        // The last column (there is at least one: blank records are skipped).
        None => vec![width.saturating_sub(1)],
        Some(columns) => {
            if columns.is_empty() {
                return Err("no target column is chosen".into());
            }
            if options.kind == TargetKind::Classes && columns.len() > 1 {
                return Err(format!(
                    "classes come from one target column, but {} are chosen; several target \
                     columns need TargetKind::Values",
                    columns.len()
                ));
            }
            (columns.iter())
                .map(|c| index(c, "target"))
                .collect::<std::result::Result<_, _>>()?
        }
    };
    let mut roles = vec![Role::Feature; width];
    for (position, &k) in targets.iter().enumerate() {
        if roles[k] != Role::Feature {
            return Err(format!("column {k} is chosen twice as a target"));
        }
        roles[k] = Role::Target(position);
    }
    for column in &options.ignored {
        let k = index(column, "ignored")?;
        if let Role::Target(_) = roles[k] {
            return Err(format!(
                "column {k} is chosen both as a target and as ignored"
            ));
        }
        roles[k] = Role::Ignored;
    }
    Ok((roles, targets))
}

/// `"a", "b", "c"`, or the first 20 names and how many more there are.
fn list_names(names: &[String]) -> String {
    const SHOWN: usize = 20;
    let shown: Vec<String> = names.iter().take(SHOWN).map(|n| format!("{n:?}")).collect();
    match names.len().saturating_sub(SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// The data records read so far.
struct Rows<F> {
    count: usize,
    /// The features of each record in turn: `(features, count)` column-major.
    inputs: Vec<F>,
    /// The values of each record in turn, for [`TargetKind::Values`].
    values: Vec<F>,
    /// One record's values, in the chosen order of the targets.
    record_values: Vec<F>,
    classes: Classes,
    kind: TargetKind,
}

impl<F: Float> Rows<F> {
    fn new(layout: &Layout, kind: TargetKind) -> Self {
        Rows {
            count: 0,
            inputs: Vec::new(),
            values: Vec::new(),
            record_values: vec![F::zero(); layout.targets.len()],
            classes: Classes::default(),
            kind,
        }
    }

    /// Adds a data record of `layout.width` fields.
    ///
    /// # Errors
    /// The message of an [`Error::Line`] for the first bad cell, from the left.
    fn add(
        &mut self,
        layout: &Layout,
        record: &csv::ByteRecord,
    ) -> std::result::Result<(), String> {
        // A bad record leaves partial pushes behind, but it ends the read.
        for (k, (cell, &role)) in record.iter().zip(&layout.roles).enumerate() {
            let problem = match (role, self.kind) {
                (Role::Ignored, _) => continue,
                (Role::Feature, _) => match parse_value(cell) {
                    Ok(v) => {
                        self.inputs.push(v);
                        continue;
                    }
                    Err(problem) => problem,
                },
                (Role::Target(position), TargetKind::Values) => match parse_value(cell) {
                    Ok(v) => {
                        self.record_values[position] = v;
                        continue;
                    }
                    Err(problem) => problem,
                },
                (Role::Target(_), TargetKind::Classes) => match self.classes.add(cell) {
                    Ok(()) => continue,
                    Err(problem) => problem,
                },
            };
            return Err(format!("{}: {problem}", layout.describe(k)));
        }
        if self.kind == TargetKind::Values {
            self.values.extend_from_slice(&self.record_values);
        }
        self.count += 1;
        Ok(())
    }

    fn finish(self, layout: Layout) -> Table<F> {
        let n = self.count;
        let inputs = Array2::from_shape_vec((layout.features, n).f(), self.inputs)
            .expect("one value per feature per record");
        let pick = |role: fn(Role) -> bool| -> Vec<String> {
            (layout.names.iter().zip(&layout.roles))
                .filter(|(_, &r)| role(r))
                .map(|(name, _)| name.clone())
                .collect()
        };
        let feature_names = pick(|r| r == Role::Feature);
        let targets = match self.kind {
            TargetKind::Classes => {
                let (labels, class_names) = self.classes.finish();
                TableTargets::Classes {
                    labels,
                    class_names,
                }
            }
            TargetKind::Values => TableTargets::Values {
                values: Array2::from_shape_vec((layout.targets.len(), n).f(), self.values)
                    .expect("one value per target per record"),
                names: (layout.targets.iter())
                    .map(|&k| layout.names[k].clone())
                    .collect(),
            },
        };
        Table {
            inputs,
            feature_names,
            targets,
        }
    }
}

/// The class names seen so far, numbered in the order they first appear, and the number
/// of each record's class.
#[derive(Default)]
struct Classes {
    seen: HashMap<String, usize>,
    first_seen: Vec<usize>,
}

impl Classes {
    fn add(&mut self, cell: &[u8]) -> std::result::Result<(), String> {
        let name = std::str::from_utf8(cell.trim_ascii()).map_err(|_| {
            format!(
                "the class {:?} is not UTF-8 text",
                String::from_utf8_lossy(cell)
            )
        })?;
        if name.is_empty() {
            return Err("missing class (an empty cell)".into());
        }
        let next = self.seen.len();
        let id = match self.seen.get(name) {
            Some(&id) => id,
            None => *self.seen.entry(name.to_string()).or_insert(next),
        };
        self.first_seen.push(id);
        Ok(())
    }

    /// The labels and the class names, numbered in sorted order.
    fn finish(self) -> (Vec<usize>, Vec<String>) {
        let mut by_id = vec![String::new(); self.seen.len()];
        for (name, id) in self.seen {
            by_id[id] = name;
        }
        let integers: Option<Vec<i128>> = by_id.iter().map(|n| n.parse().ok()).collect();
        let (renumber, class_names): (Vec<usize>, Vec<String>) = match integers {
            Some(integers) => {
                let mut sorted = integers.clone();
                sorted.sort_unstable();
                sorted.dedup();
                let renumber = (integers.iter())
                    .map(|v| sorted.binary_search(v).expect("every value is in sorted"))
                    .collect();
                (renumber, sorted.iter().map(i128::to_string).collect())
            }
            None => {
                let mut sorted = by_id.clone();
                sorted.sort_unstable();
                let renumber = (by_id.iter())
                    .map(|n| sorted.binary_search(n).expect("every name is in sorted"))
                    .collect();
                (renumber, sorted)
            }
        };
        let labels = self.first_seen.iter().map(|&id| renumber[id]).collect();
        (labels, class_names)
    }
}

/// A cell as a finite value of the float type, or what is wrong with it.
fn parse_value<F: Float>(cell: &[u8]) -> std::result::Result<F, String> {
    let text = cell.trim_ascii();
    if text.is_empty() {
        return Err("missing value (an empty cell)".into());
    }
    let shown = || String::from_utf8_lossy(text).into_owned();
    let Some(value) = parse_f64(text) else {
        return Err(format!("{:?} is not a number", shown()));
    };
    if !value.is_finite() {
        return Err(format!("{} is not a finite number", shown()));
    }
    let converted = F::from_f64(value);
    if !converted.is_finite() {
        return Err(format!(
            "{} is out of the range of {} (largest {:e})",
            shown(),
            std::any::type_name::<F>(),
            F::max_value()
        ));
    }
    Ok(converted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{format_error, largest_allocation, line_error, TempDir};

    fn parse(text: &str, options: &TableOptions) -> Result<Table<f64>> {
        parse_table(text.as_bytes(), "mem.csv", options)
    }

    /// The table of `text`, which must parse.
    #[track_caller]
    fn read_ok(text: &str, options: &TableOptions) -> Table<f64> {
        parse(text, options).unwrap()
    }

    /// The features of each sample (the columns of the inputs).
    fn samples(table: &Table<f64>) -> Vec<Vec<f64>> {
        table
            .inputs()
            .columns()
            .into_iter()
            .map(|c| c.to_vec())
            .collect()
    }

    fn class_targets(table: &Table<f64>) -> (Vec<usize>, Vec<String>) {
        match table.targets() {
            TableTargets::Classes {
                labels,
                class_names,
            } => (labels.clone(), class_names.clone()),
            other => panic!("expected classes, got {other:?}"),
        }
    }

    /// The values of each sample (the columns of the values) and the target names.
    fn value_targets(table: &Table<f64>) -> (Vec<Vec<f64>>, Vec<String>) {
        match table.targets() {
            TableTargets::Values { values, names } => (
                values.columns().into_iter().map(|c| c.to_vec()).collect(),
                names.clone(),
            ),
            other => panic!("expected values, got {other:?}"),
        }
    }

    fn regression() -> TableOptions {
        TableOptions::new().with_kind(TargetKind::Values)
    }

    /// Parses `text`, and checks a line error at `line` whose message contains `needle`
    /// and whose display names the source and the line.
    #[track_caller]
    fn assert_line_error(text: &str, options: &TableOptions, line: usize, needle: &str) {
        let result = parse(text, options);
        let shown = result.as_ref().map(|_| ()).unwrap_err().to_string();
        let (path, l, message) = line_error(result);
        assert_eq!(path, Path::new("mem.csv"));
        assert_eq!(l, line, "{message}");
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        assert!(
            shown.starts_with(&format!("mem.csv: line {line}: ")),
            "{shown}"
        );
    }

    // -------------------------------------------------------------------------------
    // What a table holds.

    #[test]
    fn reads_features_and_string_classes_one_sample_per_column() {
        let text = "sepal_length,sepal_width,species\n\
                    5.1,3.5,setosa\n\
                    7.0,3.2,versicolor\n\
                    6.3,3.3,virginica\n\
                    4.9,3.0,setosa\n";
        let table = read_ok(text, &TableOptions::new());
        assert_eq!(table.len(), 4);
        assert!(!table.is_empty());
        assert_eq!(table.feature_names(), ["sepal_length", "sepal_width"]);
        assert_eq!(
            samples(&table),
            [[5.1, 3.5], [7.0, 3.2], [6.3, 3.3], [4.9, 3.0]]
        );
        // (features, n) stored column-major: each sample is contiguous.
        assert_eq!(table.inputs().dim(), (2, 4));
        assert_eq!(table.inputs().strides(), [1, 2]);
        assert_eq!(
            table.inputs().as_slice_memory_order().unwrap(),
            [5.1, 3.5, 7.0, 3.2, 6.3, 3.3, 4.9, 3.0]
        );
        let (labels, names) = class_targets(&table);
        assert_eq!(names, ["setosa", "versicolor", "virginica"]);
        assert_eq!(labels, [0, 1, 2, 0]);

        let (inputs, feature_names, targets) = table.clone().into_parts();
        assert_eq!(&inputs, table.inputs());
        assert_eq!(feature_names, table.feature_names());
        assert_eq!(&targets, table.targets());
    }

    #[test]
    fn class_names_are_sorted_as_strings_whatever_their_order_of_appearance() {
        let table = read_ok("x,y\n1,b\n2,c\n3,a\n4,b\n5,B\n", &TableOptions::new());
        let (labels, names) = class_targets(&table);
        assert_eq!(names, ["B", "a", "b", "c"]);
        assert_eq!(labels, [2, 3, 1, 2, 0]);
    }

    #[test]
    fn integer_classes_are_sorted_by_value_and_0_to_k_keep_their_numbers() {
        let table = read_ok("x,y\n1,2\n2,0\n3,1\n4,2\n", &TableOptions::new());
        let (labels, names) = class_targets(&table);
        assert_eq!(names, ["0", "1", "2"]);
        assert_eq!(labels, [2, 0, 1, 2]);
        // By value, not as strings ("10" < "9"); "07" and "+7" are the class 7.
        let table = read_ok("1,10\n2,9\n3,-1\n4,07\n5,+7\n6,10\n", &TableOptions::new());
        let (labels, names) = class_targets(&table);
        assert_eq!(names, ["-1", "7", "9", "10"]);
        assert_eq!(labels, [3, 2, 0, 1, 1, 3]);
    }

    #[test]
    fn classes_that_are_not_all_integers_are_sorted_as_strings() {
        let table = read_ok("1,10\n2,9\n3,2.5\n4,9\n", &TableOptions::new());
        let (labels, names) = class_targets(&table);
        assert_eq!(names, ["10", "2.5", "9"]);
        assert_eq!(labels, [0, 2, 1, 2]);
    }

    #[test]
    fn regression_reads_one_or_several_value_columns_in_the_chosen_order() {
        let text = "a,b,c,d\n1,2,3,4\n5,6,7,8\n";
        let table = read_ok(text, &regression());
        assert_eq!(table.feature_names(), ["a", "b", "c"]);
        assert_eq!(
            value_targets(&table),
            (vec![vec![4.0], vec![8.0]], vec!["d".into()])
        );

        let options = regression().with_targets(["d", "b"]);
        let table = parse(text, &options).unwrap();
        assert_eq!(table.feature_names(), ["a", "c"]);
        assert_eq!(samples(&table), [[1.0, 3.0], [5.0, 7.0]]);
        let (columns, names) = value_targets(&table);
        assert_eq!(columns, [[4.0, 2.0], [8.0, 6.0]]);
        assert_eq!(names, ["d", "b"]);
        let TableTargets::Values { values, .. } = table.targets() else {
            unreachable!()
        };
        assert_eq!(values.dim(), (2, 2));
        assert_eq!(values.strides(), [1, 2]);

        // By index, without a header.
        let options = regression().with_targets([0usize, 2]);
        let table = read_ok("1,2,3\n4,5,6\n", &options);
        assert_eq!(table.feature_names(), ["column 1"]);
        assert_eq!(value_targets(&table).0, [[1.0, 3.0], [4.0, 6.0]]);
        assert_eq!(value_targets(&table).1, ["column 0", "column 2"]);
    }

    #[test]
    fn the_target_is_chosen_by_name_or_index_and_other_columns_can_be_ignored() {
        let text = "id,label,x,y\nq,1,0.5,2\nr,0,1.5,3\n";
        let options = TableOptions::new().with_target("label").with_ignored("id");
        let by_name = read_ok(text, &options);
        assert_eq!(by_name.feature_names(), ["x", "y"]);
        assert_eq!(samples(&by_name), [[0.5, 2.0], [1.5, 3.0]]);
        assert_eq!(
            class_targets(&by_name),
            (vec![1, 0], vec!["0".into(), "1".into()])
        );

        let options = TableOptions::new().with_target(1).with_ignored(0);
        assert_eq!(read_ok(text, &options), by_name);
        // A later `with_target` replaces the earlier choice; ignored columns add up.
        let options = TableOptions::new()
            .with_target("y")
            .with_target(1)
            .with_ignored(0)
            .with_ignored("y");
        let table = read_ok(text, &options);
        assert_eq!(table.feature_names(), ["x"]);
        assert_eq!(class_targets(&table).0, [1, 0]);
    }

    #[test]
    fn names_match_after_trimming_and_an_empty_header_cell_is_named_by_its_index() {
        let text = " ,\" the x \",y \n1,2,3\n";
        let options = regression().with_target(" y");
        let table = read_ok(text, &options);
        assert_eq!(table.feature_names(), ["column 0", "the x"]);
        assert_eq!(value_targets(&table).1, ["y"]);
    }

    #[test]
    fn cells_are_trimmed_and_any_float_syntax_is_read() {
        let text =
            "a,b,c,d,e,f,g\n 1 ,\t-2.5\t,1e-3,.5,5.,+2,-0 \r\n  3, 1E3 ,\"7\",\" 8 \",0,0,0\n";
        let table = read_ok(text, &regression());
        assert_eq!(
            samples(&table),
            [
                [1.0, -2.5, 1e-3, 0.5, 5.0, 2.0],
                [3.0, 1000.0, 7.0, 8.0, 0.0, 0.0]
            ]
        );
        let (values, _) = value_targets(&table);
        assert!(values[0][0] == 0.0 && values[0][0].is_sign_negative());
        // As in any CSV, quotes only quote from the field's first byte: after a space they
        // are part of the cell.
        assert_line_error(
            "a,y\n1,0\n \"2\",1\n",
            &TableOptions::new(),
            3,
            "column 0 (\"a\"): \"\\\"2\\\"\" is not a number",
        );
    }

    #[test]
    fn values_are_parsed_as_f64_then_converted() {
        let table =
            parse_table::<f32>("0.1,1e-50,16777217,0\n".as_bytes(), "m", &regression()).unwrap();
        assert_eq!(table.inputs().column(0).to_vec(), [0.1f32, 0.0, 16777216.0]);
        // f64 keeps what f32 cannot.
        let table = read_ok("0.1,1e-50,16777217,0\n", &regression());
        assert_eq!(table.inputs().column(0).to_vec(), [0.1, 1e-50, 16777217.0]);
    }

    // -------------------------------------------------------------------------------
    // The header.

    #[test]
    fn auto_header_is_the_first_record_when_a_numeric_cell_is_not_a_number() {
        let numbers = read_ok("1,2,0\n3,4,1\n", &TableOptions::new());
        assert_eq!(numbers.len(), 2);
        assert_eq!(numbers.feature_names(), ["column 0", "column 1"]);

        let named = read_ok("a,2,0\n3,4,1\n", &TableOptions::new());
        assert_eq!(named.len(), 1);
        assert_eq!(named.feature_names(), ["a", "2"]);
        // An empty cell does not decide: a header may leave a name out (as pandas does for
        // its index column), and a first data record may miss a value, which is an error.
        let unnamed = read_ok(",a,y\n1,2,0\n", &TableOptions::new());
        assert_eq!(unnamed.len(), 1);
        assert_eq!(unnamed.feature_names(), ["column 0", "a"]);
        assert_line_error(
            "1,,0\n2,3,1\n",
            &TableOptions::new(),
            1,
            "column 1: missing value (an empty cell)",
        );
    }

    #[test]
    fn auto_header_ignores_class_and_ignored_cells_which_may_be_text() {
        // Without a header, the first sample's class is text: still data.
        let iris = read_ok("5.1,3.5,setosa\n7.0,3.2,versicolor\n", &TableOptions::new());
        assert_eq!(iris.len(), 2);
        assert_eq!(class_targets(&iris).1, ["setosa", "versicolor"]);
        let dated = TableOptions::new().with_ignored(0);
        let table = read_ok("2024-01-02,1.5,0\n2024-01-03,2.5,1\n", &dated);
        assert_eq!(table.len(), 2);
        // A value target must be a number, so its text names a header.
        let values = parse("1,2,y\n3,4,5\n", &regression()).unwrap();
        assert_eq!(values.len(), 1);
        assert_eq!(values.feature_names(), ["1", "2"]);
    }

    #[test]
    fn a_column_chosen_by_name_makes_the_first_record_a_header() {
        let options = TableOptions::new().with_target("2");
        let table = read_ok("0,1,2\n5,6,7\n", &options);
        assert_eq!(table.len(), 1);
        assert_eq!(table.feature_names(), ["0", "1"]);
        let options = TableOptions::new().with_ignored("0");
        assert_eq!(parse("0,1,2\n5,6,7\n", &options).unwrap().len(), 1);
    }

    #[test]
    fn a_header_can_be_declared_present_or_absent() {
        let options = TableOptions::new().with_header(Header::Present);
        let table = read_ok("1,2,3\n4,5,6\n", &options);
        assert_eq!(table.len(), 1);
        assert_eq!(table.feature_names(), ["1", "2"]);
        let options = TableOptions::new().with_header(Header::Absent);
        assert_line_error(
            "a,b,c\n4,5,6\n",
            &options,
            1,
            "column 0: \"a\" is not a number",
        );
        assert_eq!(parse("1,2,x\n4,5,6\n", &options).unwrap().len(), 2);
    }

    // -------------------------------------------------------------------------------
    // The delimiter.

    #[test]
    fn the_delimiter_is_a_comma_by_default_a_tab_for_tsv_files_or_as_set() {
        let dir = TempDir::new();
        let tabs = "a\tb\n1\t0\n2\t1\n";
        let expected = parse(tabs, &TableOptions::new().with_delimiter(b'\t')).unwrap();
        assert_eq!(samples(&expected), [[1.0], [2.0]]);
        for name in ["data.tsv", "data.TAB", "data.Tsv"] {
            let path = dir.write(name, tabs.as_bytes());
            assert_eq!(
                read_table::<f64>(&path, &TableOptions::new()).unwrap(),
                expected
            );
        }
        // A comma-separated file read as tab-separated has one column.
        let path = dir.write("data.csv", tabs.as_bytes());
        let (_, _, message) = line_error(read_table::<f64>(&path, &TableOptions::new()));
        assert!(message.contains("no feature column is left"), "{message}");
        // The set delimiter wins over the file name.
        let path = dir.write("commas.tsv", b"a,b\n1,0\n2,1\n");
        let options = TableOptions::new().with_delimiter(b',');
        assert_eq!(read_table::<f64>(&path, &options).unwrap(), expected);
        // parse_table's source only names the data: a comma still.
        let result = parse_table::<f64>(tabs.as_bytes(), "x.tsv", &TableOptions::new());
        assert!(matches!(result, Err(Error::Line { .. })), "{result:?}");
        let options = TableOptions::new().with_delimiter(b';');
        assert_eq!(parse("a;b\n1;0\n2;1\n", &options).unwrap(), expected);
    }

    // -------------------------------------------------------------------------------
    // Lines.

    #[test]
    fn blank_lines_crlf_quotes_and_a_byte_order_mark_are_read() {
        let expected = read_ok("a,y\n1,0\n2,1\n", &TableOptions::new());
        for text in [
            "\n\na,y\n1,0\n\n  \n2,1",
            "a,y\r\n1,0\r\n\r\n2,1\r\n",
            "a,y\r1,0\r\r2,1\r",
            "\u{feff}a,y\n1,0\n2,1\n",
            "\"a\",\"y\"\n\"1\",0\n2,\"1\"\n",
        ] {
            assert_eq!(
                parse(text, &TableOptions::new()).unwrap(),
                expected,
                "{text:?}"
            );
        }
        // Without a header, the mark is not part of the first cell.
        let table = read_ok("\u{feff}1,0\n2,1\n", &TableOptions::new());
        assert_eq!(samples(&table), [[1.0], [2.0]]);
    }

    #[test]
    fn errors_name_the_line_where_the_record_starts() {
        let options = TableOptions::new();
        for (text, line) in [
            ("a,y\n1,0\nx,1\n", 3),
            ("a,y\n1,0\n\n\nx,1\n", 5),
            ("\n\na,y\n1,0\n  \nx,1\n", 6),
            ("a,y\r\n1,0\r\n\r\nx,1\r\n", 4),
            ("a,y\r1,0\r\rx,1\r", 4),
            ("a,y\n1,\"0\n\n\"\nx,1\n", 5),
            ("\u{feff}\n\na,y\n1,0\nx,1\n", 5),
            // An error in a record over several lines: the line it starts on.
            ("a,y\nx,\"0\n\n\"\n", 2),
            ("a,y\n1,0\nx,1", 3),
        ] {
            let (_, l, message) = line_error(parse(text, &options));
            assert_eq!(l, line, "{text:?}: {message}");
        }
        // An error in the first record, after a byte-order mark and blank lines.
        let options = TableOptions::new().with_header(Header::Absent);
        assert_line_error("\u{feff}\n\nx,1\n", &options, 3, "column 0: \"x\"");
    }

    // -------------------------------------------------------------------------------
    // Bad cells.

    #[test]
    fn a_cell_that_is_not_a_number_is_named_by_line_column_and_header_name() {
        let text = "sepal,petal_width,species\n1,2,a\n3,4x,b\n";
        assert_line_error(
            text,
            &TableOptions::new(),
            3,
            "column 1 (\"petal_width\"): \"4x\" is not a number",
        );
        // Without a header, the column by index alone.
        assert_line_error(
            "1,2,a\n3,x,b\n",
            &TableOptions::new(),
            2,
            "column 1: \"x\" is not a number",
        );
        // A value target too, and the first bad cell from the left.
        assert_line_error(
            "a,b,y\n1,2,3\n1,2,?\n",
            &regression(),
            3,
            "column 2 (\"y\"): \"?\" is not a number",
        );
        assert_line_error(
            "a,b,y\n1,2,3\nu,v,?\n",
            &regression(),
            3,
            "column 0 (\"a\"): \"u\"",
        );
        // An empty header cell names no column: the index alone.
        assert_line_error(",b,y\n1,2,3\nu,2,3\n", &regression(), 3, "column 0: \"u\"");
        // Bytes that are not UTF-8 are shown as well as they can be.
        let result = parse_table::<f64>(&b"a,y\n\xff1,0\n"[..], "mem.csv", &TableOptions::new());
        let (_, line, message) = line_error(result);
        assert_eq!(line, 2);
        assert!(
            message.contains("\"\u{fffd}1\" is not a number"),
            "{message}"
        );
    }

    #[test]
    fn a_missing_value_is_an_error() {
        assert_line_error(
            "a,b,y\n1,2,0\n1,,0\n",
            &TableOptions::new(),
            3,
            "column 1 (\"b\"): missing value (an empty cell)",
        );
        assert_line_error(
            "a,b,y\n1,2,0\n1,  ,0\n",
            &TableOptions::new(),
            3,
            "column 1 (\"b\"): missing value",
        );
        assert_line_error(
            "a,y\n1,0\n1,\n",
            &regression(),
            3,
            "column 1 (\"y\"): missing value",
        );
        assert_line_error(
            "a,y\n1,0\n1, \n",
            &TableOptions::new(),
            3,
            "column 1 (\"y\"): missing class (an empty cell)",
        );
    }

    #[test]
    fn a_class_that_is_not_utf8_is_an_error() {
        let result = parse_table::<f64>(&b"a,y\n1,\xffb\n"[..], "mem.csv", &TableOptions::new());
        let (_, line, message) = line_error(result);
        assert_eq!(line, 2);
        assert_eq!(
            message,
            "column 1 (\"y\"): the class \"\u{fffd}b\" is not UTF-8 text"
        );
    }

    #[test]
    fn non_finite_values_are_errors() {
        for cell in ["nan", "NaN", "inf", "-inf", "infinity", "1e400"] {
            assert_line_error(
                &format!("a,b\n1,0\n{cell},1\n"),
                &TableOptions::new(),
                3,
                &format!("column 0 (\"a\"): {cell} is not a finite number"),
            );
            assert_line_error(
                &format!("a,b\n1,0\n1,{cell}\n"),
                &regression(),
                3,
                &format!("column 1 (\"b\"): {cell} is not a finite number"),
            );
        }
    }

    #[test]
    fn a_value_beyond_the_float_type_is_an_error() {
        let result = parse_table::<f32>(
            "a,y\n1,0\n1e39,1\n".as_bytes(),
            "mem.csv",
            &TableOptions::new(),
        );
        let (_, line, message) = line_error(result);
        assert_eq!(line, 3);
        assert_eq!(
            message,
            "column 0 (\"a\"): 1e39 is out of the range of f32 (largest 3.4028235e38)"
        );
        // The same is an f64.
        assert_eq!(read_ok("a,y\n1,0\n1e39,1\n", &TableOptions::new()).len(), 2);
    }

    #[test]
    fn a_record_with_another_field_count_is_an_error() {
        assert_line_error(
            "a,b,y\n1,2,0\n\n4,5\n",
            &TableOptions::new(),
            4,
            "2 fields, but the header (line 1) has 3",
        );
        assert_line_error(
            "\n1,2,0\n4,5,6,7\n",
            &TableOptions::new(),
            3,
            "4 fields, but the first record (line 2) has 3",
        );
    }

    // -------------------------------------------------------------------------------
    // Bad column choices: errors at the first record's line.

    #[test]
    fn an_unknown_column_name_lists_the_names_there_are() {
        let text = "\nsepal,petal,species\n1,2,a\n";
        assert_line_error(
            text,
            &TableOptions::new().with_target("specie"),
            2,
            "no column is named \"specie\" (the target column): the header (line 2) names \
             \"sepal\", \"petal\", \"species\"",
        );
        assert_line_error(
            text,
            &TableOptions::new().with_ignored("id"),
            2,
            "no column is named \"id\" (the ignored column)",
        );
        // A long header is cut short.
        let names: Vec<String> = (0..25).map(|k| format!("f{k}")).collect();
        let text = format!("{}\n", names.join(","));
        let result = parse(&text, &TableOptions::new().with_target("g"));
        let (_, _, message) = line_error(result);
        assert!(
            message.ends_with("\"f18\", \"f19\" and 5 more"),
            "{message}"
        );
    }

    #[test]
    fn a_name_the_header_holds_twice_must_be_chosen_by_index() {
        assert_line_error(
            "x,y,x\n1,2,3\n",
            &TableOptions::new().with_target("x"),
            1,
            "the header (line 1) names columns 0 and 2 \"x\": choose the target column by index",
        );
        // Unused, a repeated name is no problem.
        let table = read_ok("x,y,x\n1,2,3\n", &TableOptions::new().with_target("y"));
        assert_eq!(table.feature_names(), ["x", "x"]);
    }

    #[test]
    fn a_name_without_a_header_is_an_error() {
        let options = TableOptions::new()
            .with_header(Header::Absent)
            .with_target("y");
        assert_line_error(
            "1,2\n",
            &options,
            1,
            "the target column \"y\" is chosen by name, but the table has no header: choose \
             it by index",
        );
    }

    #[test]
    fn an_index_out_of_range_is_an_error() {
        assert_line_error(
            "\na,b,c\n1,2,3\n",
            &TableOptions::new().with_target(3),
            2,
            "the target column 3 is out of range: the table has 3 columns (0..3)",
        );
        assert_line_error(
            "1,2,3\n",
            &TableOptions::new().with_ignored(7),
            1,
            "the ignored column 7 is out of range",
        );
    }

    #[test]
    fn columns_chosen_twice_or_in_conflict_are_errors() {
        let text = "a,b,c\n1,2,3\n";
        assert_line_error(
            text,
            &regression().with_targets(["c", "b", "c"]),
            1,
            "column 2 is chosen twice as a target",
        );
        assert_line_error(
            text,
            &regression().with_targets(vec![Column::Index(2), Column::from("c")]),
            1,
            "column 2 is chosen twice as a target",
        );
        assert_line_error(
            text,
            &TableOptions::new().with_ignored("c"),
            1,
            "column 2 is chosen both as a target and as ignored",
        );
        assert_line_error(
            text,
            &TableOptions::new().with_targets(["a", "b"]),
            1,
            "classes come from one target column, but 2 are chosen",
        );
        assert_line_error(
            text,
            &regression().with_targets(Vec::<Column>::new()),
            1,
            "no target column is chosen",
        );
    }

    #[test]
    fn a_table_without_a_feature_column_is_an_error() {
        assert_line_error(
            "a,b\n1,2\n",
            &TableOptions::new().with_ignored(0),
            1,
            "no feature column is left: the table has 2 columns, 1 target and 1 ignored",
        );
        assert_line_error(
            "y\n1\n",
            &TableOptions::new(),
            1,
            "no feature column is left: the table has 1 column, 1 target and 0 ignored",
        );
    }

    // -------------------------------------------------------------------------------
    // No data, I/O.

    #[test]
    fn a_table_without_data_records_is_an_error_at_its_end() {
        for (text, needle) in [
            ("", "the file holds no table: it is empty or blank"),
            (
                "\n \r\n\t\n",
                "the file holds no table: it is empty or blank",
            ),
            ("a,b\n\n", "no data records after the header (line 1)"),
            ("\na,b", "no data records after the header (line 2)"),
        ] {
            let (path, offset, message) = format_error(parse(text, &TableOptions::new()));
            assert_eq!(path, Path::new("mem.csv"));
            assert_eq!(offset, text.len() as u64, "{text:?}");
            assert_eq!(message, needle);
        }
    }

    #[test]
    fn read_table_reads_a_file_and_names_it_in_errors() {
        let dir = TempDir::new();
        let path = dir.write("iris.csv", b"a,b,species\n1,2,setosa\n1,x,setosa\n");
        let result = read_table::<f32>(&path, &TableOptions::new());
        let shown = result.as_ref().unwrap_err().to_string();
        let (p, line, _) = line_error(result);
        assert_eq!((p, line), (path.clone(), 3));
        assert_eq!(
            shown,
            format!(
                "{}: line 3: column 1 (\"b\"): \"x\" is not a number",
                path.display()
            )
        );
        let path = dir.write("good.csv", b"a,b,species\n1,2,setosa\n");
        let table = read_table::<f32>(&path, &TableOptions::new()).unwrap();
        assert_eq!(table.inputs().column(0).to_vec(), [1.0f32, 2.0]);
    }

    #[test]
    fn a_missing_file_or_a_failing_reader_is_an_io_error_naming_it() {
        let dir = TempDir::new();
        let path = dir.path().join("missing.csv");
        match read_table::<f64>(&path, &TableOptions::new()) {
            Err(Error::Io { path: p, .. }) => assert_eq!(p, path),
            other => panic!("expected Error::Io, got {other:?}"),
        }
        /// Two records, then a read error.
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0 += 1;
                match self.0 {
                    1 => {
                        buf[..8].copy_from_slice(b"a,b\n1,2\n");
                        Ok(8)
                    }
                    _ => Err(io::Error::other("disk on fire")),
                }
            }
        }
        match parse_table::<f64>(Failing(0), "pipe", &TableOptions::new()) {
            Err(Error::Io { path, source }) => {
                assert_eq!(path, Path::new("pipe"));
                assert_eq!(source.to_string(), "disk on fire");
            }
            other => panic!("expected Error::Io, got {other:?}"),
        }
        /// A reader that claims more bytes than its buffer holds.
        struct Lying;
        impl Read for Lying {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                Ok(buf.len() + 1)
            }
        }
        let result = parse_table::<f64>(Lying, "liar", &TableOptions::new());
        assert!(matches!(result, Err(Error::Io { .. })), "{result:?}");
    }

    // -------------------------------------------------------------------------------
    // Memory.

    /// `rows` records `k,<40 bytes of text>,k%3`, produced as they are read.
    struct Generated {
        rows: usize,
        pending: Vec<u8>,
    }

    impl Read for Generated {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pending.is_empty() && self.rows > 0 {
                self.rows -= 1;
                let text = format!("{},{},{}\n", self.rows, "t".repeat(40), self.rows % 3);
                self.pending = text.into_bytes();
            }
            let n = buf.len().min(self.pending.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            Ok(n)
        }
    }

    #[test]
    fn memory_grows_with_the_values_kept_not_with_the_bytes_read() {
        // 200 000 records of about 48 bytes (9.6 MB), of which one f32 and one label are
        // kept: the largest buffers are the labels (8 bytes a record, doubled when they
        // grow); the bytes read are let go record by record.
        let rows = 200_000;
        let options = TableOptions::new().with_ignored(1);
        let source = Generated {
            rows,
            pending: Vec::new(),
        };
        let (table, largest) = largest_allocation(|| parse_table::<f32>(source, "gen", &options));
        assert_eq!(table.unwrap().len(), rows);
        assert!(
            largest <= 2 * 8 * rows,
            "largest allocation: {largest} bytes"
        );
    }

    #[test]
    fn a_table_becomes_a_dataset_of_its_classes_or_values() {
        let text = "a,b,kind,price\n1,2,x,0.5\n3,4,y,1.5\n5,6,x,2.5\n";
        let options = TableOptions::new()
            .with_ignored("price")
            .with_target("kind");
        let table = parse_table::<f64>(text.as_bytes(), "t.csv", &options).unwrap();
        let inputs = table.inputs().clone();
        let classes = table.into_dataset().unwrap();
        assert_eq!(classes.inputs(), &inputs);
        assert_eq!((classes.labels(), classes.classes()), (&[0, 1, 0][..], 2));
        assert_eq!(classes.class_names().unwrap(), ["x", "y"]);

        let options = TableOptions::new()
            .with_ignored("kind")
            .with_targets(["price", "a"])
            .with_kind(TargetKind::Values);
        let values = parse_table::<f64>(text.as_bytes(), "t.csv", &options)
            .unwrap()
            .into_dataset()
            .unwrap();
        assert!(values.is_regression());
        assert_eq!(values.inputs(), &ndarray::array![[2.0, 4.0, 6.0]]);
        assert_eq!(
            values.values().unwrap(),
            &ndarray::array![[0.5, 1.5, 2.5], [1.0, 3.0, 5.0]]
        );
    }
}
