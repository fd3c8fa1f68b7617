//! The report of a real run opens in headless Chromium with every chart drawn, no console
//! error, and the verdict card in the first 1400×900 screen (`scripts/check-report.sh`, which
//! installs Chromium from Debian's packages where it is missing, and says SKIPPED with the
//! reason only where it cannot be installed). A report whose card is pushed below the first
//! screen fails the same check. `TERNBENCH_KEEP_SHOT=FILE.png` keeps the first screen to look at.

use std::path::Path;
use std::process::Command;

fn check(report: &Path, shot: Option<&Path>) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/check-report.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script).arg(report);
    if let Some(s) = shot {
        cmd.arg(s);
    }
    let o = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!("{text}");
    (o.status.success(), text)
}

#[test]
fn report_of_a_run_renders_in_chromium_with_the_verdict_first() {
    let tmp = tempfile::tempdir().unwrap();
    let scen = tmp.path().join("tiny.toml");
    std::fs::write(
        &scen,
        "models = [{ name = \"bitnet-125m\", sample_layers = 1 }]\nthreads = [1, 2]\ntests = [\"pp4+tg3\"]\nrepetitions = 6\n",
    )
    .unwrap();
    let out = tmp.path().join("r");
    let o = Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .args([
            "run",
            scen.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let report = run.join("report");
    let shot = tmp.path().join("first-screen.png");
    let (ok, text) = check(&report, Some(&shot));
    assert!(ok, "{text}");
    if text.contains("SKIPPED") {
        return;
    }
    assert!(text.contains("ok:"), "{text}");
    assert!(
        text.contains("whole card in the first screen: yes"),
        "the tiny run's whole verdict card fits the first screen: {text}"
    );
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "{text}");
    if let Ok(keep) = std::env::var("TERNBENCH_KEEP_SHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }

    // The same report with 1200 px pushed in before the card: the check fails.
    let pushed = tmp.path().join("pushed");
    std::fs::create_dir(&pushed).unwrap();
    for e in std::fs::read_dir(&report).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, pushed.join(p.file_name().unwrap())).unwrap();
    }
    let html = std::fs::read_to_string(pushed.join("index.html")).unwrap();
    let html = html.replacen(
        "<section class=\"verdict\"",
        "<div style=\"height:1200px\">machine table</div><section class=\"verdict\"",
        1,
    );
    std::fs::write(pushed.join("index.html"), html).unwrap();
    let (ok, text) = check(&pushed, None);
    assert!(!ok, "a card below the first screen passed: {text}");
    assert!(text.contains("not in the first 1400x900 screen"), "{text}");
}

/// Issue 20: the batch chart (aggregate and per-stream decode tokens/s vs batch, ternary and
/// FP16) of a batched run is drawn in Chromium like every other chart.
#[test]
fn batch_chart_renders_in_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let scen = tmp.path().join("batch.toml");
    std::fs::write(
        &scen,
        "models = [{ name = \"bitnet-125m\", sample_layers = 1 }]\nengines = [\"ternary\", \"fp16\"]\nthreads = [1]\ntests = [\"tg3\", \"tg3 @ b2\", \"tg3 @ b4\"]\nrepetitions = 2\n[energy]\nsource = \"none\"\n",
    )
    .unwrap();
    let out = tmp.path().join("r");
    let o = Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .args([
            "run",
            scen.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let report = run.join("report");
    let svg = std::fs::read_to_string(report.join("decode_batch.svg"))
        .expect("the report writes the batch chart");
    for want in ["ternary", "fp16", "aggregate", "per stream"] {
        assert!(svg.contains(want), "decode_batch.svg lacks {want}");
    }
    let (ok, text) = check(&report, None);
    assert!(ok, "{text}");
    if !text.contains("SKIPPED") {
        assert!(text.contains("ok:"), "{text}");
    }
    if let Ok(keep) = std::env::var("TERNBENCH_KEEP_BATCH_REPORT") {
        for f in ["decode_batch.svg", "decode_batch.png"] {
            let _ = std::fs::copy(report.join(f), Path::new(&keep).join(f));
        }
    }
}
