//! Safetensors checkpoints over a memory map, on the `safetensors` crate's types: the 8-byte
//! little-endian header length, the JSON header (`dtype`, `shape`, `data_offsets` per tensor,
//! optional `__metadata__`), then the data. Each entry deserialises into the crate's
//! [`safetensors::tensor::TensorInfo`] (so dtype names and shapes are the crate's), and is then
//! validated here so that every error names the file and the tensor: a header length above
//! [`MAX_HEADER`] or past the end of the file, malformed JSON, unknown dtypes, offsets out of
//! range, overlapping tensors, byte sizes that disagree with `dtype × shape`. Last, the crate's
//! own check of the whole file (offsets contiguous, the data section fully covered) runs. Sharded
//! checkpoints (`model.safetensors.index.json`, a `weight_map` from tensor to shard) are read by
//! [`Checkpoint`].
//!
//! [`parse_header`] works on bytes alone, so the fuzz targets and tests call it directly.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub use safetensors::Dtype;
use serde_json::Value;

use super::error::LoadError;
use super::map_file;

/// Largest header accepted (the reference implementation's limit): a bigger one is a corrupt
/// file, not a model.
pub const MAX_HEADER: u64 = 100_000_000;

/// Whether values of `dtype` are floats we read as f32 (F32, F16, BF16).
pub fn is_float(dtype: Dtype) -> bool {
    matches!(dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16)
}

/// One tensor's entry in the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// Element type.
    pub dtype: Dtype,
    /// Shape, outermost first.
    pub shape: Vec<usize>,
    /// Byte range within the data section.
    pub start: usize,
    /// End of the byte range (exclusive).
    pub end: usize,
}

/// A validated header.
#[derive(Clone, Debug, Default)]
pub struct Header {
    /// Tensors by name.
    pub tensors: BTreeMap<String, TensorInfo>,
    /// `__metadata__` (string to string).
    pub metadata: BTreeMap<String, String>,
    /// Offset of the data section in the file (8 + header length).
    pub data_start: usize,
}

/// Parses and validates the header of a safetensors file whose whole content is `bytes`; `path`
/// only names the file in errors.
pub fn parse_header(bytes: &[u8], path: &Path) -> Result<Header, LoadError> {
    let bad = |reason: String| LoadError::header(path, reason);
    if bytes.len() < 8 {
        return Err(bad(format!(
            "not a safetensors file: {} bytes, shorter than the 8-byte header length",
            bytes.len()
        )));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    if n > MAX_HEADER {
        return Err(bad(format!(
            "safetensors header length {n} exceeds the {} MB limit (corrupt or not a safetensors file)",
            MAX_HEADER / 1_000_000
        )));
    }
    let n = n as usize;
    if n > bytes.len() - 8 {
        return Err(bad(format!(
            "truncated safetensors file: the header claims {n} bytes but only {} follow the length",
            bytes.len() - 8
        )));
    }
    let data_start = 8 + n;
    let data_len = bytes.len() - data_start;
    let json: Value = serde_json::from_slice(&bytes[8..data_start])
        .map_err(|e| bad(format!("safetensors header is not valid JSON: {e}")))?;
    let Value::Object(obj) = json else {
        return Err(bad("safetensors header is not a JSON object".into()));
    };
    let mut h = Header {
        data_start,
        ..Header::default()
    };
    for (name, v) in obj {
        if name == "__metadata__" {
            let Value::Object(m) = v else {
                return Err(bad("`__metadata__` is not an object".into()));
            };
            for (k, v) in m {
                let Value::String(s) = v else {
                    return Err(bad(format!("`__metadata__.{k}` is not a string")));
                };
                h.metadata.insert(k, s);
            }
            continue;
        }
        let info = tensor_info(v, data_len).map_err(|r| LoadError::tensor(path, &name, r))?;
        h.tensors.insert(name, info);
    }
    // No two tensors may share bytes.
    let mut spans: Vec<(&String, &TensorInfo)> =
        h.tensors.iter().filter(|(_, t)| t.end > t.start).collect();
    spans.sort_by_key(|(_, t)| (t.start, t.end));
    for w in spans.windows(2) {
        let ((a, ta), (b, tb)) = (w[0], w[1]);
        if tb.start < ta.end {
            return Err(LoadError::tensor(
                path,
                b,
                format!(
                    "data_offsets [{}, {}] overlap tensor `{a}` at [{}, {}]",
                    tb.start, tb.end, ta.start, ta.end
                ),
            ));
        }
    }
    // The format's own rule, checked by the crate: the tensors' bytes follow one another with
    // no gap and end where the file ends.
    safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not a valid safetensors file: {e}")))?;
    Ok(h)
}

fn tensor_info(v: Value, data_len: usize) -> Result<TensorInfo, String> {
    let info: safetensors::tensor::TensorInfo = serde_json::from_value(v)
        .map_err(|e| format!("header entry is not a tensor description: {e}"))?;
    let (start, end) = info.data_offsets;
    if start > end {
        return Err(format!("data_offsets [{start}, {end}] run backwards"));
    }
    if end > data_len {
        return Err(format!(
            "data_offsets [{start}, {end}] run past the end of the data ({data_len} bytes; truncated file?)"
        ));
    }
    let bits = info
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .and_then(|n| n.checked_mul(info.dtype.bitsize()))
        .ok_or("element count overflows")?;
    if bits % 8 != 0 || bits / 8 != end - start {
        return Err(format!(
            "{} x {:?} needs {} bytes but data_offsets [{start}, {end}] hold {}",
            info.dtype,
            info.shape,
            bits.div_ceil(8),
            end - start
        ));
    }
    Ok(TensorInfo {
        dtype: info.dtype,
        shape: info.shape,
        start,
        end,
    })
}

/// A borrowed tensor: its entry and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct TensorRef<'a> {
    /// Name.
    pub name: &'a str,
    /// The file it lives in.
    pub path: &'a Path,
    /// Element type.
    pub dtype: Dtype,
    /// Shape.
    pub shape: &'a [usize],
    /// Raw little-endian bytes.
    pub data: &'a [u8],
}

