//! Fuzzes the GGUF header parser: any bytes give a header or an error, never a panic or a huge
//! allocation. A parsed header's tensors must lie inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ternbench_engine::load::fuzz;

fuzz_target!(|data: &[u8]| {
    fuzz::gguf_header(data);
});
