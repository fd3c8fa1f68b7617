//! The two price files: `data/gpu-catalogue.toml` (GPU $/hour, throughput, power, each with
//! its date and source) and `data/cpu-prices.toml` (CPU instance $/hour). Both are embedded
//! in the binary and can be replaced with `--catalogue FILE` / `--cpu-prices FILE`.
//!
//! Parsing is strict: an unknown key, a missing source or date beside a number, or a number
//! out of range is an error naming the file and the key. To add an entry, copy one in the
//! file; no code changes.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The built-in GPU catalogue.
pub const BUILTIN_GPU: &str = include_str!("../../../../data/gpu-catalogue.toml");
/// The built-in CPU price table.
pub const BUILTIN_CPU: &str = include_str!("../../../../data/cpu-prices.toml");

/// `[meta]` of either file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// Currency of every price (only `USD` is accepted).
    pub currency: String,
    /// When the file was compiled (YYYY-MM-DD).
    pub compiled: String,
    /// Free text.
    #[serde(default)]
    pub notes: Option<String>,
}

/// One GPU entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuEntry {
    /// The GPU (and how many per instance, if more than one).
    pub gpu: String,
    /// Weights/activations precision of the throughput figure (`fp16`, `bf16`, `fp8`).
    pub precision: String,
    /// The model the throughput was measured on.
    pub model: String,
    /// Its parameters, billions: the size class `cost` holds the CPU model to.
    #[serde(default)]
    pub model_params_b: Option<f64>,
    /// GPUs one instance of this figure uses (tensor parallel); `usd_per_hour` is per GPU.
    #[serde(default)]
    pub gpus: Option<u32>,
    /// Published (load, output tokens/s, time per output token) points of the same setup at
    /// several loads: where present, `cost --slo` sizes from the fastest point that meets the
    /// target; where absent, the figure is throughput-bound and said so.
    #[serde(default)]
    pub latency: Option<Vec<LatencyPoint>>,
    /// Where the latency points come from (required with them).
    #[serde(default)]
    pub latency_source: Option<String>,
    /// Aggregate output tokens/s (`None`: no published figure; pass `--gpu-decode-tps`).
    #[serde(default)]
    pub decode_tokens_per_s: Option<f64>,
    /// Aggregate prompt tokens/s, for `throughput_kind = "decode"`.
    #[serde(default)]
    pub prefill_tokens_per_s: Option<f64>,
    /// `end-to-end` (output tokens/s of whole requests, prefill included, at isl/osl) or
    /// `decode` (generation only; prefill separate).
    #[serde(default)]
    pub throughput_kind: Option<String>,
    /// Input length of the measurement.
    #[serde(default)]
    pub isl: Option<u32>,
    /// Output length of the measurement.
    #[serde(default)]
    pub osl: Option<u32>,
    /// Batch or concurrency of the measurement.
    #[serde(default)]
    pub batch: Option<String>,
    /// Where the throughput comes from.
    #[serde(default)]
    pub throughput_source: Option<String>,
    /// When it was published or read.
    #[serde(default)]
    pub throughput_as_of: Option<String>,
    /// Dollars per GPU-hour (`None`: no public price in our sources; pass `--gpu-price-hour`).
    #[serde(default)]
    pub usd_per_hour: Option<f64>,
    /// Provider and instance.
    #[serde(default)]
    pub price_provider: Option<String>,
    /// Region.
    #[serde(default)]
    pub price_region: Option<String>,
    /// `on-demand`, `spot`, `1-yr`, `capacity-block`, ...
    #[serde(default)]
    pub pricing_model: Option<String>,
    /// Date of the price.
    #[serde(default)]
    pub price_as_of: Option<String>,
    /// Where the price comes from.
    #[serde(default)]
    pub price_source: Option<String>,
    /// Power of one GPU while serving, W.
    #[serde(default)]
    pub watts: Option<f64>,
    /// Where the power comes from.
    #[serde(default)]
    pub power_source: Option<String>,
    /// Caveats.
    #[serde(default)]
    pub notes: Option<String>,
}

/// `data/gpu-catalogue.toml`.
/// One published load level of a GPU entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyPoint {
    /// The load: `concurrency 25`, `QPS 2`, `saturation`.
    pub load: String,
    /// Concurrent requests, where the load is one.
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Aggregate output tokens/s at that load.
    pub output_tokens_per_s: f64,
    /// Mean time per output token (inter-token latency) at that load, ms.
    pub itl_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuCatalogue {
    /// Header.
    pub meta: Meta,
    /// Entries by name.
    pub gpu: BTreeMap<String, GpuEntry>,
}

/// One CPU instance price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuPrice {
    /// The processor.
    pub cpu: String,
    /// vCPUs of the instance.
    pub vcpus: u32,
    /// Physical cores.
    pub cores: u32,
    /// Dollars per hour.
    pub usd_per_hour: f64,
    /// Provider.
    pub provider: String,
    /// Region.
    pub region: String,
    /// `on-demand`, ...
    pub pricing_model: String,
    /// Date of the price.
    pub as_of: String,
    /// Where it comes from.
    pub source: String,
}

