//! `index.html`: one self-contained page — CSS inline (with a print stylesheet), every chart
//! inline as SVG, no scripts, no fonts or images fetched, so it reads offline and prints.
//! Sections: the verdict card of each run first (the answer: ternary ÷ FP16 with CIs, roofline,
//! energy or why not, $/Mtok, labels), then results, charts (or why each was left out),
//! claims, CPU comparison, the machine and scenario folded, notes.

use std::collections::BTreeMap;

use super::charts::Figure;
use super::tables;
use super::verdict::Card;
use super::Report;

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Escapes text for HTML and sets `code spans` (the commands a sentence quotes) as `<code>`.
pub fn esc_code(s: &str) -> String {
    let parts: Vec<&str> = s.split('`').collect();
    if parts.len().is_multiple_of(2) {
        // An unpaired backtick: keep the text as it is.
        return esc(s);
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i % 2 == 1 {
                format!("<code>{}</code>", esc(p))
            } else {
                esc(p)
            }
        })
        .collect()
}

const CSS: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.86em;width:100%}
th,td{border:1px solid #ccc;padding:.25em .45em;text-align:left;vertical-align:top}
th{background:#f2f2f2}tr:nth-child(even) td{background:#fafafa}
.scroll{overflow-x:auto;max-width:100%}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.flag{font-weight:bold;color:#8a4b00}
.warn{background:#fff4e0;border-left:4px solid #e69f00;padding:.6em 1em}
.omitted{color:#555;font-style:italic;border-left:4px solid #bbb;padding:.3em .8em}
figure{margin:1.2em 0;page-break-inside:avoid;break-inside:avoid}
figure svg{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.88em;color:#444}
.v-reproduced{color:#006d2c;font-weight:bold}.v-not-reproduced{color:#b30000;font-weight:bold}
.v-inconclusive{color:#8a4b00;font-weight:bold}
.v-not-measurable-here,.v-different-hardware{color:#666}
.wide{overflow-x:auto}.wide td{white-space:nowrap}
.verdict{border:2px solid #0072b2;border-radius:6px;padding:.2em 1em .5em;margin:.8em 0 1.2em;background:#f5f9fc}
.verdict h2{border:none;margin:.4em 0 .2em;font-size:1.15em}
.verdict .answer{font-size:1.12em;margin:.3em 0 .5em}
.verdict table{font-size:.84em;margin:.3em 0}
.verdict ul{margin:.3em 0;padding-left:1.2em;font-size:.9em}
.sub{color:#444;font-size:.9em;margin-top:0}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.82em}
@media print{
 body{max-width:none;margin:0;font-size:10pt}
 a{color:inherit;text-decoration:none}
 details{display:block}details>*{display:block}
 h2{page-break-after:avoid;break-after:avoid}
 table,figure{page-break-inside:avoid;break-inside:avoid}
 tr:nth-child(even) td{background:none}
 .files{display:none}
 .wide{overflow:visible}.wide td{white-space:normal}.scroll{overflow:visible}
}
"#;

fn table(
    header: &[&str],
    rows: &[Vec<String>],
    class_of: impl Fn(usize, &str) -> String,
) -> String {
    // Wide tables scroll inside the page's column instead of running past it.
    let mut s = String::from("<div class=\"scroll\"><table><thead><tr>");
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
    s.push_str("</tbody></table></div>\n");
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

/// One run's verdict card.
fn card(s: &mut String, c: &Card, i: usize) {
    s.push_str(&format!(
        "<section class=\"verdict\" id=\"verdict-{i}\"><h2>Verdict — {} (run <code>{}</code>, scenario <code>{}</code>)</h2>\n<p class=\"answer\">{}</p>\n",
        esc(&c.run_label),
        esc(&c.run_id),
        esc(&c.scenario),
        esc(&c.headline)
    ));
    if !c.rows.is_empty() {
        let rows: Vec<Vec<String>> = c.rows.iter().map(|r| r.cells()).collect();
        s.push_str(&table(super::verdict::ROW_HEADER, &rows, |_, _| {
            String::new()
        }));
    }
    s.push_str("<ul>");
    s.push_str(&format!("<li><b>Energy:</b> {}", esc_code(&c.energy)));
    if !c.energy_notes.is_empty() {
        s.push_str("<ul class=\"notes\">");
        for n in &c.energy_notes {
            s.push_str(&format!("<li>{}</li>", esc_code(n)));
        }
        s.push_str("</ul>");
    }
    s.push_str("</li>");
    s.push_str(&format!("<li><b>Cost:</b> {}</li>", esc_code(&c.cost)));
    for l in &c.labels {
        s.push_str(&format!("<li class=\"flag\">{}</li>", esc_code(l)));
    }
    s.push_str("</ul></section>\n");
}

/// [`card`] for the tests of other modules.
#[cfg(test)]
pub fn card_for_test(s: &mut String, c: &Card) {
    card(s, c, 1);
}

/// The HTML page; `svgs` maps chart id to its SVG text.
pub fn render(r: &Report, svgs: &BTreeMap<String, String>) -> String {
    let mut s = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n<title>ternbench report</title>\n<style>",
    );
    s.push_str(CSS);
    s.push_str("</style></head><body>\n<h1>ternbench report</h1>\n");
    s.push_str(&format!(
        "<p class=\"sub\">Generated {} from {} run(s). Figures are medians with their 95% confidence intervals in brackets; ratios are ratios of medians with the interval of the ratio from the repetitions (docs/method.md).</p>\n",
        esc(&r.generated_utc),
        r.runs.len()
    ));
    if !r.mismatches.is_empty() {
        s.push_str("<div class=\"warn\"><b>Settings differ between these runs</b> (reported with <code>--allow-mismatch</code>); their figures are not like for like:<ul>");
        for m in &r.mismatches {
            s.push_str(&format!("<li><code>{}</code></li>", esc(&m.describe())));
        }
        s.push_str("</ul></div>\n");
    }
    for (i, c) in r.cards.iter().enumerate() {
        card(&mut s, c, i + 1);
    }
    s.push_str("<nav><a href=\"#results\">Results</a>");
    if r.has_peers() {
        s.push_str(" · <a href=\"#peers\">Peers</a>");
    }
    s.push_str(" · <a href=\"#charts\">Charts</a> · <a href=\"#claims\">Claims</a>");
    if !r.cpu_rows.is_empty() {
        s.push_str(" · <a href=\"#cpus\">CPU comparison</a>");
    }
    s.push_str(" · <a href=\"#machines\">Machine and scenario</a></nav>\n");
    s.push_str("<p class=\"sub\"><b>SAMPLED</b>: only some layers were built and timed (drawn hatched or hollow-circled). <b>ESTIMATED</b>: energy from a model, not counters (drawn hollow). <b>NOISY</b>: the repetitions vary by more than the scenario's max_cv. Tables and charts of the same figures are in <code>tables.csv</code>, <code>claims.csv</code> and the <code>.svg</code>/<code>.png</code> files beside this page.</p>\n");

    s.push_str("<h2 id=\"results\">Results</h2>\n");
    s.push_str(&table(
        tables::CELL_HEADER,
        &tables::cell_rows(r),
        flag_class,
    ));

    if r.has_peers() {
        s.push_str(&format!(
            "<h2 id=\"peers\">Peers side by side</h2>\n<p>{}</p>\n",
            esc(&super::markdown::PEERS_INTRO.replace('`', ""))
        ));
        s.push_str(&table(
            super::peers::HEADER,
            &super::peers::table_rows(&r.runs),
            flag_class,
        ));
    }

    s.push_str("<h2 id=\"charts\">Charts</h2>\n");
    figures(&mut s, &r.figures, svgs);

    s.push_str("<h2 id=\"claims\">Published claims beside our measurements</h2>\n<p>A claim is <b>reproduced</b> only when the whole 95% CI of our figure meets it, <b>not reproduced</b> when the whole CI contradicts it, and <b>inconclusive</b> otherwise (the verdict says about how many repetitions would decide it); a NOISY cell is never reproduced. Our machine is not theirs: ratios (speedups, energy reductions) are compared across machines; an absolute speed or latency from other hardware is marked <b>different hardware</b> and not judged. Sources are listed in <code>claims.csv</code> and <code>data/claims.toml</code>.</p>\n");
    s.push_str(&table(
        tables::CLAIM_HEADER,
        &tables::claim_rows(r),
        |i, c| {
            if i == 5 {
                let w = [
                    "reproduced",
                    "not reproduced",
                    "inconclusive",
                    "different hardware",
                ]
                .into_iter()
                .find(|w| c.starts_with(w))
                .unwrap_or("not measurable here");
                format!("v-{}", w.replace(' ', "-"))
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
        for n in &r.machine_notes {
            s.push_str(&format!(
                "<div class=\"warn\"><b>Machines:</b> {}</div>\n",
                esc(n)
            ));
        }
        s.push_str(&table(tables::CPU_HEADER, &tables::cpu_rows(r), flag_class));
        figures(&mut s, &r.cpu_figures, svgs);
    }

    s.push_str("<h2 id=\"machines\">Machine and scenario</h2>\n");
    for l in &r.runs {
        s.push_str(&format!(
            "<details><summary>{} — run <code>{}</code>: the machine (read from <code>{}</code>; {} → {}, status {})</summary>\n",
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
        s.push_str("</details>\n");
    }
    for l in &r.runs {
        s.push_str(&format!(
            "<details><summary>{}: scenario <code>{}</code> — {}</summary><pre>{}</pre></details>\n",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_commands_are_code_and_everything_is_escaped() {
        assert_eq!(
            esc_code("give it with `ternbench report RUN --price 1=<USD>` & rerun"),
            "give it with <code>ternbench report RUN --price 1=&lt;USD&gt;</code> &amp; rerun"
        );
        // An unpaired backtick stays text.
        assert_eq!(esc_code("a ` b"), "a ` b");
    }
}
