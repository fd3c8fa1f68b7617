//! Old spellings of flags, kept working as hidden, deprecated aliases: each is rewritten to the
//! current spelling before clap parses the command line, with a warning on stderr naming the
//! new one. Hidden from `--help`, the completions and the man page (docs/cli.md lists them).
//!
//! | old | command | now |
//! |---|---|---|
//! | `--json` | bandwidth, peak, kernels, logits, run, sysinfo, energy, baseline list | `-o json` |
//! | `--format F` | cost, compare (output format) | `-o F` |
//! | `--format F` | bench, generate, logits, kernels (weight format) | `--weight-format F` |
//! | `-o DIR` | report (output folder) | `--out DIR` |
//! | `--quiet-progress` | bench | `-q` |

/// One rewrite: in subcommand `cmd`, flag `old` (with its value when `takes_value`) becomes
/// `new` (`new_value` replaces a flag without value by a flag and a value).
struct Alias {
    cmds: &'static [&'static str],
    old: &'static str,
    new: &'static str,
    new_value: Option<&'static str>,
    takes_value: bool,
}

const ALIASES: &[Alias] = &[
    Alias {
        cmds: &[
            "bandwidth",
            "peak",
            "kernels",
            "logits",
            "run",
            "sysinfo",
            "energy",
            "baseline",
        ],
        old: "--json",
        new: "--output",
        new_value: Some("json"),
        takes_value: false,
    },
    Alias {
        cmds: &["cost", "compare"],
        old: "--format",
        new: "--output",
        new_value: None,
        takes_value: true,
    },
    Alias {
        cmds: &["bench", "generate", "logits", "kernels"],
        old: "--format",
        new: "--weight-format",
        new_value: None,
        takes_value: true,
    },
    Alias {
        cmds: &["report"],
        old: "-o",
        new: "--out",
        new_value: None,
        takes_value: true,
    },
    Alias {
        cmds: &["report"],
        old: "--output",
        new: "--out",
        new_value: None,
        takes_value: true,
    },
    Alias {
        cmds: &["bench"],
        old: "--quiet-progress",
        new: "--quiet",
        new_value: None,
        takes_value: false,
    },
];

/// Rewrites deprecated spellings in `args` (the whole command line, program name first) and
/// returns the rewritten line and one warning per rewrite. Stops at `--`.
pub fn rewrite(args: Vec<String>) -> (Vec<String>, Vec<String>) {
    // The subcommand is the first argument that is not an option (there are no global
    // options taking values).
    let Some(sub_at) = args.iter().skip(1).position(|a| !a.starts_with('-')) else {
        return (args, Vec::new());
    };
    let sub_at = sub_at + 1;
    let cmd = args[sub_at].clone();
    let mut out: Vec<String> = args[..=sub_at].to_vec();
    let mut warnings = Vec::new();
    let mut rest = args[sub_at + 1..].iter();
    while let Some(a) = rest.next() {
        if a == "--" {
            out.push(a.clone());
            out.extend(rest.cloned());
            break;
        }
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let Some(alias) = ALIASES
            .iter()
            .find(|al| al.old == flag && al.cmds.contains(&cmd.as_str()))
        else {
            out.push(a.clone());
            continue;
        };
        // `--output` is shown by its short form, as llama-bench spells it.
        let new_flag = if alias.new == "--output" {
            "-o"
        } else {
            alias.new
        };
        let shown_new = match alias.new_value {
            Some(v) => format!("{new_flag} {v}"),
            None if alias.takes_value => format!("{new_flag} …"),
            None => new_flag.to_string(),
        };
        warnings.push(format!(
            "warning: `{flag}` is deprecated in `ternbench {cmd}`: use `{shown_new}` (docs/cli.md); the old spelling will be removed"
        ));
        out.push(alias.new.to_string());
        if let Some(v) = alias.new_value {
            out.push(v.to_string());
        }
        if alias.takes_value {
            if let Some(v) = inline {
                out.push(v);
            } else if let Some(v) = rest.next() {
                out.push(v.clone());
            }
        }
    }
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    fn rw(line: &str) -> (String, usize) {
        let (a, w) = rewrite(line.split(' ').map(String::from).collect());
        (a.join(" "), w.len())
    }

    #[test]
    fn old_spellings_become_new_ones_with_a_warning() {
        assert_eq!(
            rw("tb sysinfo --json"),
            ("tb sysinfo --output json".into(), 1)
        );
        assert_eq!(
            rw("tb cost --format md --run x"),
            ("tb cost --output md --run x".into(), 1)
        );
        assert_eq!(
            rw("tb compare a b --format=json"),
            ("tb compare a b --output json".into(), 1)
        );
        assert_eq!(
            rw("tb bench -m x --format tq1 --quiet-progress"),
            ("tb bench -m x --weight-format tq1 --quiet".into(), 2)
        );
        assert_eq!(
            rw("tb report r1 -o out/dir"),
            ("tb report r1 --out out/dir".into(), 1)
        );
        assert_eq!(
            rw("tb baseline list --json"),
            ("tb baseline list --output json".into(), 1)
        );
    }

    #[test]
    fn current_spellings_and_other_commands_are_left_alone() {
        for l in [
            "tb bench -m x -o json --weight-format i2",
            "tb report r1 --out d",
            "tb run -o json",
            "tb --version",
            "tb generate -m x --tokens 1 -- --json",
        ] {
            assert_eq!(rw(l), (l.to_string(), 0), "{l}");
        }
    }
}
