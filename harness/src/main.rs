//! The `ternbench` binary (skeleton; subcommands arrive with the harness work).
fn main() {}
