//! Writes a synthetic zoo model as a GGUF file (the library path of `ternbench export`):
//! `cargo run --release -p ternbench-engine --example export_gguf -- MODEL TYPE HEAD ARCH OUT [SEED]`
//! e.g. `bitnet-125m tq2_0 f16 bitnet m.gguf`.

use ternbench_engine::export::{write_gguf, Arch, EmbedType, ExportOptions, Synthetic, WeightType};

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() < 5 {
        eprintln!("usage: export_gguf MODEL TYPE(f16|tq2_0|tq1_0|i2_s) HEAD(f16|q6_k) ARCH(bitnet|bitnet-25) OUT [SEED]");
        std::process::exit(2);
    }
    let cfg = ternbench_engine::zoo::config(&a[0]).unwrap_or_else(|e| panic!("{e}"));
    let opts = ExportOptions {
        weights: WeightType::parse(&a[1]).expect("type"),
        embed: EmbedType::parse(&a[2]).expect("head"),
        arch: Arch::parse(&a[3]).expect("arch"),
    };
    let seed = a.get(5).map(|s| s.parse().expect("seed")).unwrap_or(1);
    let t = std::time::Instant::now();
    let s = write_gguf(&Synthetic { cfg, seed }, &opts, std::path::Path::new(&a[4]))
        .unwrap_or_else(|e| panic!("{e}"));
    println!(
        "wrote {} ({} bytes, {} tensors, decode bytes {}) in {:.1} s",
        s.path.display(),
        s.file_bytes,
        s.tensors,
        s.decode_bytes(),
        t.elapsed().as_secs_f64()
    );
    if let Some(n) = s.graph_note {
        println!("note: {n}");
    }
}
