//! Apache Parquet output (`--format parquet -o PATH`): one table per record
//! kind (calls, frames, conns) with typed columns for what people filter
//! and group on, and JSON text columns for the nested rest. Each table's
//! columns are declared once ([`Column`] lists in [`calls`], [`frames`],
//! [`conns`]); the writer checks every value pushed against that list, and
//! docs/parquet.md is checked against it by a test.
//!
//! Rows are gathered in Arrow builders and written as a row group every
//! [`ROWS_PER_BATCH`] rows: memory stays bounded whatever the capture's size.

pub mod calls;
pub mod conns;
pub mod frames;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::io::{self, Write};
use std::sync::Arc;

/// The version of the tables' schema, written in each file's metadata
/// (`grpcscope.schema_version`). Columns may be added within a version;
/// a column renamed, retyped or removed makes a new one.
pub const SCHEMA_VERSION: u32 = 1;

/// Rows per record batch (and so per row group written).
pub const ROWS_PER_BATCH: usize = 16 * 1024;

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text (JSON text columns too).
    Text,
    /// 64-bit signed integer.
    Int64,
    /// 32-bit signed integer.
    Int32,
    /// 64-bit float.
    Float64,
    /// Boolean.
    Bool,
    /// Microseconds since the Unix epoch, UTC.
    Timestamp,
}

impl Kind {
    fn data_type(self) -> DataType {
        match self {
            Kind::Text => DataType::Utf8,
            Kind::Int64 => DataType::Int64,
            Kind::Int32 => DataType::Int32,
            Kind::Float64 => DataType::Float64,
            Kind::Bool => DataType::Boolean,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        }
    }

    /// The type as docs/parquet.md names it (Parquet's logical types).
    pub fn doc_name(self) -> &'static str {
        match self {
            Kind::Text => "string",
            Kind::Int64 => "int64",
            Kind::Int32 => "int32",
            Kind::Float64 => "double",
            Kind::Bool => "boolean",
            Kind::Timestamp => "timestamp(us, UTC)",
        }
    }
}

/// One column of a table: its name, type and meaning.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The column's name.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Whether it can be null.
    pub nullable: bool,
    /// What it holds (docs/parquet.md says the same).
    pub doc: &'static str,
}

/// A column that is always set.
pub const fn required(name: &'static str, kind: Kind, doc: &'static str) -> Column {
    Column { name, kind, nullable: false, doc }
}

/// A column that may be null.
pub const fn optional(name: &'static str, kind: Kind, doc: &'static str) -> Column {
    Column { name, kind, nullable: true, doc }
}

/// An Arrow builder of one column.
enum Builder {
    Text(StringBuilder),
    Int64(Int64Builder),
    Int32(Int32Builder),
    Float64(Float64Builder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMicrosecondBuilder),
}

impl Builder {
    fn new(kind: Kind) -> Builder {
        match kind {
            Kind::Text => Builder::Text(StringBuilder::new()),
            Kind::Int64 => Builder::Int64(Int64Builder::new()),
            Kind::Int32 => Builder::Int32(Int32Builder::new()),
            Kind::Float64 => Builder::Float64(Float64Builder::new()),
            Kind::Bool => Builder::Bool(BooleanBuilder::new()),
            Kind::Timestamp => Builder::Timestamp(TimestampMicrosecondBuilder::new().with_timezone("UTC")),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Int32(b) => Arc::new(b.finish()),
            Builder::Float64(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
        }
    }
}

/// A value for the next column of a row.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    /// Text.
    Text(Option<&'a str>),
    /// A 64-bit integer.
    Int64(Option<i64>),
    /// A 32-bit integer.
    Int32(Option<i32>),
    /// A float.
    Float64(Option<f64>),
    /// A boolean.
    Bool(Option<bool>),
    /// Microseconds since the epoch.
    Timestamp(Option<i64>),
}

/// A row being written: values go in column order, each named, and a
/// value of the wrong column or type is a bug the writer reports.
pub struct Row<'t> {
    table: &'t mut Table,
    next: usize,
}