impl TensorRef<'_> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as f32 (F32, F16 and BF16 convert exactly).
    pub fn to_f32(&self) -> Result<Vec<f32>, LoadError> {
        if !is_float(self.dtype) {
            return Err(LoadError::tensor(
                self.path,
                self.name,
                format!(
                    "dtype {} where a float tensor (F32, F16, BF16) was expected",
                    self.dtype
                ),
            ));
        }
        Ok(floats(self.dtype, self.data))
    }
}

/// Little-endian F32/F16/BF16 bytes as f32 (empty for other dtypes).
pub fn floats(dtype: Dtype, d: &[u8]) -> Vec<f32> {
    match dtype {
        Dtype::F32 => d
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => d
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => d
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        _ => Vec::new(),
    }
}

/// One memory-mapped safetensors file with its validated header.
#[derive(Debug)]
pub struct SafeTensorsFile {
    path: PathBuf,
    map: memmap2::Mmap,
    header: Header,
}

impl SafeTensorsFile {
    /// Maps and validates `path`.
    pub fn open(path: &Path) -> Result<Self, LoadError> {
        let map = map_file(path, 8, "safetensors")?;
        let header = parse_header(&map, path)?;
        Ok(SafeTensorsFile {
            path: path.to_path_buf(),
            map,
            header,
        })
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// A tensor by name.
    pub fn tensor(&self, name: &str) -> Option<TensorRef<'_>> {
        let (k, t) = self.header.tensors.get_key_value(name)?;
        let base = self.header.data_start;
        Some(TensorRef {
            name: k,
            path: &self.path,
            dtype: t.dtype,
            shape: &t.shape,
            data: &self.map[base + t.start..base + t.end],
        })
    }
}

/// Name of the shard index of a sharded checkpoint.
pub const INDEX_FILE: &str = "model.safetensors.index.json";
/// Name of a single-file checkpoint.
pub const SINGLE_FILE: &str = "model.safetensors";

/// The tensors of a checkpoint directory: one `model.safetensors`, or the shards named by
/// `model.safetensors.index.json`.
#[derive(Debug)]
pub struct Checkpoint {
    dir: PathBuf,
    files: Vec<SafeTensorsFile>,
    /// Tensor name → index in `files`.
    place: HashMap<String, usize>,
}

impl Checkpoint {
    /// Opens the safetensors files of directory `dir`.
    pub fn open_dir(dir: &Path) -> Result<Self, LoadError> {
        let index = dir.join(INDEX_FILE);
        let single = dir.join(SINGLE_FILE);
        if index.is_file() {
            Self::open_index(dir, &index)
        } else if single.is_file() {
            let f = SafeTensorsFile::open(&single)?;
            let place = f.header.tensors.keys().map(|k| (k.clone(), 0)).collect();
            Ok(Checkpoint {
                dir: dir.to_path_buf(),
                files: vec![f],
                place,
            })
        } else {
            Err(LoadError::header(
                dir,
                format!("no {SINGLE_FILE} or {INDEX_FILE} in this checkpoint directory"),
            ))
        }
    }

