//! Placeholder replaced by the kernel benches.
fn main() {}
