//! A GGUF reader (versions 2 and 3, little-endian) over bytes: header, metadata key/values
//! (every scalar type, strings, nested arrays), tensor infos, alignment (`general.alignment`)
//! and the data section. Every count and length is checked against the bytes that remain
//! *before* anything is allocated, so a corrupt or hostile file gives an error, never a huge
//! allocation or a panic: counts above [`MAX_COUNT`], strings longer than the file, arrays whose
//! minimum encoded size exceeds the file, more than [`MAX_DIMS`] dimensions, tensor data
//! outside the file or overlapping another tensor, offsets off the alignment.
//!
//! Layout (ggml `docs/gguf.md`): `"GGUF"`, u32 version, u64 tensor count, u64 kv count; each kv
//! is a string key (u64 length + UTF-8), a u32 value type and the value; each tensor info is a
//! string name, u32 n_dims, n_dims × u64 `ne` (innermost first), u32 ggml type, u64 offset
//! relative to the data section, which starts at the next multiple of the alignment.

use std::collections::HashMap;
use std::path::Path;

use super::error::LoadError;
use super::ggml;

/// The file magic.
pub const MAGIC: &[u8; 4] = b"GGUF";
/// Most metadata entries or tensors accepted.
pub const MAX_COUNT: u64 = 1 << 24;
/// Most tensor dimensions (ggml's `GGML_MAX_DIMS`).
pub const MAX_DIMS: u32 = 4;
/// Deepest array nesting accepted.
pub const MAX_DEPTH: u32 = 4;
/// Default data alignment.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// u8.
    U8(u8),
    /// i8.
    I8(i8),
    /// u16.
    U16(u16),
    /// i16.
    I16(i16),
    /// u32.
    U32(u32),
    /// i32.
    I32(i32),
    /// f32.
    F32(f32),
    /// bool.
    Bool(bool),
    /// UTF-8 string.
    Str(String),
    /// Array of one element type.
    Array(Vec<Value>),
    /// u64.
    U64(u64),
    /// i64.
    I64(i64),
    /// f64.
    F64(f64),
}

impl Value {
    /// An integer value as u64 (negative values are `None`).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// A numeric value as f64.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    /// A string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// An array value.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Type name for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::U8(_) => "u8",
            Value::I8(_) => "i8",
            Value::U16(_) => "u16",
            Value::I16(_) => "i16",
            Value::U32(_) => "u32",
            Value::I32(_) => "i32",
            Value::F32(_) => "f32",
            Value::Bool(_) => "bool",
            Value::Str(_) => "string",
            Value::Array(_) => "array",
            Value::U64(_) => "u64",
            Value::I64(_) => "i64",
            Value::F64(_) => "f64",
        }
    }
}

/// One tensor's info.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// Name.
    pub name: String,
    /// `ne`, innermost (row length) first.
    pub dims: Vec<u64>,
    /// ggml type id.
    pub ggml_type: u32,
    /// Absolute byte offset in the file.
    pub offset: u64,
    /// Byte size, when the type is one ternbench reads (else `None`).
    pub bytes: Option<u64>,
}

impl TensorInfo {
    /// Number of elements.
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// A parsed, validated GGUF header.
#[derive(Clone, Debug)]
pub struct Header {
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata in file order.
    pub metadata: Vec<(String, Value)>,
    /// Tensor infos in file order.
    pub tensors: Vec<TensorInfo>,
    /// Data alignment.
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_start: u64,
    by_key: HashMap<String, usize>,
    by_tensor: HashMap<String, usize>,
}

impl Header {
    /// A metadata value by key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.by_key.get(key).map(|&i| &self.metadata[i].1)
    }

