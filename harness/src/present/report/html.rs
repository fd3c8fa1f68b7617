//! `index.html`: one self-contained page — CSS inline (with a print stylesheet), every chart
//! inline as SVG, no scripts, no fonts or images fetched, so it reads offline and prints.
//! Sections: machines, settings, results, charts (or why each was left out), energy, claims,
//! CPU comparison, notes.

use std::collections::BTreeMap;

use super::charts::Figure;
use super::tables;
use super::Report;

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const CSS: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.86em;width:100%}
th,td{border:1px solid #ccc;padding:.25em .45em;text-align:left;vertical-align:top}
th{background:#f2f2f2}tr:nth-child(even) td{background:#fafafa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.flag{font-weight:bold;color:#8a4b00}
.warn{background:#fff4e0;border-left:4px solid #e69f00;padding:.6em 1em}
.omitted{color:#555;font-style:italic;border-left:4px solid #bbb;padding:.3em .8em}
figure{margin:1.2em 0;page-break-inside:avoid;break-inside:avoid}
figure svg{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.88em;color:#444}
.v-reproduced{color:#006d2c;font-weight:bold}.v-not-reproduced{color:#b30000;font-weight:bold}
.v-not-measurable-here{color:#666}
.wide{overflow-x:auto}.wide td{white-space:nowrap}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.82em}
@media print{
 body{max-width:none;margin:0;font-size:10pt}
 a{color:inherit;text-decoration:none}
 details{display:block}details>*{display:block}
 h2{page-break-after:avoid;break-after:avoid}
 table,figure{page-break-inside:avoid;break-inside:avoid}
 tr:nth-child(even) td{background:none}
 .files{display:none}
 .wide{overflow:visible}.wide td{white-space:normal}
}
"#;

fn table(
    header: &[&str],
    rows: &[Vec<String>],
    class_of: impl Fn(usize, &str) -> String,
) -> String {
    let mut s = String::from("<table><thead><tr>");
    for h in header {
        s.push_str(&format!("<th>{}</th>", esc(h)));
    }
    s.push_str("</tr></thead><tbody>\n");
    for r in rows {
        s.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            let cls = class_of(i, c);
            if cls.is_empty() {
                s.push_str(&format!("<td>{}</td>", esc(c)));
            } else {
                s.push_str(&format!("<td class=\"{cls}\">{}</td>", esc(c)));
            }
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody></table>\n");
    s
}

/// The SVG ready to inline: no XML prolog, no namespace URL.
fn inline_svg(svg: &str) -> String {
    let s = match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    };
    s.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
}

fn figures(s: &mut String, figs: &[Figure], svgs: &BTreeMap<String, String>) {
    for f in figs {
        match f {
            Figure::Chart(c) => {
                s.push_str(&format!(
                    "<figure id=\"{id}\"><h3>{t}</h3>{svg}<figcaption>{cap} <span class=\"files\">Files: <a href=\"{id}.svg\">{id}.svg</a>, <a href=\"{id}.png\">{id}.png</a>.</span></figcaption></figure>\n",
                    id = esc(&c.id),
                    t = esc(&c.title),
                    svg = svgs.get(&c.id).map(|x| inline_svg(x)).unwrap_or_default(),
                    cap = esc(&c.caption),
                ));
            }
            Figure::Omitted(title, why) => {
                s.push_str(&format!(
                    "<h3>{}</h3><p class=\"omitted\">Not drawn: {}.</p>\n",
                    esc(title),
                    esc(why)
                ));
            }
        }
    }
}

fn flag_class(_: usize, c: &str) -> String {
    if c.contains("SAMPLED") || c.contains("ESTIMATED") || c.contains("NOISY") {
        "flag".into()
    } else {
        String::new()
    }
}

/// The HTML page; `svgs` maps chart id to its SVG text.
pub fn render(r: &Report, svgs: &BTreeMap<String, String>) -> String {
    let mut s = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n<title>ternbench report</title>\n<style>",
    );
    s.push_str(CSS);
    s.push_str("</style></head><body>\n<h1>ternbench report</h1>\n");
    s.push_str(&format!(
        "<p>Generated {} from {} run(s). Figures are medians with 95% confidence intervals. <b>SAMPLED</b>: only some layers were built and timed (drawn hatched or hollow-circled). <b>ESTIMATED</b>: energy from a model, not counters (drawn hollow). Tables and charts of the same figures are in <code>tables.csv</code>, <code>claims.csv</code> and the <code>.svg</code>/<code>.png</code> files beside this page.</p>\n",
        esc(&r.generated_utc),
        r.runs.len()
    ));
    s.push_str("<nav><a href=\"#machines\">Machines</a> · <a href=\"#settings\">Settings</a> · <a href=\"#results\">Results</a> · <a href=\"#charts\">Charts</a> · <a href=\"#energy\">Energy</a> · <a href=\"#claims\">Claims</a>");
    if !r.cpu_rows.is_empty() {
        s.push_str(" · <a href=\"#cpus\">CPU comparison</a>");
    }
    s.push_str("</nav>\n");
    if !r.mismatches.is_empty() {
        s.push_str("<div class=\"warn\"><b>Settings differ between these runs</b> (reported with <code>--allow-mismatch</code>); their figures are not like for like:<ul>");
        for m in &r.mismatches {
            s.push_str(&format!("<li><code>{}</code></li>", esc(&m.describe())));
        }
        s.push_str("</ul></div>\n");
    }

    s.push_str("<h2 id=\"machines\">Machines</h2>\n");
    for l in &r.runs {
        s.push_str(&format!(
            "<h3>{} — run <code>{}</code></h3><p>read from <code>{}</code>; {} → {}, status {}</p>\n",
            esc(&l.label()),
            esc(&l.run.run_id),
            esc(&l.path.display().to_string()),
            esc(&l.run.started_utc),
            esc(l.run.finished_utc.as_deref().unwrap_or("unfinished")),
            esc(&l.run.status)
        ));
        let rows: Vec<Vec<String>> = tables::machine_fields(l)
            .into_iter()
            .map(|(k, v)| vec![k.to_string(), v])
            .collect();
        s.push_str(&table(&["field", "value"], &rows, |_, _| String::new()));
    }

    s.push_str("<h2 id=\"settings\">Settings</h2>\n");
    for l in &r.runs {
        s.push_str(&format!(
            "<p>{}: scenario <code>{}</code> — {}</p><details open><summary>scenario text</summary><pre>{}</pre></details>\n",
            esc(&l.label()),
            esc(&l.run.scenario.name),
            esc(&l.run.scenario.description),
            esc(l.run.scenario.text.trim_end())
        ));
        if r.mismatches.is_empty() {
            // Same settings: one copy is enough.
            break;
        }
    }

    s.push_str("<h2 id=\"results\">Results</h2>\n");
    s.push_str(&table(
        tables::CELL_HEADER,
        &tables::cell_rows(r),
        flag_class,
    ));

    s.push_str("<h2 id=\"charts\">Charts</h2>\n");
    figures(&mut s, &r.figures, svgs);

    s.push_str("<h2 id=\"energy\">Energy</h2>\n<ul>");
    for l in &r.runs {
        s.push_str(&format!(
            "<li>{}: {}</li>",
            esc(&l.label()),
            esc(&l.energy_text())
        ));
    }
    s.push_str("</ul>\n");

    s.push_str("<h2 id=\"claims\">Published claims beside our measurements</h2>\n<p>Our machine is not theirs: ratios (speedups, energy reductions) are compared across machines; absolute speeds and latencies only on the claim's own hardware. Sources are listed in <code>claims.csv</code> and <code>data/claims.toml</code>.</p>\n");
    s.push_str(&table(
        tables::CLAIM_HEADER,
        &tables::claim_rows(r),
        |i, c| {
            if i == 5 {
                let w = if c.starts_with("reproduced") {
                    "reproduced"
                } else if c.starts_with("not reproduced") {
                    "not-reproduced"
                } else {
                    "not-measurable-here"
                };
                format!("v-{w}")
            } else {
                flag_class(i, c)
            }
        },
    ));

    if !r.cpu_rows.is_empty() {
        s.push_str("<h2 id=\"cpus\">CPU comparison</h2>\n");
        if !r.machines_differ() {
            s.push_str("<p>All runs come from the same kind of machine.</p>\n");
        }
        s.push_str(&table(tables::CPU_HEADER, &tables::cpu_rows(r), flag_class));
        figures(&mut s, &r.cpu_figures, svgs);
    }

    let notes: Vec<String> = r
        .runs
        .iter()
        .flat_map(|l| {
            l.run
                .notes
                .iter()
                .map(move |n| format!("{}: {n}", l.label()))
        })
        .collect();
    if !notes.is_empty() {
        s.push_str("<h2>Notes</h2><ul>");
        for n in notes {
            s.push_str(&format!("<li>{}</li>", esc(&n)));
        }
        s.push_str("</ul>\n");
    }
    s.push_str("</body></html>\n");
    s
}
