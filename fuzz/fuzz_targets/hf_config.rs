//! Fuzzes `config.json` parsing: any bytes give a validated config or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ternbench_engine::load::fuzz;

fuzz_target!(|data: &[u8]| {
    fuzz::hf_config(data);
});