impl Row<'_> {
    /// Sets the next column, which must be `name`.
    pub fn set(&mut self, name: &str, cell: Cell<'_>) -> &mut Self {
        let at = self.next;
        self.next += 1;
        let Some(column) = self.table.columns.get(at) else {
            self.table.mistake.get_or_insert_with(|| format!("{name}: more values than columns"));
            return self;
        };
        if column.name != name {
            self.table.mistake.get_or_insert_with(|| format!("column {at} is {}, not {name}", column.name));
        }
        let fits = match (self.table.builders.get_mut(at), cell) {
            (Some(Builder::Text(b)), Cell::Text(v)) => {
                b.append_option(v);
                true
            }
            (Some(Builder::Int64(b)), Cell::Int64(v)) => {
                b.append_option(v);
                true
            }
            (Some(Builder::Int32(b)), Cell::Int32(v)) => {
                b.append_option(v);
                true
            }
            (Some(Builder::Float64(b)), Cell::Float64(v)) => {
                b.append_option(v);
                true
            }
            (Some(Builder::Bool(b)), Cell::Bool(v)) => {
                b.append_option(v);
                true
            }
            (Some(Builder::Timestamp(b)), Cell::Timestamp(v)) => {
                b.append_option(v);
                true
            }
            _ => false,
        };
        if !fits {
            self.table.mistake.get_or_insert_with(|| format!("{name}: a value of another type"));
        }
        self
    }

    /// Text.
    pub fn text(&mut self, name: &str, v: Option<&str>) -> &mut Self {
        self.set(name, Cell::Text(v))
    }

    /// A 64-bit integer.
    pub fn int64(&mut self, name: &str, v: Option<i64>) -> &mut Self {
        self.set(name, Cell::Int64(v))
    }

    /// A 32-bit integer.
    pub fn int32(&mut self, name: &str, v: Option<i32>) -> &mut Self {
        self.set(name, Cell::Int32(v))
    }

    /// A float.
    pub fn float64(&mut self, name: &str, v: Option<f64>) -> &mut Self {
        self.set(name, Cell::Float64(v))
    }

    /// A boolean.
    pub fn bool(&mut self, name: &str, v: bool) -> &mut Self {
        self.set(name, Cell::Bool(Some(v)))
    }

    /// A time.
    pub fn time(&mut self, name: &str, v: Option<crate::time::Timestamp>) -> &mut Self {
        self.set(name, Cell::Timestamp(v.map(|t| t.micros())))
    }
}

impl Drop for Row<'_> {
    fn drop(&mut self) {
        if self.next != self.table.columns.len() {
            self.table.mistake.get_or_insert_with(|| {
                format!("a row of {} values for {} columns", self.next, self.table.columns.len())
            });
        }
        self.table.rows += 1;
    }
}

/// One table's rows on their way to a Parquet file.
pub struct Table {
    columns: &'static [Column],
    builders: Vec<Builder>,
    schema: Arc<Schema>,
    rows: usize,
    /// The first value pushed against the column list (a bug, reported
    /// when the file is finished rather than as a panic).
    mistake: Option<String>,
    writer: Option<ArrowWriter<Box<dyn Write + Send>>>,
    /// Rows written so far.
    pub written: u64,
}

/// What names a table in its file's metadata.
pub struct TableInfo {
    /// `calls`, `frames` or `conns`.
    pub kind: &'static str,
    /// The capture the rows come from.
    pub capture: String,
}

impl Table {
    /// A table of `columns` written to `out`.
    pub fn new(columns: &'static [Column], out: Box<dyn Write + Send>, info: &TableInfo) -> io::Result<Table> {
        let fields: Vec<Field> = columns.iter().map(|c| Field::new(c.name, c.kind.data_type(), c.nullable)).collect();
        let schema = Arc::new(Schema::new(fields));
        let meta = vec![
            KeyValue::new("grpcscope.schema_version".into(), SCHEMA_VERSION.to_string()),
            KeyValue::new("grpcscope.table".into(), info.kind.to_string()),
            KeyValue::new("grpcscope.capture".into(), info.capture.clone()),
            KeyValue::new("grpcscope.version".into(), env!("CARGO_PKG_VERSION").to_string()),
        ];
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_key_value_metadata(Some(meta))
            .set_created_by(format!("grpcscope {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(props)).map_err(io::Error::other)?;
        Ok(Table {
            columns,
            builders: columns.iter().map(|c| Builder::new(c.kind)).collect(),
            schema,
            rows: 0,
            mistake: None,
            writer: Some(writer),
            written: 0,
        })
    }

    /// A new row; its values are set in column order.
    pub fn row(&mut self) -> Row<'_> {
        Row { table: self, next: 0 }
    }

    /// Writes the gathered rows as a batch once there are enough.
    pub fn maybe_flush(&mut self) -> io::Result<()> {
        if self.rows >= ROWS_PER_BATCH {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> io::Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        if let Some(m) = &self.mistake {
            return Err(io::Error::other(format!("Parquet table out of step with its columns: {m}")));
        }
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays).map_err(io::Error::other)?;
        if let Some(w) = &mut self.writer {
            w.write(&batch).map_err(io::Error::other)?;
        }
        self.written += self.rows as u64;
        self.rows = 0;
        Ok(())
    }

    /// Writes what is left and the file's footer.
    pub fn finish(&mut self) -> io::Result<u64> {
        self.flush_batch()?;
        if let Some(w) = self.writer.take() {
            w.close().map_err(io::Error::other)?;
        }
        Ok(self.written)
    }
}

/// A value as compact JSON text (for the nested columns).
pub fn json_text<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The columns of docs/parquet.md's table for `columns`, one line each:
/// `| name | type | meaning |` (a test compares the document with it).
pub fn doc_rows(columns: &[Column]) -> Vec<String> {
    columns
        .iter()
        .map(|c| {
            let null = if c.nullable { ", nullable" } else { "" };
            format!("| `{}` | {}{null} | {} |", c.name, c.kind.doc_name(), c.doc)
        })
        .collect()
}

/// Splits `ip:port` text (IPv6 as `[::1]:50051`) into its address and port.
pub fn split_endpoint(endpoint: &str) -> (Option<&str>, Option<i32>) {
    match endpoint.rsplit_once(':') {
        Some((ip, port)) => (Some(ip.trim_start_matches('[').trim_end_matches(']')), port.parse().ok()),
        None => (Some(endpoint), None),
    }
}
