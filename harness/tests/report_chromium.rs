//! The report of a real run opens in headless Chromium with every chart drawn and no console
//! error (`scripts/check-report.sh`, which installs Chromium from Debian's packages where it is
//! missing, and says SKIPPED with the reason only where it cannot be installed).

use std::path::Path;
use std::process::Command;

#[test]
fn report_of_a_run_renders_in_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let scen = tmp.path().join("tiny.toml");
    std::fs::write(
        &scen,
        "models = [{ name = \"bitnet-125m\", sample_layers = 1 }]\nthreads = [1, 2]\ntests = [\"pp4+tg3\"]\nrepetitions = 2\n",
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
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/check-report.sh");
    let o = Command::new("bash")
        .arg(&script)
        .arg(&report)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!("{text}");
    assert!(o.status.success(), "{text}");
    assert!(text.contains("ok:") || text.contains("SKIPPED"), "{text}");
}
