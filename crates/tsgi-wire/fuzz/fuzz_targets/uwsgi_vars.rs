#![no_main]
use tsgi_wire::uwsgi::{parse_vars, Limits};

libfuzzer_sys::fuzz_target!(|block: &[u8]| {
    let _ = parse_vars(block, &Limits::default(), &mut Vec::new());
});
