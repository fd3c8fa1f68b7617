//! Output of a [`CostResult`]: plain text, Markdown (also the section `ternbench report`
//! embeds, [`markdown_section`]), JSON, an SVG bar chart of $/Mtok by deployment written by
//! hand (no font or system libraries), and the table of monthly cost against requests/day with
//! its crossovers (the chart of it is [`super::chart`]). A size mismatch allowed by
//! `--allow-size-mismatch` is the first line of the headline, of the table, of the Markdown and
//! of each chart.

use std::fmt::Write as _;

use crate::output::{fmt_f, Table};
use crate::present::cost::crossover::{fmt_rate, Sweep};
use crate::present::cost::model::{CostResult, DeploymentCost, EnergyFigure, Pricing};

/// The mismatch line with a line break, or nothing.
fn first(r: &CostResult) -> String {
    r.first_line
        .as_ref()
        .map(|l| format!("{l}\n"))
        .unwrap_or_default()
}

/// The title of the monthly-cost chart (its first line the mismatch, when there is one).
pub fn sweep_title(r: &CostResult) -> String {
    let base = format!(
        "Monthly cost vs requests/day ({} + {} tokens a request, sized for {})",
        r.demand.prompt_tokens.value,
        r.demand.output_tokens.value,
        r.slo
            .as_ref()
            .map_or("no latency target".into(), |s| s.target.clone())
    );
    match &r.first_line {
        Some(l) => format!("{l}\n{base}"),
        None => base,
    }
}

/// The sweep as a table: requests/day, why the row is there, each deployment's monthly $, the
/// cheapest.
fn sweep_table(sw: &Sweep) -> Table {
    let mut cols = vec!["requests/day".to_string(), "row".to_string()];
    cols.extend(sw.curves.iter().map(|c| format!("{} $/month", c.name)));
    cols.push("cheapest".into());
    let refs: Vec<&str> = cols.iter().map(|c| c.as_str()).collect();
    let mut t = Table::new(&refs);
    for row in &sw.table {
        let mut v = vec![fmt_rate(row.requests_per_day), row.why.clone()];
        v.extend(row.monthly_usd.iter().map(|m| usd(*m)));
        v.push(row.cheapest.clone());
        t.row(v);
    }
    t
}

/// The sweep section's lines under its heading: the table, then each pair in a sentence.
fn sweep_text(r: &CostResult, markdown: bool) -> String {
    let Some(sw) = &r.sweep else {
        return String::new();
    };
    let mut s = first(r);
    let _ = writeln!(
        s,
        "Monthly cost of each deployment from {} to {} requests/day (the demand's shape held: {} + {} tokens, peak x{}, {:.0} % utilisation; whole instances):\n",
        fmt_rate(sw.lo),
        fmt_rate(sw.hi),
        r.demand.prompt_tokens.value,
        r.demand.output_tokens.value,
        r.demand.peak_to_average.value,
        r.demand.utilisation.value * 100.0
    );
    let t = sweep_table(sw);
    s += &if markdown { t.markdown() } else { t.render() };
    s += "\nCrossovers:\n";
    for p in &sw.pairs {
        let line = if markdown {
            p.summary.replace('|', "\\|")
        } else {
            p.summary.clone()
        };
        let _ = writeln!(s, "{} {line}", if markdown { "-" } else { "  -" });
    }
    s
}

fn usd(v: f64) -> String {
    fmt_f(v, 2)
}

fn table(r: &CostResult) -> Table {
    let mut t = Table::new(&[
        "deployment",
        "instances",
        "compute $/month",
        "energy $/month",
        "total $/month",
        "$/Mtok output",
        "$/Mtok total",
    ]);
    for d in &r.deployments {
        t.row(vec![
            d.deployment.name.clone(),
            d.instances.to_string(),
            usd(d.monthly_compute_usd),
            d.monthly_energy_usd
                .map_or_else(|| energy_short(d).to_string(), usd),
            usd(d.monthly_total_usd),
            fmt_f(d.usd_per_mtok_output, 4),
            fmt_f(d.usd_per_mtok_total, 4),
        ]);
    }
    t
}