    /// A tensor info by name.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.by_tensor.get(name).map(|&i| &self.tensors[i])
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn left(&self) -> usize {
        self.b.len() - self.pos
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], String> {
        if n > self.left() {
            return Err(format!(
                "truncated: {what} needs {n} bytes at offset {} but the file has {} left",
                self.pos,
                self.left()
            ));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, String> {
        Ok(u16::from_le_bytes(
            self.take(2, what)?.try_into().expect("2"),
        ))
    }
    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4"),
        ))
    }
    fn u64(&mut self, what: &str) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8, what)?.try_into().expect("8"),
        ))
    }
    fn string(&mut self, what: &str) -> Result<String, String> {
        let n = self.u64(what)?;
        if n > self.left() as u64 {
            return Err(format!(
                "{what}: string length {n} at offset {} exceeds the {} bytes left in the file",
                self.pos - 8,
                self.left()
            ));
        }
        let s = self.take(n as usize, what)?;
        String::from_utf8(s.to_vec()).map_err(|_| format!("{what}: string is not UTF-8"))
    }

    /// Smallest encoding of one value of type `t` (for bounding array counts).
    fn min_size(t: u32) -> usize {
        match t {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            8 | 10..=12 => 8,
            9 => 12,
            _ => 1,
        }
    }

    fn value(&mut self, t: u32, what: &str, depth: u32) -> Result<Value, String> {
        Ok(match t {
            0 => Value::U8(self.u8(what)?),
            1 => Value::I8(self.u8(what)? as i8),
            2 => Value::U16(self.u16(what)?),
            3 => Value::I16(self.u16(what)? as i16),
            4 => Value::U32(self.u32(what)?),
            5 => Value::I32(self.u32(what)? as i32),
            6 => Value::F32(f32::from_bits(self.u32(what)?)),
            7 => match self.u8(what)? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(format!("{what}: bool byte {b} is neither 0 nor 1")),
            },
            8 => Value::Str(self.string(what)?),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(format!("{what}: arrays nested deeper than {MAX_DEPTH}"));
                }
                let et = self.u32(what)?;
                if et > 12 {
                    return Err(format!("{what}: unknown array element type {et}"));
                }
                let n = self.u64(what)?;
                let min = Self::min_size(et) as u64;
                if n.saturating_mul(min) > self.left() as u64 {
                    return Err(format!(
                        "{what}: array of {n} elements cannot fit in the {} bytes left",
                        self.left()
                    ));
                }
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(self.value(et, what, depth + 1)?);
                }
                Value::Array(v)
            }
            10 => Value::U64(self.u64(what)?),
            11 => Value::I64(self.u64(what)? as i64),
            12 => Value::F64(f64::from_bits(self.u64(what)?)),
            other => return Err(format!("{what}: unknown value type {other}")),
        })
    }
}

/// Parses and validates the header of a GGUF file whose whole content is `bytes`; `path` only
/// names the file in errors.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Header, LoadError> {
    let mut r = Reader { b: bytes, pos: 0 };
    let h = |e: String| LoadError::header(path, e);
    let magic = r.take(4, "magic").map_err(|_| {
        h(format!(
            "not a GGUF file: {} bytes, shorter than the magic",
            bytes.len()
        ))
    })?;
    if magic != MAGIC {
        return Err(h(format!(
            "not a GGUF file: magic {:02x?} is not \"GGUF\"",
            magic
        )));
    }
    let version = r.u32("version").map_err(h)?;
    if !(2..=3).contains(&version) {
        let hint = if (2..=3).contains(&version.swap_bytes()) {
            " (a big-endian GGUF; ternbench reads little-endian files)"
        } else if version == 1 {
            " (GGUF v1 used 32-bit counts; convert the file with a current llama.cpp)"
        } else {
            ""
        };
        return Err(h(format!("GGUF version {version} is not supported{hint}")));
    }
    let n_tensors = r.u64("tensor count").map_err(h)?;
    let n_kv = r.u64("metadata count").map_err(h)?;
    // A kv takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info 8 + 4 + 8 + 4 + 8.
    for (n, what, min) in [
        (n_kv, "metadata entries", 13u64),
        (n_tensors, "tensors", 32),
    ] {
        if n > MAX_COUNT || n.saturating_mul(min) > r.left() as u64 {
            return Err(h(format!(
                "header claims {n} {what}, impossible in a file of {} bytes",
                bytes.len()
            )));
        }
    }
    let mut metadata = Vec::with_capacity(n_kv as usize);
    let mut by_key = HashMap::new();
    for i in 0..n_kv {
        let key = r.string(&format!("metadata key {i}")).map_err(h)?;
        let t = r.u32(&format!("type of `{key}`")).map_err(h)?;
        let v = r
            .value(t, &format!("metadata `{key}`"), 0)
            .map_err(|e| LoadError::key(path, &key, e))?;
        if by_key.insert(key.clone(), metadata.len()).is_some() {
            return Err(LoadError::key(path, &key, "appears twice in the metadata"));
        }
        metadata.push((key, v));
    }
    let alignment = match by_key.get("general.alignment").map(|&i| &metadata[i].1) {
        None => DEFAULT_ALIGNMENT,
        Some(Value::U32(a)) if *a != 0 && a.is_power_of_two() => *a as u64,
        Some(v) => {
            return Err(LoadError::key(
                path,
                "general.alignment",
                format!("must be a u32 power of two, found {v:?}"),
            ))
        }
    };
    let mut tensors = Vec::with_capacity(n_tensors as usize);
    let mut by_tensor = HashMap::new();
    for i in 0..n_tensors {
        let name = r.string(&format!("tensor {i} name")).map_err(h)?;
        let terr = |e: String| LoadError::tensor(path, &name, e);
        let nd = r.u32("n_dims").map_err(terr)?;
        if nd == 0 || nd > MAX_DIMS {
            return Err(terr(format!("{nd} dimensions (1 to {MAX_DIMS} allowed)")));
        }
        let mut dims = Vec::with_capacity(nd as usize);
        for _ in 0..nd {
            dims.push(r.u64("dimension").map_err(terr)?);
        }
        if dims.contains(&0) {
            return Err(terr(format!("dimension of 0 in {dims:?}")));
        }
        let n = dims
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .filter(|&n| n <= i64::MAX as u64)
            .ok_or_else(|| terr(format!("element count of {dims:?} overflows")))?;
        let ggml_type = r.u32("type").map_err(terr)?;
        let offset = r.u64("offset").map_err(terr)?;
        if !offset.is_multiple_of(alignment) {
            return Err(terr(format!(
                "data offset {offset} is not a multiple of the alignment {alignment}"
            )));
        }
        let bytes = match ggml::tensor_bytes(ggml_type, dims[0], n) {
            None => None,
            Some(Ok(b)) => Some(b),
            Some(Err(e)) => return Err(terr(e)),
        };
        if by_tensor.insert(name.clone(), tensors.len()).is_some() {
            return Err(terr("appears twice in the tensor infos".into()));
        }
        tensors.push(TensorInfo {
            name,
            dims,
            ggml_type,
            offset,
            bytes,
        });
    }
    let data_start = (r.pos as u64).div_ceil(alignment) * alignment;
    let file_len = bytes.len() as u64;
    for t in &mut tensors {
        let abs = data_start.checked_add(t.offset);
        let end = abs.and_then(|a| a.checked_add(t.bytes.unwrap_or(0)));
        match (abs, end) {
            (Some(a), Some(e)) if e <= file_len && a <= file_len => t.offset = a,
            _ => {
                return Err(LoadError::tensor(
                    path,
                    &t.name,
                    format!(
                        "data at offset {} + {} bytes runs past the end of the file ({file_len} bytes; truncated?)",
                        t.offset,
                        t.bytes.unwrap_or(0)
                    ),
                ))
            }
        }
    }
    let mut spans: Vec<&TensorInfo> = tensors.iter().filter(|t| t.bytes.is_some()).collect();
    spans.sort_by_key(|t| t.offset);
    for w in spans.windows(2) {
        let end = w[0].offset + w[0].bytes.unwrap_or(0);
        if w[1].offset < end {
            return Err(LoadError::tensor(
                path,
                &w[1].name,
                format!("data overlaps tensor `{}`", w[0].name),
            ));
        }
    }
    Ok(Header {
        version,
        metadata,
        tensors,
        alignment,
        data_start,
        by_key,
        by_tensor,
    })
}