/// `data/cpu-prices.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuPrices {
    /// Header.
    pub meta: Meta,
    /// Instances by name.
    pub cpu: BTreeMap<String, CpuPrice>,
}

fn positive(file: &str, key: &str, v: Option<f64>) -> Result<(), String> {
    match v {
        Some(x) if !(x.is_finite() && x > 0.0) => Err(format!(
            "{file}: `{key}` = {x}: must be a finite number > 0"
        )),
        _ => Ok(()),
    }
}

fn needs(file: &str, key: &str, v: &Option<String>, because: &str) -> Result<(), String> {
    match v {
        Some(s) if !s.trim().is_empty() => Ok(()),
        _ => Err(format!(
            "{file}: `{key}` is missing: every {because} needs its source and date"
        )),
    }
}

fn check_meta(file: &str, m: &Meta) -> Result<(), String> {
    if m.currency != "USD" {
        return Err(format!(
            "{file}: `meta.currency` = {:?}: only \"USD\" is supported",
            m.currency
        ));
    }
    Ok(())
}

impl GpuCatalogue {
    /// Parses and checks a catalogue; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<GpuCatalogue, String> {
        let c: GpuCatalogue =
            toml::from_str(text).map_err(|e| format!("{file}: not a GPU catalogue: {e}"))?;
        check_meta(file, &c.meta)?;
        for (name, e) in &c.gpu {
            let k = |f: &str| format!("gpu.{name}.{f}");
            positive(file, &k("decode_tokens_per_s"), e.decode_tokens_per_s)?;
            positive(file, &k("prefill_tokens_per_s"), e.prefill_tokens_per_s)?;
            positive(file, &k("usd_per_hour"), e.usd_per_hour)?;
            positive(file, &k("watts"), e.watts)?;
            if e.decode_tokens_per_s.is_some() {
                needs(
                    file,
                    &k("throughput_source"),
                    &e.throughput_source,
                    "throughput",
                )?;
                needs(
                    file,
                    &k("throughput_as_of"),
                    &e.throughput_as_of,
                    "throughput",
                )?;
                match e.throughput_kind.as_deref() {
                    Some("end-to-end") if e.prefill_tokens_per_s.is_some() => {
                        return Err(format!(
                            "{file}: `{}` is set but `{}` is \"end-to-end\" (prefill included): remove one",
                            k("prefill_tokens_per_s"),
                            k("throughput_kind")
                        ))
                    }
                    Some("end-to-end") | Some("decode") => {}
                    other => {
                        return Err(format!(
                            "{file}: `{}` = {other:?}: allowed are \"end-to-end\" (output tokens/s of whole requests at isl/osl) or \"decode\"",
                            k("throughput_kind")
                        ))
                    }
                }
            }
            if let Some(points) = &e.latency {
                needs(
                    file,
                    &k("latency_source"),
                    &e.latency_source,
                    "latency point",
                )?;
                for (i, p) in points.iter().enumerate() {
                    positive(
                        file,
                        &k(&format!("latency[{i}].output_tokens_per_s")),
                        Some(p.output_tokens_per_s),
                    )?;
                    positive(file, &k(&format!("latency[{i}].itl_ms")), Some(p.itl_ms))?;
                }
            }
            positive(file, &k("model_params_b"), e.model_params_b)?;
            if e.gpus == Some(0) {
                return Err(format!("{file}: `{}` = 0: at least one GPU", k("gpus")));
            }
            if e.usd_per_hour.is_some() {
                needs(file, &k("price_source"), &e.price_source, "price")?;
                needs(file, &k("price_as_of"), &e.price_as_of, "price")?;
            }
            if e.watts.is_some() {
                needs(file, &k("power_source"), &e.power_source, "power figure")?;
            }
        }
        Ok(c)
    }

    /// Reads `path`, or the built-in catalogue.
    pub fn load(path: Option<&Path>) -> Result<(GpuCatalogue, String), String> {
        match path {
            None => {
                let name = "built-in data/gpu-catalogue.toml".to_string();
                Ok((GpuCatalogue::parse(BUILTIN_GPU, &name)?, name))
            }
            Some(p) => {
                let name = p.display().to_string();
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("--catalogue {name}: cannot read it: {e}"))?;
                Ok((GpuCatalogue::parse(&text, &name)?, name))
            }
        }
    }

    /// The entry called `name`, or an error listing the names there are.
    pub fn get(&self, name: &str, file: &str) -> Result<&GpuEntry, String> {
        self.gpu.get(name).ok_or_else(|| {
            format!(
                "--gpu {name}: no such entry in {file}; entries: {}",
                self.gpu.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }
}

impl CpuPrices {
    /// Parses and checks a price table; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<CpuPrices, String> {
        let c: CpuPrices =
            toml::from_str(text).map_err(|e| format!("{file}: not a CPU price table: {e}"))?;
        check_meta(file, &c.meta)?;
        for (name, p) in &c.cpu {
            positive(
                file,
                &format!("cpu.\"{name}\".usd_per_hour"),
                Some(p.usd_per_hour),
            )?;
            for (key, v) in [("as_of", &p.as_of), ("source", &p.source)] {
                if v.trim().is_empty() {
                    return Err(format!("{file}: `cpu.\"{name}\".{key}` is empty"));
                }
            }
        }
        Ok(c)
    }

    /// Reads `path`, or the built-in table.
    pub fn load(path: Option<&Path>) -> Result<(CpuPrices, String), String> {
        match path {
            None => {
                let name = "built-in data/cpu-prices.toml".to_string();
                Ok((CpuPrices::parse(BUILTIN_CPU, &name)?, name))
            }
            Some(p) => {
                let name = p.display().to_string();
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("--cpu-prices {name}: cannot read it: {e}"))?;
                Ok((CpuPrices::parse(&text, &name)?, name))
            }
        }
    }

    /// The instance called `name`, or an error listing the names there are.
    pub fn get(&self, name: &str, file: &str) -> Result<&CpuPrice, String> {
        self.cpu.get(name).ok_or_else(|| {
            format!(
                "--cpu-instance {name}: no such instance in {file}; instances: {}",
                self.cpu.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_files_parse() {
        let (g, _) = GpuCatalogue::load(None).unwrap();
        assert!(g.gpu.contains_key("a100-80gb"));
        for e in g.gpu.values() {
            if e.usd_per_hour.is_some() {
                assert!(e.price_as_of.is_some());
            }
        }
        let (c, _) = CpuPrices::load(None).unwrap();
        assert!(c.cpu.contains_key("c7a.xlarge"));
    }

    const GOOD: &str = r#"
[meta]
currency = "USD"
compiled = "2026-11-23"

[gpu.x]
gpu = "X"
precision = "fp16"
model = "8B"
decode_tokens_per_s = 100.0
throughput_kind = "decode"
throughput_source = "s"
throughput_as_of = "2026-01-01"
"#;

    #[test]
    fn unknown_key_names_file_and_key() {
        GpuCatalogue::parse(GOOD, "f.toml").unwrap();
        let bad = GOOD.replace("precision", "precisoin");
        let e = GpuCatalogue::parse(&bad, "f.toml").unwrap_err();
        assert!(e.contains("f.toml") && e.contains("precisoin"), "{e}");
    }

    #[test]
    fn numbers_need_sources_and_ranges() {
        let e =
            GpuCatalogue::parse(&GOOD.replace("throughput_source = \"s\"\n", ""), "f").unwrap_err();
        assert!(e.contains("gpu.x.throughput_source"), "{e}");
        let e = GpuCatalogue::parse(&GOOD.replace("100.0", "-1.0"), "f").unwrap_err();
        assert!(
            e.contains("gpu.x.decode_tokens_per_s") && e.contains("> 0"),
            "{e}"
        );
        let e = GpuCatalogue::parse(&GOOD.replace("\"decode\"", "\"fast\""), "f").unwrap_err();
        assert!(
            e.contains("gpu.x.throughput_kind") && e.contains("end-to-end"),
            "{e}"
        );
        let e = GpuCatalogue::parse(&format!("{GOOD}usd_per_hour = 2.0\n"), "f").unwrap_err();
        assert!(e.contains("gpu.x.price_source"), "{e}");
        let e = GpuCatalogue::parse(&GOOD.replace("\"USD\"", "\"EUR\""), "f").unwrap_err();
        assert!(e.contains("meta.currency"), "{e}");
    }

    #[test]
    fn unknown_entry_lists_the_known() {
        let g = GpuCatalogue::parse(GOOD, "f.toml").unwrap();
        let e = g.get("h900", "f.toml").unwrap_err();
        assert!(e.contains("--gpu h900") && e.contains("entries: x"), "{e}");
    }

    #[test]
    fn cpu_prices_strict() {
        let t = r#"
[meta]
currency = "USD"
compiled = "2026-11-23"

[cpu."a.b"]
cpu = "c"
vcpus = 4
cores = 2
usd_per_hour = 0.1
provider = "p"
region = "r"
pricing_model = "on-demand"
as_of = "2026"
source = "s"
"#;
        let c = CpuPrices::parse(t, "p.toml").unwrap();
        assert_eq!(c.get("a.b", "p.toml").unwrap().usd_per_hour, 0.1);
        let e = CpuPrices::parse(&t.replace("0.1", "0.0"), "p.toml").unwrap_err();
        assert!(e.contains("cpu.\"a.b\".usd_per_hour"), "{e}");
        let e = CpuPrices::parse(&t.replace("cores", "sockets"), "p.toml").unwrap_err();
        assert!(e.contains("sockets"), "{e}");
        assert!(c
            .get("zz", "p.toml")
            .unwrap_err()
            .contains("instances: a.b"));
    }
}