fn energy_short(d: &DeploymentCost) -> &'static str {
    if d.energy_note.starts_with("included") {
        "in price"
    } else {
        "not included"
    }
}

fn headline(r: &CostResult) -> String {
    let d = &r.demand;
    let slo = r
        .slo
        .as_ref()
        .map(|s| {
            format!(
                " Latency target {}: measured deployments are sized at their largest batch \
                 meeting it (each row says how).",
                s.target
            )
        })
        .unwrap_or_default();
    first(r)
        + &format!(
            "Serving {} requests/day ({} prompt + {} output tokens each; peak {}x the average, \
         {:.0} % utilisation target): {:.3} req/s average, {:.3} at the peak; {:.1} M output \
         and {:.1} M prompt tokens a month.",
            d.requests_per_day.value,
            d.prompt_tokens.value,
            d.output_tokens.value,
            d.peak_to_average.value,
            d.utilisation.value * 100.0,
            r.average_requests_per_s,
            r.peak_requests_per_s,
            r.output_tokens_per_month / 1e6,
            r.prompt_tokens_per_month / 1e6,
        )
        + &slo
}

/// The figures behind one row, one line each.
fn figure_lines(d: &DeploymentCost, prompt_tokens: f64) -> Vec<String> {
    let dep = &d.deployment;
    let mut v = vec![format!("what: {}", dep.description)];
    v.push(format!(
        "decode {} tok/s [{}]",
        fmt_f(dep.decode_tps.value, 2),
        dep.decode_tps.source
    ));
    match &dep.prefill_tps {
        Some(p) => v.push(format!(
            "prefill {} tok/s [{}]",
            fmt_f(p.value, 2),
            p.source
        )),
        None if prompt_tokens == 0.0 => v.push("prefill: none (no prompt tokens)".into()),
        None => v.push(
            "prefill: no separate term (the decode figure is end-to-end, prefill included)".into(),
        ),
    }
    if dep.streams_per_instance.value != 1.0 {
        v.push(format!(
            "{} streams per instance [{}]",
            dep.streams_per_instance.value, dep.streams_per_instance.source
        ));
    }
    v.push(format!(
        "{:.4} busy s per request, {:.4} req/s per instance, {:.0} % busy on average",
        d.busy_seconds_per_request,
        d.requests_per_s_per_instance,
        d.average_utilisation * 100.0
    ));
    match &dep.pricing {
        Pricing::Hourly { usd_per_hour } => v.push(format!(
            "${}/hour per instance [{}]",
            usd_per_hour.value, usd_per_hour.source
        )),
        Pricing::OnPrem {
            hardware_usd,
            amortisation_months,
        } => v.push(format!(
            "owned: ${} per instance [{}] over {} months [{}]",
            hardware_usd.value,
            hardware_usd.source,
            amortisation_months.value,
            amortisation_months.source
        )),
    }
    match &dep.energy {
        EnergyFigure::JoulesPerToken { decode, prefill } => {
            v.push(format!(
                "energy {} J/output token [{}]",
                fmt_f(decode.value, 4),
                decode.source
            ));
            if let Some(p) = prefill {
                v.push(format!(
                    "energy {} J/prompt token [{}]",
                    fmt_f(p.value, 4),
                    p.source
                ));
            }
        }
        EnergyFigure::Watts { watts } => v.push(format!(
            "power {} W per instance [{}]",
            watts.value, watts.source
        )),
        EnergyFigure::None { .. } => {}
    }
    let kwh = d
        .monthly_kwh
        .map(|k| format!("{} kWh/month at the meter; ", fmt_f(k, 1)))
        .unwrap_or_default();
    v.push(format!("energy cost: {kwh}{}", d.energy_note));
    v.extend(dep.notes.iter().map(|n| format!("note: {n}")));
    v
}

fn electricity_line(r: &CostResult) -> String {
    format!(
        "electricity for owned hardware: ${}/kWh [{}], PUE {} [{}]",
        r.electricity.usd_per_kwh.value,
        r.electricity.usd_per_kwh.source,
        r.electricity.pue.value,
        r.electricity.pue.source
    )
}