/// A small GGUF writer (little-endian, version 3): for tests, fuzz seeds and fixture tools.
#[derive(Debug, Default)]
pub struct Writer {
    kv: Vec<u8>,
    n_kv: u64,
    infos: Vec<(String, Vec<u64>, u32, Vec<u8>)>,
    /// Alignment to lay the data out with (32 unless set).
    pub alignment: u64,
}

impl Writer {
    /// An empty file.
    pub fn new() -> Self {
        Writer {
            alignment: DEFAULT_ALIGNMENT,
            ..Default::default()
        }
    }

    pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn put_value(out: &mut Vec<u8>, v: &Value) {
        match v {
            Value::U8(x) => out.push(*x),
            Value::I8(x) => out.push(*x as u8),
            Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::Bool(x) => out.push(*x as u8),
            Value::Str(s) => Self::put_str(out, s),
            Value::Array(a) => {
                let et = a.first().map(Self::type_id).unwrap_or(4);
                out.extend_from_slice(&et.to_le_bytes());
                out.extend_from_slice(&(a.len() as u64).to_le_bytes());
                for e in a {
                    Self::put_value(out, e);
                }
            }
            Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        }
    }

    pub(crate) fn type_id(v: &Value) -> u32 {
        match v {
            Value::U8(_) => 0,
            Value::I8(_) => 1,
            Value::U16(_) => 2,
            Value::I16(_) => 3,
            Value::U32(_) => 4,
            Value::I32(_) => 5,
            Value::F32(_) => 6,
            Value::Bool(_) => 7,
            Value::Str(_) => 8,
            Value::Array(_) => 9,
            Value::U64(_) => 10,
            Value::I64(_) => 11,
            Value::F64(_) => 12,
        }
    }

    /// Adds a metadata entry.
    pub fn kv(&mut self, key: &str, v: Value) -> &mut Self {
        Self::put_str(&mut self.kv, key);
        self.kv.extend_from_slice(&Self::type_id(&v).to_le_bytes());
        Self::put_value(&mut self.kv, &v);
        self.n_kv += 1;
        self
    }

