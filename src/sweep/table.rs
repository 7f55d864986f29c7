//! A sweep's table: one row per point, written as `results.csv` and as `results.parquet` (the
//! same cells, typed columns).

use std::path::Path;

use serde_json::Value;

use archsim_gym::METRICS;

use super::JournalEntry;
use crate::Error;

/// A swept value as an axis label: a string as itself, a mapping by its `kind` and its other
/// keys (`ga population=20`, not `{"kind":"ga","population":20}`), a list comma-separated.
pub(super) fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(", "),
        Value::Object(m) => {
            let kind = m.get("kind").map(cell);
            let rest = m
                .iter()
                .filter(|(k, _)| *k != "kind")
                .map(|(k, v)| format!("{k}={}", cell(v)));
            kind.into_iter().chain(rest).collect::<Vec<_>>().join(" ")
        }
        other => other.to_string(),
    }
}

/// The table of a sweep: its column names and one row of JSON values (null = empty) per entry.
/// `results.csv` and `results.parquet` are both written from it.
pub fn table(entries: &[JournalEntry]) -> (Vec<String>, Vec<Vec<Value>>) {
    let keys: Vec<String> = entries
        .first()
        .map(|e| e.point.keys().cloned().collect())
        .unwrap_or_default();
    let search = entries
        .iter()
        .any(|e| e.best_eval.is_some() || !e.trace.is_empty());
    let mut header = vec!["index".to_string()];
    header.extend(keys.iter().cloned());
    if search {
        header.extend(["best_cost", "best_eval"].map(String::from));
    }
    // A serving sweep tabulates the serving metrics (in the order `serving::metrics` gives).
    let serving: Vec<String> = entries
        .iter()
        .find(|e| e.metrics.contains_key("ttft_p90_s"))
        .map(|e| e.metrics.keys().cloned().collect())
        .unwrap_or_default();
    let metrics: Vec<&str> = if serving.is_empty() {
        METRICS.to_vec()
    } else {
        serving.iter().map(String::as_str).collect()
    };
    header.extend(metrics.iter().map(|m| m.to_string()));
    header.push("error".into());
    let rows = entries
        .iter()
        .map(|e| {
            let mut row = vec![Value::from(e.index)];
            row.extend(
                keys.iter()
                    .map(|k| e.point.get(k).cloned().unwrap_or(Value::Null)),
            );
            if search {
                row.push(e.best_cost.map_or(Value::Null, Value::from));
                row.push(e.best_eval.map_or(Value::Null, Value::from));
            }
            row.extend(
                metrics
                    .iter()
                    .map(|m| e.metrics.get(*m).cloned().unwrap_or(Value::Null)),
            );
            row.push(e.error.clone().map_or(Value::Null, Value::from));
            row
        })
        .collect();
    (header, rows)
}

/// The table of a sweep as CSV: one row per point; an empty cell for a missing value.
pub fn write_csv(entries: &[JournalEntry], path: &Path) -> Result<(), Error> {
    let io = |e: &dyn std::fmt::Display| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let mut w = crate::files::csv_writer(path)?;
    let (header, rows) = table(entries);
    w.write_record(&header).map_err(|e| io(&e))?;
    for row in rows {
        let cells = row.iter().map(|v| match v {
            Value::Null => String::new(),
            other => cell(other),
        });
        w.write_record(cells).map_err(|e| io(&e))?;
    }
    crate::files::commit_csv(w)
}

/// The physical type of a Parquet column, chosen from its values.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ColumnKind {
    Int,
    Float,
    Bool,
    Str,
}

fn column_kind(values: &[&Value], name: &str) -> ColumnKind {
    let present: Vec<&Value> = values.iter().copied().filter(|v| !v.is_null()).collect();
    if present.is_empty() {
        // Keep the column's natural type when every value is missing (e.g. all points failed).
        return match name {
            "index" | "best_eval" => ColumnKind::Int,
            n if archsim_gym::objective::INTEGER_METRICS.contains(&n) => ColumnKind::Int,
            "error" => ColumnKind::Str,
            n if n == "best_cost" || METRICS.contains(&n) => ColumnKind::Float,
            _ => ColumnKind::Str,
        };
    }
    if present.iter().all(|v| v.is_i64()) {
        ColumnKind::Int
    } else if present.iter().all(|v| v.is_number()) {
        ColumnKind::Float
    } else if present.iter().all(|v| v.is_boolean()) {
        ColumnKind::Bool
    } else {
        ColumnKind::Str
    }
}