    fn open_index(dir: &Path, index: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read(index).map_err(|e| LoadError::io(index, e))?;
        let v: Value = serde_json::from_slice(&text)
            .map_err(|e| LoadError::header(index, format!("not valid JSON: {e}")))?;
        let map = v
            .get("weight_map")
            .and_then(Value::as_object)
            .ok_or_else(|| LoadError::key(index, "weight_map", "missing or not an object"))?;
        let mut files: Vec<SafeTensorsFile> = Vec::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut place = HashMap::new();
        for (tensor, file) in map {
            let file = file.as_str().ok_or_else(|| {
                LoadError::key(
                    index,
                    &format!("weight_map.{tensor}"),
                    "not a file name string",
                )
            })?;
            let plain = !file.is_empty()
                && !file.contains('/')
                && !file.contains('\\')
                && file != "."
                && file != "..";
            if !plain {
                return Err(LoadError::key(
                    index,
                    &format!("weight_map.{tensor}"),
                    format!("`{file}` is not a plain file name in the checkpoint directory"),
                ));
            }
            let i = match by_name.get(file) {
                Some(&i) => i,
                None => {
                    files.push(SafeTensorsFile::open(&dir.join(file))?);
                    by_name.insert(file.to_string(), files.len() - 1);
                    files.len() - 1
                }
            };
            if !files[i].header.tensors.contains_key(tensor) {
                return Err(LoadError::missing(
                    files[i].path(),
                    tensor,
                    format!("; {INDEX_FILE} places it in this shard"),
                ));
            }
            place.insert(tensor.clone(), i);
        }
        Ok(Checkpoint {
            dir: dir.to_path_buf(),
            files,
            place,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A tensor by name.
    pub fn get(&self, name: &str) -> Option<TensorRef<'_>> {
        self.files[*self.place.get(name)?].tensor(name)
    }

    /// Whether a tensor exists.
    pub fn contains(&self, name: &str) -> bool {
        self.place.contains_key(name)
    }

    /// Every tensor name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.place.keys().map(String::as_str)
    }

    /// Total bytes of the mapped files.
    pub fn file_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.map.len() as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn good_header_parses() {
        let b = file(
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[2,2],"data_offsets":[8,12]},"__metadata__":{"format":"pt"}}"#,
            &[0; 12],
        );
        let h = parse_header(&b, Path::new("x")).unwrap();
        assert_eq!(h.tensors.len(), 2);
        assert_eq!(h.metadata["format"], "pt");
        assert_eq!(h.tensors["b"].shape, vec![2, 2]);
    }

    #[test]
    fn every_corruption_is_an_error() {
        let p = Path::new("bad.safetensors");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![1, 2, 3], "shorter than"),
            ((u64::MAX).to_le_bytes().to_vec(), "exceeds"),
            (file("{}", &[]).into_iter().take(9).collect(), "truncated"),
            (file("[1]", &[]), "not a JSON object"),
            (file("{", &[]), "not valid JSON"),
            (
                file(
                    r#"{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#,
                    &[0],
                ),
                "unknown variant `Q4`",
            ),
            (
                file(
                    r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
                    &[0; 4],
                ),
                "needs 8 bytes",
            ),
            (
                file(
                    r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#,
                    &[0; 2],
                ),
                "past the end",
            ),
            (
                file(
                    r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[4,0]}}"#,
                    &[0; 4],
                ),
                "backwards",
            ),
            (
                file(
                    r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}"#,
                    &[0; 6],
                ),
                "overlap",
            ),
            (
                file(
                    r#"{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#,
                    &[0; 4],
                ),
                "overflows",
            ),
            (
                file(
                    r#"{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,4]}}"#,
                    &[0; 4],
                ),
                "invalid value: integer `-1`",
            ),
            (file(r#"{"__metadata__":{"a":1}}"#, &[]), "not a string"),
            (
                file(
                    r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}}"#,
                    &[0; 5],
                ),
                "invalid offset for tensor `b`",
            ),
            (
                file(
                    r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#,
                    &[0; 3],
                ),
                "not a valid safetensors file",
            ),
        ];
        for (bytes, want) in cases {
            let e = parse_header(&bytes, p).unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
            assert!(e.contains("bad.safetensors"), "{e}");
        }
    }
}