fn demand_lines(r: &CostResult) -> Vec<String> {
    let d = &r.demand;
    [
        ("requests/day", &d.requests_per_day),
        ("prompt tokens/request", &d.prompt_tokens),
        ("output tokens/request", &d.output_tokens),
        ("peak-to-average", &d.peak_to_average),
        ("utilisation target", &d.utilisation),
    ]
    .iter()
    .map(|(k, f)| format!("{k} {} [{}]", f.value, f.source))
    .collect()
}

/// Plain text.
pub fn text(r: &CostResult) -> String {
    let mut s = headline(r) + "\n\n" + &first(r) + &table(r).render();
    for d in &r.deployments {
        let _ = writeln!(s, "\n{}:", d.deployment.name);
        for l in figure_lines(d, r.demand.prompt_tokens.value) {
            let _ = writeln!(s, "  {l}");
        }
    }
    if r.sweep.is_some() {
        s += "\nMonthly cost vs requests/day:\n";
        s += &sweep_text(r, false);
    }
    s += "\nAssumptions:\n";
    for l in demand_lines(r)
        .into_iter()
        .chain([electricity_line(r)])
        .chain(r.assumptions.iter().cloned())
    {
        let _ = writeln!(s, "  - {l}");
    }
    s
}

fn md_body(r: &CostResult, heading: &str) -> String {
    let mut s = headline(r) + "\n\n" + &first(r).replace('\n', "\n\n") + &table(r).markdown();
    for d in &r.deployments {
        let _ = writeln!(s, "\n{heading} {}\n", d.deployment.name);
        for l in figure_lines(d, r.demand.prompt_tokens.value) {
            let _ = writeln!(s, "- {}", l.replace('|', "\\|"));
        }
    }
    if r.sweep.is_some() {
        let _ = writeln!(s, "\n{heading} Monthly cost vs requests/day\n");
        s += &sweep_text(r, true);
    }
    let _ = writeln!(s, "\n{heading} Assumptions\n");
    for l in demand_lines(r)
        .into_iter()
        .chain([electricity_line(r)])
        .chain(r.assumptions.iter().cloned())
    {
        let _ = writeln!(s, "- {l}");
    }
    s
}

/// A Markdown document (`-o md`): a size mismatch is its first line.
pub fn markdown(r: &CostResult) -> String {
    let lead = r
        .first_line
        .as_ref()
        .map(|l| format!("**{l}**\n\n"))
        .unwrap_or_default();
    format!("{lead}# Cost per million tokens\n\n{}", md_body(r, "##"))
}

/// The `## Cost` section `ternbench report` embeds.
#[allow(dead_code)] // `ternbench report` embeds it once the report takes prices
pub fn markdown_section(r: &CostResult) -> String {
    format!("## Cost\n\n{}", md_body(r, "###"))
}

/// JSON (`-o json`).
pub fn json(r: &CostResult) -> String {
    serde_json::to_string_pretty(r).expect("a CostResult always serialises") + "\n"
}