/// The table of a sweep as Parquet: the columns of `results.csv`, each typed from its values
/// (64-bit integers, doubles, booleans, or UTF-8 strings written as the CSV writes them), every
/// column optional (null where the CSV cell is empty), one row group, uncompressed pages with
/// dictionary encoding.
pub fn write_parquet(entries: &[JournalEntry], path: &Path) -> Result<(), Error> {
    use parquet::basic::{LogicalType, Repetition, Type as Physical};
    use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;
    use std::sync::Arc;

    let io = |e: &dyn std::fmt::Display| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let (header, rows) = table(entries);
    let columns: Vec<(String, ColumnKind, Vec<&Value>)> = header
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let vals: Vec<&Value> = rows.iter().map(|r| &r[c]).collect();
            (name.clone(), column_kind(&vals, name), vals)
        })
        .collect();
    let fields = columns
        .iter()
        .map(|(name, kind, _)| {
            let (physical, logical) = match kind {
                ColumnKind::Int => (Physical::INT64, None),
                ColumnKind::Float => (Physical::DOUBLE, None),
                ColumnKind::Bool => (Physical::BOOLEAN, None),
                ColumnKind::Str => (Physical::BYTE_ARRAY, Some(LogicalType::String)),
            };
            Type::primitive_type_builder(name, physical)
                .with_repetition(Repetition::OPTIONAL)
                .with_logical_type(logical)
                .build()
                .map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| io(&e))?;
    let schema = Type::group_type_builder("sweep")
        .with_fields(fields)
        .build()
        .map_err(|e| io(&e))?;
    let mut file = crate::files::AtomicFile::create(path)?;
    let props = WriterProperties::builder()
        .set_created_by(format!("archsim {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut w = SerializedFileWriter::new(&mut file, Arc::new(schema), Arc::new(props))
        .map_err(|e| io(&e))?;
    let mut group = w.next_row_group().map_err(|e| io(&e))?;
    for (_, kind, vals) in &columns {
        let mut col = group
            .next_column()
            .map_err(|e| io(&e))?
            .ok_or_else(|| io(&"parquet writer has fewer columns than the schema"))?;
        let defs: Vec<i16> = vals.iter().map(|v| i16::from(!v.is_null())).collect();
        let present = vals.iter().filter(|v| !v.is_null());
        let written = match kind {
            ColumnKind::Int => {
                let xs: Vec<i64> = present.filter_map(|v| v.as_i64()).collect();
                col.typed::<Int64Type>().write_batch(&xs, Some(&defs), None)
            }
            ColumnKind::Float => {
                let xs: Vec<f64> = present.filter_map(|v| v.as_f64()).collect();
                col.typed::<DoubleType>()
                    .write_batch(&xs, Some(&defs), None)
            }
            ColumnKind::Bool => {
                let xs: Vec<bool> = present.filter_map(|v| v.as_bool()).collect();
                col.typed::<BoolType>().write_batch(&xs, Some(&defs), None)
            }
            ColumnKind::Str => {
                let xs: Vec<ByteArray> =
                    present.map(|v| ByteArray::from(cell(v).as_str())).collect();
                col.typed::<ByteArrayType>()
                    .write_batch(&xs, Some(&defs), None)
            }
        };
        written.map_err(|e| io(&e))?;
        col.close().map_err(|e| io(&e))?;
    }
    group.close().map_err(|e| io(&e))?;
    w.close().map_err(|e| io(&e))?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    use crate::sweep::finish;

    /// A fresh folder under the system's temporary folder, removed when the test is done
    /// (passing or not).
    struct Scratch(PathBuf);

    impl std::ops::Deref for Scratch {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn scratch(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("archsim-sweep-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }

    fn entry(index: usize, point: Value, metrics: Value, error: Option<&str>) -> JournalEntry {
        JournalEntry {
            index,
            point: point.as_object().unwrap().clone(),
            metrics: metrics.as_object().unwrap().clone(),
            best_cost: None,
            best_eval: None,
            trace: Vec::new(),
            error: error.map(String::from),
        }
    }

    /// Every Parquet cell printed as the CSV prints it (floats compared by value).
    fn assert_parquet_equals_csv(dir: &Path) {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        use parquet::record::Field;
        let mut csv = csv::Reader::from_path(dir.join("results.csv")).unwrap();
        let header: Vec<String> = csv.headers().unwrap().iter().map(String::from).collect();
        let csv_rows: Vec<Vec<String>> = csv
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        let reader =
            SerializedFileReader::new(std::fs::File::open(dir.join("results.parquet")).unwrap())
                .unwrap();
        let names: Vec<String> = reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        assert_eq!(names, header);
        let rows: Vec<parquet::record::Row> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(rows.len(), csv_rows.len());
        for (row, want) in rows.iter().zip(&csv_rows) {
            let got: Vec<&Field> = row.get_column_iter().map(|(_, f)| f).collect();
            assert_eq!(got.len(), want.len());
            for (f, w) in got.iter().zip(want) {
                match f {
                    Field::Null => assert_eq!(w, ""),
                    Field::Long(x) => assert_eq!(&x.to_string(), w),
                    Field::Double(x) => assert_eq!(*x, w.parse::<f64>().unwrap(), "{w}"),
                    Field::Bool(x) => assert_eq!(&x.to_string(), w),
                    Field::Str(x) => assert_eq!(x, w),
                    other => panic!("unexpected parquet field {other:?}"),
                }
            }
        }
    }

    #[test]
    fn parquet_table_equals_the_csv() {
        use serde_json::json;
        let dir = scratch("parquet");
        let entries = vec![
            entry(
                0,
                json!({"a.rows": 16, "a.df": "os", "a.f": 0.5, "a.on": true, "a.obj": {"k": 1}}),
                json!({"latency_s": 1.25e-5, "energy_j": 3.0, "area_mm2": 0.1}),
                None,
            ),
            entry(
                1,
                json!({"a.rows": 32, "a.df": "ws", "a.f": 2, "a.on": false, "a.obj": [1, 2]}),
                json!({}),
                Some("accelerator.rows: infeasible, \"quoted\", comma"),
            ),
        ];
        let files = finish(&entries, &dir).unwrap();
        assert!(files.contains(&dir.join("results.parquet")));
        assert_parquet_equals_csv(&dir);
        // Column types follow the values.
        let (header, rows) = table(&entries);
        let col = |n: &str| -> Vec<&Value> {
            let c = header.iter().position(|h| h == n).unwrap();
            rows.iter().map(|r| &r[c]).collect()
        };
        assert_eq!(column_kind(&col("a.rows"), "a.rows"), ColumnKind::Int);
        assert_eq!(column_kind(&col("a.f"), "a.f"), ColumnKind::Float);
        assert_eq!(column_kind(&col("a.on"), "a.on"), ColumnKind::Bool);
        assert_eq!(column_kind(&col("a.df"), "a.df"), ColumnKind::Str);
        assert_eq!(column_kind(&col("a.obj"), "a.obj"), ColumnKind::Str);
        assert_eq!(column_kind(&col("power_w"), "power_w"), ColumnKind::Float);

        // A search sweep adds best_cost and best_eval; an empty sweep is a header-only table.
        let mut s = entries.clone();
        s[0].best_cost = Some(0.25);
        s[0].best_eval = Some(7);
        s[0].trace = vec![1.0, 0.25];
        let d2 = scratch("parquet_search");
        finish(&s, &d2).unwrap();
        assert_parquet_equals_csv(&d2);
        let d3 = scratch("parquet_empty");
        finish(&[], &d3).unwrap();
        assert_parquet_equals_csv(&d3);
    }

    #[test]
    fn swept_mappings_are_labelled_by_kind_and_keys() {
        assert_eq!(cell(&serde_json::json!({"kind": "random"})), "random");
        assert_eq!(
            cell(&serde_json::json!({"kind": "ga", "population": 20})),
            "ga population=20"
        );
        assert_eq!(cell(&serde_json::json!([1, "os"])), "1, os");
        assert_eq!(cell(&serde_json::json!(64)), "64");
    }
}
