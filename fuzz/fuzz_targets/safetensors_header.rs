//! Fuzzes the safetensors header parser: any bytes give a header or an error, never a panic. A
//! parsed header's tensors must lie inside the input and not overlap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ternbench_engine::load::fuzz;

fuzz_target!(|data: &[u8]| {
    fuzz::safetensors_header(data);
});
