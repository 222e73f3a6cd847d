#![no_main]
use tsgi_wire::uwsgi::{parse_request, Limits};
use tsgi_wire::Status;

libfuzzer_sys::fuzz_target!(|buf: &[u8]| {
    let mut vars = Vec::new();
    if let Ok(Status::Complete((header, _, n))) = parse_request(buf, &Limits::default(), &mut vars) {
        // The head is exactly header + block, and every var lies inside the block.
        assert!(n == 4 + usize::from(header.datasize) && n <= buf.len());
        assert!(vars.iter().all(|v| v.value_offset as usize + usize::from(v.value_len) <= n - 4));
    }
});
