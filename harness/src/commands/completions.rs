//! `ternbench completions SHELL` and `ternbench man [--out DIR]`: the shell completion script
//! and the man pages, generated from the clap definitions in [`crate::cli`] (clap_complete,
//! clap_mangen), so they list exactly the flags the binary takes.

use std::io::Write;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};

/// Prints the completion script for `a.shell` on stdout.
pub fn completions(a: &CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(a.shell, &mut cmd, "ternbench", &mut out);
    out.flush().context("writing the completion script")?;
    Ok(())
}

/// Prints `ternbench.1`, or writes it and `ternbench-COMMAND.1` per subcommand into `--out`.
pub fn man(a: &ManArgs) -> Result<()> {
    let cmd = Cli::command();
    let Some(dir) = &a.out else {
        let mut out = std::io::stdout().lock();
        return match clap_mangen::Man::new(cmd).render(&mut out) {
            // `ternbench man | head`: the reader left; not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            r => r.context("writing the man page"),
        };
    };
    std::fs::create_dir_all(dir).with_context(|| format!("--out {}", dir.display()))?;
    let mut written = Vec::new();
    let mut write = |name: String, c: clap::Command| -> Result<()> {
        let path = dir.join(format!("{name}.1"));
        let mut buf = Vec::new();
        let static_name: &'static str = Box::leak(name.clone().into_boxed_str());
        clap_mangen::Man::new(c.name(static_name))
            .render(&mut buf)
            .context("rendering a man page")?;
        std::fs::write(&path, buf).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
        Ok(())
    };
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        write(format!("ternbench-{}", sub.get_name()), sub.clone())?;
    }
    write("ternbench".into(), cmd.clone())?;
    println!(
        "wrote {} man pages into {} (read one with `man -l {}`)",
        written.len(),
        dir.display(),
        dir.join("ternbench.1").display()
    );
    Ok(())
}