    /// Adds a tensor (`dims` innermost first) with its raw bytes.
    pub fn tensor(&mut self, name: &str, dims: &[u64], ggml_type: u32, data: Vec<u8>) -> &mut Self {
        self.infos
            .push((name.to_string(), dims.to_vec(), ggml_type, data));
        self
    }

    /// The file's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let a = self.alignment.max(1) as usize;
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(self.infos.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.n_kv.to_le_bytes());
        out.extend_from_slice(&self.kv);
        let mut off = 0usize;
        let mut offsets = Vec::new();
        for (_, _, _, d) in &self.infos {
            offsets.push(off);
            off = (off + d.len()).div_ceil(a) * a;
        }
        for ((name, dims, t, _), o) in self.infos.iter().zip(&offsets) {
            Self::put_str(&mut out, name);
            out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&t.to_le_bytes());
            out.extend_from_slice(&(*o as u64).to_le_bytes());
        }
        out.resize(out.len().div_ceil(a) * a, 0);
        let base = out.len();
        for ((_, _, _, d), o) in self.infos.iter().zip(&offsets) {
            out.resize(base + o, 0);
            out.extend_from_slice(d);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Writer {
        let mut w = Writer::new();
        w.kv("general.architecture", Value::Str("bitnet-b1.58".into()))
            .kv(
                "a.list",
                Value::Array(vec![Value::Str("x".into()), Value::Str("yz".into())]),
            )
            .kv("a.f", Value::F32(1.5))
            .tensor("t0", &[4, 2], ggml::id::F32, vec![0; 32])
            .tensor("t1", &[256], ggml::id::TQ2_0, vec![0; 66]);
        w
    }

    #[test]
    fn round_trip() {
        let b = sample().bytes();
        let h = parse(&b, Path::new("m.gguf")).unwrap();
        assert_eq!(h.version, 3);
        assert_eq!(
            h.get("general.architecture").and_then(Value::as_str),
            Some("bitnet-b1.58")
        );
        assert_eq!(
            h.get("a.list").and_then(Value::as_array).map(|a| a.len()),
            Some(2)
        );
        let t1 = h.tensor("t1").unwrap();
        assert_eq!(t1.bytes, Some(66));
        assert_eq!(t1.offset % 32, 0);
        assert!(t1.offset >= h.data_start + 32);
    }

    #[test]
    fn corruptions_are_errors() {
        let good = sample().bytes();
        let p = Path::new("bad.gguf");
        // Every truncation is an error, never a panic.
        for n in 0..good.len() {
            assert!(parse(&good[..n], p).is_err(), "truncated at {n}");
        }
        let mut b = good.clone();
        b[0] = b'X';
        assert!(parse(&b, p).unwrap_err().to_string().contains("magic"));
        let mut b = good.clone();
        b[4..8].copy_from_slice(&3u32.swap_bytes().to_le_bytes());
        assert!(parse(&b, p).unwrap_err().to_string().contains("big-endian"));
        let mut b = good.clone();
        b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(parse(&b, p).unwrap_err().to_string().contains("impossible"));
        let mut b = good.clone();
        b[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(parse(&b, p).unwrap_err().to_string().contains("impossible"));
        // A huge string length.
        let mut b = good.clone();
        b[24..32].copy_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(parse(&b, p).unwrap_err().to_string().contains("exceeds"));
        // Unknown tensor type: parses (size unknown), the loader refuses it by name.
        let mut w = Writer::new();
        w.tensor("q", &[32], 12, vec![0; 18]);
        let h = parse(&w.bytes(), p).unwrap();
        assert_eq!(h.tensor("q").unwrap().bytes, None);
        // Row length off the block.
        let mut w = Writer::new();
        w.tensor("q", &[100], ggml::id::TQ1_0, vec![0; 54]);
        assert!(parse(&w.bytes(), p)
            .unwrap_err()
            .to_string()
            .contains("`q`"));
        // Bad alignment.
        let mut w = Writer::new();
        w.kv("general.alignment", Value::U32(24));
        assert!(parse(&w.bytes(), p)
            .unwrap_err()
            .to_string()
            .contains("general.alignment"));
        // Duplicate key.
        let mut w = Writer::new();
        w.kv("k", Value::U8(1)).kv("k", Value::U8(2));
        assert!(parse(&w.bytes(), p)
            .unwrap_err()
            .to_string()
            .contains("twice"));
        // Absurd array count.
        let mut w = Writer::new();
        w.kv("arr", Value::Array(vec![Value::U64(1)]));
        let mut b = w.bytes();
        let at = 24 + 8 + 3 + 4 + 4; // header, key, type, element type
        b[at..at + 8].copy_from_slice(&(1u64 << 62).to_le_bytes());
        assert!(parse(&b, p).unwrap_err().to_string().contains("cannot fit"));
    }
}
