//! Import of SCALE-Sim topology CSV files, unchanged.
//!
//! Two formats are recognized by their header row:
//!
//! * convolution: `Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width,
//!   Channels, Num Filter, Strides,` — one conv layer per row, no padding;
//! * GEMM: `Layer, M, N, K,` — one `M×K · K×N` product per row.
//!
//! SCALE-Sim counts a conv layer's output as `⌈(ifmap − filter + stride) / stride⌉` per side
//! (a trailing partial window still produces an output). The importer reproduces that count
//! exactly by padding the end of each axis with `(out − 1)·stride + filter − ifmap` zeros, so
//! the imported graph has the same GEMM dimensions (M, N, K) as SCALE-Sim's run.
//!
//! Each row becomes an independent op (SCALE-Sim simulates rows one after another on one
//! array; an accelerator with one engine serializes them in file order).

use std::path::Path;

use crate::graph::WorkloadBuilder;
use crate::op::{Conv2d, Gemm, OpKind};
use crate::{DType, Workload, WorkloadError};

/// Reads a SCALE-Sim topology file.
pub fn read_topology(path: &Path, batch: u64, dtype: DType) -> Result<Workload, WorkloadError> {
    let text = crate::input::read_to_string(path, crate::input::InputKind::Table).map_err(|e| {
        WorkloadError::Topology {
            path: e.path,
            line: 0,
            reason: e.message,
        }
    })?;
    let name = path.file_stem().map_or_else(
        || "topology".to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    parse_topology(&text, &name, &path.display().to_string(), batch, dtype)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Conv,
    Gemm,
}

/// Parses SCALE-Sim topology text. `source` names the file in error messages.
pub fn parse_topology(
    text: &str,
    name: &str,
    source: &str,
    batch: u64,
    dtype: DType,
) -> Result<Workload, WorkloadError> {
    let err = |line: usize, reason: String| WorkloadError::Topology {
        path: source.to_string(),
        line,
        reason,
    };
    if batch == 0 {
        return Err(WorkloadError::InvalidParameter {
            key: "workload.batch".into(),
            reason: "must be at least 1".into(),
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut b = WorkloadBuilder::new(name, dtype);
    let mut format = None;
    let mut rows = 0usize;
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            err(line, format!("not valid CSV: {e}"))
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let mut fields: Vec<&str> = record.iter().collect();
        while fields.last() == Some(&"") {
            fields.pop();
        }
        if fields.is_empty() || fields[0].starts_with('#') {
            continue;
        }
        let Some(fmt) = format else {
            format = Some(detect_header(&fields).ok_or_else(|| {
                err(
                    line,
                    "header must be SCALE-Sim's conv format (Layer name, IFMAP Height, IFMAP Width, Filter Height, \
                     Filter Width, Channels, Num Filter, Strides) or GEMM format (Layer, M, N, K)"
                        .into(),
                )
            })?);
            continue;
        };
        let want = if fmt == Format::Conv { 8 } else { 4 };
        if fields.len() != want {
            return Err(err(
                line,
                format!("expected {want} fields, found {}", fields.len()),
            ));
        }
        let layer = fields[0].to_string();
        if layer.is_empty() {
            return Err(err(line, "empty layer name".into()));
        }
        let mut nums = Vec::with_capacity(want - 1);
        for (i, f) in fields[1..].iter().enumerate() {
            let col = header_name(fmt, i + 1);
            let v: u64 = f
                .parse()
                .map_err(|_| err(line, format!("{col} is not a positive integer")))?;
            if v == 0 {
                return Err(err(line, format!("{col} must be positive")));
            }
            nums.push(v);
        }
        match fmt {
            Format::Conv => {
                let [ih, iw, fh, fw, ch, nf, s] =
                    <[u64; 7]>::try_from(nums).expect("length checked above");
                if fh > ih || fw > iw {
                    return Err(err(
                        line,
                        format!("filter {fh}x{fw} is larger than the ifmap {ih}x{iw}"),
                    ));
                }
                let oh = (ih - fh).div_ceil(s) + 1;
                let ow = (iw - fw).div_ceil(s) + 1;
                let conv = Conv2d {
                    in_channels: ch,
                    out_channels: nf,
                    kernel: [fh, fw],
                    stride: [s, s],
                    pads: [0, 0, (oh - 1) * s + fh - ih, (ow - 1) * s + fw - iw],
                    dilation: [1, 1],
                    groups: 1,
                    folded_bn: false,
                };
                let x = b.input(vec![batch, ch, ih, iw]);
                b.conv2d(&layer, &x, conv)
                    .map_err(|e| err(line, e.to_string()))?;
            }
            Format::Gemm => {
                let [m, n, k] = <[u64; 3]>::try_from(nums).expect("length checked above");
                let x = b.input(vec![batch * m, k]);
                let g = Gemm {
                    batch: 1,
                    m: batch * m,
                    n,
                    k,
                    weight_operand: true,
                };
                b.add_op(layer, OpKind::Gemm(g), &[&x], vec![batch * m, n]);
            }
        }
        rows += 1;
    }
    if format.is_none() {
        return Err(err(1, "empty topology file".into()));
    }
    if rows == 0 {
        return Err(err(1, "topology has a header but no layers".into()));
    }
    let mut w = b.finish();
    w.batch = batch;
    Ok(w)
}

fn norm(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

fn detect_header(fields: &[&str]) -> Option<Format> {
    let h: Vec<String> = fields.iter().map(|f| norm(f)).collect();
    let conv = [
        "layername",
        "ifmapheight",
        "ifmapwidth",
        "filterheight",
        "filterwidth",
        "channels",
        "numfilter",
        "strides",
    ];
    if h.len() == conv.len() && h.iter().zip(conv).all(|(a, b)| a == b) {
        return Some(Format::Conv);
    }
    let gemm = ["layer", "m", "n", "k"];
    if h.len() == gemm.len()
        && h.iter()
            .zip(gemm)
            .all(|(a, b)| a == b || (b == "layer" && a == "layername"))
    {
        return Some(Format::Gemm);
    }
    None
}

fn header_name(fmt: Format, i: usize) -> &'static str {
    match fmt {
        Format::Conv => [
            "Layer name",
            "IFMAP Height",
            "IFMAP Width",
            "Filter Height",
            "Filter Width",
            "Channels",
            "Num Filter",
            "Strides",
        ][i],
        Format::Gemm => ["Layer", "M", "N", "K"][i],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n";

    #[test]
    fn conv_rows_follow_scalesim_output_convention() {
        let t = format!("{HEADER}Conv1,224,224,7,7,3,64,2,\nConv3_s,56,56,1,1,64,128,2,\n");
        let w = parse_topology(&t, "t", "t.csv", 1, DType::Int8).unwrap();
        let g: Vec<_> = w.ops().map(|o| o.gemm_view().unwrap()).collect();
        assert_eq!((g[0].m, g[0].n, g[0].k), (12100, 64, 147));
        assert_eq!((g[1].m, g[1].n, g[1].k), (841, 128, 64));
    }

    #[test]
    fn gemm_format() {
        let w = parse_topology(
            "Layer, M, N, K,\nqkv, 128, 2304, 768,\n",
            "t",
            "t.csv",
            1,
            DType::Int8,
        )
        .unwrap();
        let g = w.ops().next().unwrap().gemm_view().unwrap();
        assert_eq!((g.m, g.n, g.k), (128, 2304, 768));
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                format!("{HEADER}Conv1,224,224,7,7,3,64,\n"),
                ":2: expected 8 fields",
            ),
            (
                format!("{HEADER}Conv1,224,224,7,7,3,64,2\nC2,2,2,3,3,1,1,1\n"),
                ":3: filter 3x3 is larger",
            ),
            (
                format!("{HEADER}Conv1,224,abc,7,7,3,64,2\n"),
                ":2: IFMAP Width is not a positive integer",
            ),
            (
                format!("{HEADER}Conv1,224,224,7,7,0,64,2\n"),
                ":2: Channels must be positive",
            ),
            ("a,b,c\n1,2,3\n".to_string(), ":1: header must be"),
            (HEADER.to_string(), "no layers"),
            (String::new(), "empty topology"),
        ];
        for (text, want) in cases {
            let e = parse_topology(&text, "t", "t.csv", 1, DType::Int8)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{e:?} lacks {want:?}");
            assert!(!e.contains('\n'), "one line: {e:?}");
        }
    }
}
