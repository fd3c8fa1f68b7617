//! Human output: aligned text tables, Markdown tables and CSV documents (the `csv` crate), and
//! number formatting.
//!
//! Numeric columns (those whose cells all parse as numbers or are `-`) are right-aligned;
//! everything else is left-aligned.

/// A table of strings with a header.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (padded or cut to the header's width).
    pub fn row(&mut self, mut cells: Vec<String>) {
        cells.resize(self.header.len(), String::new());
        self.rows.push(cells);
    }

    /// Whether column `c` holds numbers: at least one, and nothing but numbers, `-` or blanks.
    fn numeric(&self, c: usize) -> bool {
        let cells = || self.rows.iter().map(|r| r[c].trim());
        cells().any(|s| s.parse::<f64>().is_ok())
            && cells().all(|s| s == "-" || s.is_empty() || s.parse::<f64>().is_ok())
    }

    fn widths(&self) -> Vec<usize> {
        (0..self.header.len())
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .chain([self.header[c].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }

    /// Plain text: columns separated by two spaces, a dashed rule under the header.
    pub fn render(&self) -> String {
        let w = self.widths();
        let num: Vec<bool> = (0..w.len()).map(|c| self.numeric(c)).collect();
        let line = |cells: &[String]| {
            let parts: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(c, s)| {
                    if num[c] {
                        format!("{s:>width$}", width = w[c])
                    } else {
                        format!("{s:<width$}", width = w[c])
                    }
                })
                .collect();
            parts.join("  ").trim_end().to_string() + "\n"
        };
        let mut out = line(&self.header);
        let rule: Vec<String> = w.iter().map(|&n| "-".repeat(n)).collect();
        out += &line(&rule);
        for r in &self.rows {
            out += &line(r);
        }
        out
    }

    /// A GitHub-flavoured Markdown table.
    pub fn markdown(&self) -> String {
        let num: Vec<bool> = (0..self.header.len()).map(|c| self.numeric(c)).collect();
        let esc = |s: &str| s.replace('|', "\\|");
        let mut out = format!(
            "| {} |\n",
            self.header
                .iter()
                .map(|h| esc(h))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        out += &format!(
            "|{}|\n",
            num.iter()
                .map(|&n| if n { "---:" } else { "---" })
                .collect::<Vec<_>>()
                .join("|")
        );
        for r in &self.rows {
            out += &format!(
                "| {} |\n",
                r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
            );
        }
        out
    }
}

/// `v` with `digits` decimals, or `-` when not finite.
pub fn fmt_f(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "-".to_string()
    }
}

/// An optional number with `digits` decimals, `-` when absent.
pub fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| fmt_f(x, digits))
}

/// A duration in seconds as a short human string (`12.3 us`, `4.56 ms`, `1.23 s`).
pub fn fmt_secs(s: f64) -> String {
    if !s.is_finite() {
        "-".to_string()
    } else if s < 1e-3 {
        format!("{:.1} us", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// A CSV document (RFC 4180, by the `csv` crate): the header line, then one line per row,
/// fields quoted where they hold a comma, quote or line break.
pub fn csv(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut w = ::csv::WriterBuilder::new()
        .flexible(true)
        .terminator(::csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let written = w
        .write_record(header)
        .and_then(|()| rows.iter().try_for_each(|r| w.write_record(r)));
    // Writing to a Vec cannot fail; a failure here is a broken invariant, not bad input.
    written.expect("CSV into memory");
    String::from_utf8(w.into_inner().expect("CSV into memory")).expect("UTF-8 fields stay UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_numbers_right_text_left() {
        let mut t = Table::new(&["name", "value"]);
        t.row(vec!["a".into(), "1.5".into()]);
        t.row(vec!["longer".into(), "10.25".into()]);
        let s = t.render();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "name    value");
        assert_eq!(lines[2], "a         1.5");
        assert_eq!(lines[3], "longer  10.25");
    }

    #[test]
    fn markdown_escapes_and_aligns() {
        let mut t = Table::new(&["a", "n"]);
        t.row(vec!["x|y".into(), "-".into()]);
        t.row(vec!["z".into(), "2".into()]);
        assert_eq!(
            t.markdown(),
            "| a | n |\n|---|---:|\n| x\\|y | - |\n| z | 2 |\n"
        );
    }

    #[test]
    fn blank_column_is_text() {
        let mut t = Table::new(&["n", "note"]);
        t.row(vec!["1".into(), String::new()]);
        assert_eq!(t.markdown(), "| n | note |\n|---:|---|\n| 1 |  |\n");
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_f(f64::NAN, 2), "-");
        assert_eq!(fmt_opt(Some(1.234), 1), "1.2");
        assert_eq!(fmt_secs(2.5e-5), "25.0 us");
        assert_eq!(fmt_secs(0.0123), "12.30 ms");
    }

    #[test]
    fn csv_escapes_and_reads_back() {
        let rows = vec![
            vec!["1".into(), "x,y".into()],
            vec!["say \"x\"".into(), "a\rb".into()],
            vec!["plain".into(), "two\nlines".into()],
        ];
        let text = csv(&["h1", "h2"], &rows);
        assert!(
            text.starts_with("h1,h2\n1,\"x,y\"\n\"say \"\"x\"\"\",\"a\rb\"\n"),
            "{text:?}"
        );
        let mut r = ::csv::Reader::from_reader(text.as_bytes());
        assert_eq!(r.headers().unwrap(), vec!["h1", "h2"]);
        let back: Vec<Vec<String>> = r
            .records()
            .map(|x| x.unwrap().iter().map(str::to_string).collect())
            .collect();
        assert_eq!(back, rows);
    }
}
