//! `summary.md`: the report for CI pages and pull requests — machines, settings, the cell
//! table, charts as PNG links (each with its caption, or why it was left out), energy, the
//! claims table and the CPU comparison.

use super::charts::Figure;
use super::tables;
use super::Report;

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = format!("| {} |\n", header.join(" | "));
    s.push_str(&format!(
        "|{}\n",
        header.iter().map(|_| "---|").collect::<String>()
    ));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| md_escape(c)).collect();
        s.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    s
}

fn figures(s: &mut String, figs: &[Figure]) {
    for f in figs {
        match f {
            Figure::Chart(c) => {
                s.push_str(&format!(
                    "### {}\n\n![{}]({}.png)\n\n{} ([SVG]({}.svg))\n\n",
                    c.title, c.title, c.id, c.caption, c.id
                ));
            }
            Figure::Omitted(title, why) => {
                s.push_str(&format!("### {title}\n\n_Not drawn: {why}._\n\n"));
            }
        }
    }
}

/// The Markdown report.
pub fn render(r: &Report) -> String {
    let mut s = String::from("# ternbench report\n\n");
    s.push_str(&format!(
        "Generated {} from {} run(s). Figures are medians with 95% confidence intervals; **SAMPLED** marks cells that built only some layers, **ESTIMATED** marks energy from a model rather than counters.\n\n",
        r.generated_utc,
        r.runs.len()
    ));
    if !r.mismatches.is_empty() {
        s.push_str("> **Settings differ between these runs** (reported with --allow-mismatch); compare with care:\n");
        for m in &r.mismatches {
            s.push_str(&format!("> - {}\n", md_escape(&m.describe())));
        }
        s.push('\n');
    }
    s.push_str("## Machines\n\n");
    for l in &r.runs {
        s.push_str(&format!(
            "### {} — run `{}` ({} → {})\n\n",
            l.label(),
            l.run.run_id,
            l.run.started_utc,
            l.run.finished_utc.as_deref().unwrap_or("unfinished")
        ));
        let rows: Vec<Vec<String>> = tables::machine_fields(l)
            .into_iter()
            .map(|(k, v)| vec![k.to_string(), v])
            .collect();
        s.push_str(&table(&["field", "value"], &rows));
        s.push('\n');
    }
    s.push_str("## Settings\n\n");
    for l in &r.runs {
        s.push_str(&format!(
            "- {}: scenario `{}` — {}\n",
            l.label(),
            l.run.scenario.name,
            l.run.scenario.description
        ));
    }
    s.push_str("\n<details><summary>scenario text (run #1)</summary>\n\n```toml\n");
    if let Some(l) = r.runs.first() {
        s.push_str(l.run.scenario.text.trim_end());
    }
    s.push_str("\n```\n</details>\n\n## Results\n\n");
    s.push_str(&table(tables::CELL_HEADER, &tables::cell_rows(r)));
    s.push_str("\n## Charts\n\n");
    figures(&mut s, &r.figures);
    s.push_str("## Energy\n\n");
    for l in &r.runs {
        s.push_str(&format!("- {}: {}\n", l.label(), l.energy_text()));
    }
    s.push_str("\n## Published claims beside our measurements\n\n");
    s.push_str("Our machine is not theirs: ratios (speedups, energy reductions) are compared across machines; absolute speeds only on the claim's own hardware.\n\n");
    s.push_str(&table(tables::CLAIM_HEADER, &tables::claim_rows(r)));
    if !r.cpu_rows.is_empty() {
        s.push_str("\n## CPU comparison\n\n");
        if !r.machines_differ() {
            s.push_str("_All runs come from the same kind of machine._\n\n");
        }
        s.push_str(&table(tables::CPU_HEADER, &tables::cpu_rows(r)));
        s.push('\n');
        figures(&mut s, &r.cpu_figures);
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
        s.push_str("\n## Notes\n\n");
        for n in notes {
            s.push_str(&format!("- {}\n", md_escape(&n)));
        }
    }
    s
}
