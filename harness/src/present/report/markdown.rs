//! `summary.md`: the report for CI pages and pull requests — the verdict card of each run
//! first, then the cell table, charts as PNG links (each with its caption, or why it was left
//! out), the claims table, the CPU comparison, and the machine and scenario folded.

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

/// What the peer table shows, in words (HTML and Markdown).
pub const PEERS_INTRO: &str = "Each peer (a llama-bench of llama.cpp, bitnet.cpp or another fork, `[[peer]]` in the scenario) measured in the same run as ternbench, interleaved, on the same GGUF file, threads and test. Tokens/s are medians with their 95% CI; the roofline fraction is decode tokens/s × the bytes one step reads (from the file itself, not llama-bench's size) over the read bandwidth measured beside each repetition; ternbench ÷ peer is the ratio of medians with the interval of the ratio from both cells' repetitions. A peer repetition is one llama-bench invocation (its own warm-up and model load are outside the timed span). ternbench re-packs the file as each cell says (the trunk format, and the LM head where it is not f16, are named in its column), so a row can compare two configurations of one model rather than one format. Also in `peers.csv`.";

/// The Markdown report.
pub fn render(r: &Report) -> String {
    let mut s = String::from("# ternbench report\n\n");
    if !r.mismatches.is_empty() {
        s.push_str("> **Settings differ between these runs** (reported with --allow-mismatch); compare with care:\n");
        for m in &r.mismatches {
            s.push_str(&format!("> - {}\n", md_escape(&m.describe())));
        }
        s.push('\n');
    }
    for c in &r.cards {
        s.push_str(&format!(
            "## Verdict — {} (run `{}`, scenario `{}`)\n\n**{}**\n\n",
            c.run_label, c.run_id, c.scenario, c.headline
        ));
        if !c.rows.is_empty() {
            let rows: Vec<Vec<String>> = c.rows.iter().map(|x| x.cells()).collect();
            s.push_str(&table(super::verdict::ROW_HEADER, &rows));
            s.push('\n');
        }
        s.push_str(&format!("- **Energy:** {}\n", md_escape(&c.energy)));
        for n in &c.energy_notes {
            s.push_str(&format!("  - {}\n", md_escape(n)));
        }
        s.push_str(&format!("- **Cost:** {}\n", md_escape(&c.cost)));
        for l in &c.labels {
            s.push_str(&format!("- {}\n", md_escape(l)));
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "Generated {} from {} run(s). Figures are medians with their 95% confidence intervals in brackets; ratios are ratios of medians with the interval of the ratio from the repetitions. **SAMPLED** marks cells that built only some layers, **ESTIMATED** marks energy from a model rather than counters, **NOISY** cells vary by more than the scenario's max_cv.\n\n## Results\n\n",
        r.generated_utc,
        r.runs.len()
    ));
    s.push_str(&table(tables::CELL_HEADER, &tables::cell_rows(r)));
    if r.has_peers() {
        s.push_str(&format!("\n## Peers side by side\n\n{PEERS_INTRO}\n\n"));
        s.push_str(&table(
            super::peers::HEADER,
            &super::peers::table_rows(&r.runs),
        ));
    }
    s.push_str("\n## Charts\n\n");
    figures(&mut s, &r.figures);
    s.push_str("\n## Published claims beside our measurements\n\n");
    s.push_str("A claim is **reproduced** only when the whole 95% CI of our figure meets it, **not reproduced** when the whole CI contradicts it, **inconclusive** otherwise (with about how many repetitions would decide it); a NOISY cell is never reproduced. Ratios (speedups, energy reductions) are compared across machines; an absolute figure from other hardware is **different hardware**, not judged.\n\n");
    s.push_str(&table(tables::CLAIM_HEADER, &tables::claim_rows(r)));
    if !r.cpu_rows.is_empty() {
        s.push_str("\n## CPU comparison\n\n");
        if !r.machines_differ() {
            s.push_str("_All runs come from the same kind of machine._\n\n");
        }
        for n in &r.machine_notes {
            s.push_str(&format!("> **Machines:** {}\n\n", md_escape(n)));
        }
        s.push_str(&table(tables::CPU_HEADER, &tables::cpu_rows(r)));
        s.push('\n');
        figures(&mut s, &r.cpu_figures);
    }
    s.push_str("\n## Machine and scenario\n\n");
    for l in &r.runs {
        s.push_str(&format!(
            "<details><summary>{} — run `{}` ({} → {}): the machine</summary>\n\n",
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
        s.push_str("\n</details>\n\n");
    }
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
    s.push_str("\n```\n</details>\n");
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