/// `s` in lines of at most about `width` characters, broken at spaces.
pub fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in s.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push(line);
    }
    out
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Horizontal bars: $/Mtok output and $/Mtok total per deployment.
pub fn svg(r: &CostResult) -> String {
    let warn = r
        .first_line
        .as_deref()
        .map(|l| wrap(l, 110))
        .unwrap_or_default();
    let shift = 16.0 * warn.len() as f64;
    let (w, left, right, top, row) = (760.0_f64, 230.0, 90.0, 56.0 + shift, 46.0);
    let n = r.deployments.len() as f64;
    let h = top + n * row + 40.0;
    let max = r
        .deployments
        .iter()
        .map(|d| d.usd_per_mtok_output.max(d.usd_per_mtok_total))
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max)
        .max(1e-12);
    let scale = (w - left - right) / max;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for (i, l) in warn.iter().enumerate() {
        let _ = writeln!(
            s,
            "<text x=\"10\" y=\"{}\" font-weight=\"bold\" fill=\"#b00\">{}</text>",
            18.0 + 16.0 * i as f64,
            xml(l)
        );
    }
    let _ = write!(
        s,
        "<text x=\"10\" y=\"{}\" font-size=\"15\" font-weight=\"bold\">$ per million tokens by deployment</text>\n\
         <text x=\"10\" y=\"{}\" fill=\"#555\">{}</text>\n",
        20.0 + shift,
        38.0 + shift,
        xml(&format!(
            "{} requests/day, {}+{} tokens, peak x{}, utilisation {}",
            r.demand.requests_per_day.value,
            r.demand.prompt_tokens.value,
            r.demand.output_tokens.value,
            r.demand.peak_to_average.value,
            r.demand.utilisation.value
        ))
    );
    for (i, d) in r.deployments.iter().enumerate() {
        let y = top + i as f64 * row;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            left - 8.0,
            y + 20.0,
            xml(&d.deployment.name)
        );
        for (j, (v, colour, what)) in [
            (d.usd_per_mtok_output, "#c0504d", "output"),
            (d.usd_per_mtok_total, "#4f81bd", "total"),
        ]
        .into_iter()
        .enumerate()
        {
            let by = y + 4.0 + j as f64 * 17.0;
            let bw = if v.is_finite() { v * scale } else { 0.0 };
            let _ = writeln!(
                s,
                "<rect x=\"{left}\" y=\"{by}\" width=\"{bw:.1}\" height=\"15\" fill=\"{colour}\"><title>{} {what}: ${v:.4}/Mtok</title></rect>\n\
                 <text x=\"{:.1}\" y=\"{:.1}\">${}</text>",
                xml(&d.deployment.name),
                left + bw + 4.0,
                by + 12.0,
                fmt_f(v, 4)
            );
        }
    }
    let ly = h - 16.0;
    let _ = write!(
        s,
        "<rect x=\"{left}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"#c0504d\"/><text x=\"{}\" y=\"{ly}\">$/Mtok output (all cost charged to output)</text>\n\
         <rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"#4f81bd\"/><text x=\"{}\" y=\"{ly}\">$/Mtok prompt + output</text>\n</svg>\n",
        ly - 10.0,
        left + 16.0,
        left + 300.0,
        ly - 10.0,
        left + 316.0,
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::present::cost::model::{compute, Demand, Deployment, Electricity, Figure};

    fn result() -> CostResult {
        let g = |v: f64| Figure::new(v, "given");
        let d = Deployment {
            name: "CPU <ternary>".into(),
            description: "a | b".into(),
            decode_tps: g(20.0),
            prefill_tps: Some(g(50.0)),
            streams_per_instance: g(1.0),
            pricing: Pricing::Hourly {
                usd_per_hour: g(0.2),
            },
            energy: EnergyFigure::None { why: "x".into() },
            notes: vec![],
        };
        let demand = Demand {
            requests_per_day: g(86_400.0),
            prompt_tokens: g(100.0),
            output_tokens: g(200.0),
            peak_to_average: g(2.0),
            utilisation: g(0.6),
        };
        let e = Electricity {
            usd_per_kwh: g(0.1),
            pue: g(1.5),
        };
        compute(demand, e, &[d], vec!["an assumption".into()]).unwrap()
    }

    #[test]
    fn markdown_section_is_a_level_two_section() {
        let s = markdown_section(&result());
        assert!(s.starts_with("## Cost\n\n"), "{s}");
        assert!(s.contains("### CPU <ternary>"), "{s}");
        assert!(s.contains("### Assumptions"), "{s}");
        assert!(s.contains("- what: a \\| b"), "{s}");
        assert!(
            s.contains("| CPU <ternary> | 40 | 5840.00 | in price |"),
            "{s}"
        );
        assert!(s.contains("- an assumption"), "{s}");
    }

    #[test]
    fn svg_escapes_and_draws_two_bars_a_row() {
        let s = svg(&result());
        assert!(s.contains("CPU &lt;ternary&gt;"), "{s}");
        assert!(!s.contains("CPU <ternary>"), "{s}");
        assert!(s.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn json_round_trips_as_json() {
        let v: serde_json::Value = serde_json::from_str(&json(&result())).unwrap();
        assert_eq!(v["deployments"][0]["instances"], 40);
    }
}
