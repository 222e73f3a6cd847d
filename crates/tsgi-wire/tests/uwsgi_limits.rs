//! Every length field at its boundaries (0, 1, 127/128, 255/256, the most a block holds)
//! and every limit at N and N+1, each parsed whole and split at every offset.

mod common;

use common::{kv, parse_err_with, parse_ok, parse_ok_with, Packet};
use tsgi_wire::uwsgi::{Error, Limits, HEADER_LEN, MAX_VARS_BLOCK};
use tsgi_wire::MAX_CONTENT_LENGTH;

/// `REQUEST_METHOD=GET` is 21 bytes; a further pair costs 4 bytes plus key and value.
const GET_LEN: usize = 21;
/// The longest key (with an empty value) or value (with a one-byte key) that fits a
/// 65535-byte block beside `REQUEST_METHOD=GET`.
const MAX_KEY: usize = MAX_VARS_BLOCK - GET_LEN - 4;
const MAX_VALUE: usize = MAX_VARS_BLOCK - GET_LEN - 4 - 1;

#[test]
fn key_lengths() {
    for len in [1, 2, 127, 128, 255, 256, 4095, 4096, 32767, 32768, MAX_KEY] {
        let key = vec![b'K'; len];
        let packet = Packet::get().var(&key, "").bytes();
        let ((header, _, n), vars) = parse_ok(&packet);
        assert_eq!(vars.len(), 2, "key of {len}");
        assert_eq!(usize::from(vars[1].key_len), len);
        assert_eq!(kv(&packet, &vars[1]), (&key[..], &b""[..]));
        assert_eq!(n, packet.len());
        if len == MAX_KEY {
            assert_eq!(usize::from(header.datasize), MAX_VARS_BLOCK);
        }
    }
}

#[test]
fn value_lengths() {
    for len in [0, 1, 2, 127, 128, 255, 256, 4095, 4096, 32767, 32768, MAX_VALUE] {
        let value = vec![b'v'; len];
        let packet = Packet::get().var("K", &value).bytes();
        let ((header, _, _), vars) = parse_ok(&packet);
        assert_eq!(usize::from(vars[1].value_len), len, "value of {len}");
        assert_eq!(kv(&packet, &vars[1]), (&b"K"[..], &value[..]));
        if len == MAX_VALUE {
            assert_eq!(usize::from(header.datasize), MAX_VARS_BLOCK);
        }
    }
}

#[test]
fn length_fields_one_past_the_block() {
    // Key and value lengths at exactly what is left are fine (above); one more overruns,
    // at every size class of the field.
    for len in [1usize, 127, 128, 255, 256, 4096] {
        let key = vec![b'K'; len];
        let packet = Packet::get().len_field(len as u16 + 1).raw(&key).bytes();
        assert_eq!(common::parse_err(&packet), Error::KeyOverrun, "key of {len}");
        let packet = Packet::get().len_field(1).raw("K").len_field(len as u16 + 1).raw(&key).bytes();
        assert_eq!(common::parse_err(&packet), Error::ValueOverrun, "value of {len}");
    }
}

#[test]
fn datasize_boundaries() {
    assert_eq!(common::parse_err(&Packet::new().bytes()), Error::EmptyVars);
    // One byte: half a key-length field.
    assert_eq!(common::parse_err(&Packet::new().raw([14]).bytes()), Error::KeyOverrun);
    for size in [GET_LEN, 127, 128, 255, 256, 4096, 4097, 65534, MAX_VARS_BLOCK] {
        let p = if size == GET_LEN { Packet::get() } else { Packet::get().pad_to(size) };
        let packet = p.body("body").bytes();
        let ((header, _, n), _) = parse_ok(&packet);
        assert_eq!(usize::from(header.datasize), size);
        assert_eq!(n, HEADER_LEN + size);
        assert_eq!(&packet[n..], b"body");
    }
}

#[test]
fn buffer_size_at_n_and_n_plus_1() {
    for limit in [GET_LEN, 255, 256, 4096, 65534] {
        let limits = Limits { max_vars_block: limit as u16, ..Limits::default() };
        let at = if limit == GET_LEN { Packet::get() } else { Packet::get().pad_to(limit) };
        parse_ok_with(&at.bytes(), &limits);
        // (One byte past `GET` alone is half a length field: the header is refused first.)
        let over = if limit == GET_LEN { Packet::get().raw([1]) } else { Packet::get().pad_to(limit + 1) }.bytes();
        assert_eq!(
            parse_err_with(&over, &limits),
            Error::VarsTooLarge { size: limit as u16 + 1, limit: limit as u16 },
            "buffer-size {limit}"
        );
    }
    // The default is the protocol maximum: the largest block there is is accepted.
    assert_eq!(Limits::default().max_vars_block, u16::MAX);
    parse_ok(&Packet::get().pad_to(MAX_VARS_BLOCK).bytes());
}

#[test]
fn max_vars_at_n_and_n_plus_1() {
    for limit in [1u32, 2, 64, 1000] {
        let limits = Limits { max_vars: limit, ..Limits::default() };
        let at = (1..limit).fold(Packet::get(), |p, i| p.var(format!("K{i}"), ""));
        let ((_, _, _), vars) = parse_ok_with(&at.clone().bytes(), &limits);
        assert_eq!(vars.len(), limit as usize);
        let over = at.var("ONE_MORE", "").bytes();
        assert_eq!(parse_err_with(&over, &limits), Error::TooManyVars { limit }, "max-vars {limit}");
    }
    // 0 refuses every non-empty block.
    let limits = Limits { max_vars: 0, ..Limits::default() };
    assert_eq!(parse_err_with(&Packet::get().bytes(), &limits), Error::TooManyVars { limit: 0 });
    // The default is 1000.
    assert_eq!(Limits::default().max_vars, 1000);
}

#[test]
fn max_vars_is_above_what_a_block_can_hold() {
    // A 5-byte pair (1-byte key, empty value) is the smallest: 13102 of them beside the
    // method fill a 65535-byte block, all accepted when the limit allows.
    let n = (MAX_VARS_BLOCK - GET_LEN) / 5;
    let p = (0..n).fold(Packet::get(), |p, _| p.var("K", ""));
    let limits = Limits { max_vars: u32::MAX, ..Limits::default() };
    let (_, vars) = parse_ok_with(&p.bytes(), &limits);
    assert_eq!(vars.len(), n + 1);
}

fn with_length(cl: impl std::fmt::Display) -> Vec<u8> {
    Packet::get().var("CONTENT_LENGTH", cl.to_string()).bytes()
}

#[test]
fn limit_post_at_n_and_n_plus_1() {
    for limit in [1u64, 1000, 1 << 20, MAX_CONTENT_LENGTH - 1] {
        let limits = Limits { max_body: limit, ..Limits::default() };
        assert_eq!(parse_ok_with(&with_length(limit), &limits).0 .1.content_length, limit);
        assert_eq!(
            parse_err_with(&with_length(limit + 1), &limits),
            Error::BodyTooLarge { length: limit + 1, limit },
            "limit-post {limit}"
        );
    }
    // 0 is no limit.
    let unlimited = Limits { max_body: 0, ..Limits::default() };
    assert_eq!(parse_ok_with(&with_length(MAX_CONTENT_LENGTH), &unlimited).0 .1.content_length, MAX_CONTENT_LENGTH);
    // A limit at or above 2^53 - 1 leaves the protocol's own ceiling in charge.
    let huge = Limits { max_body: u64::MAX, ..Limits::default() };
    parse_ok_with(&with_length(MAX_CONTENT_LENGTH), &huge);
    assert_eq!(parse_err_with(&with_length(MAX_CONTENT_LENGTH + 1), &huge), Error::ContentLengthOverflow);
    // No body at all is never over a limit.
    let one = Limits { max_body: 1, ..Limits::default() };
    assert_eq!(parse_ok_with(&with_length(0), &one).0 .1.content_length, 0);
}

#[test]
fn content_length_at_2_53() {
    assert_eq!(MAX_CONTENT_LENGTH, 9_007_199_254_740_991);
    assert_eq!(parse_ok(&with_length("9007199254740991")).0 .1.content_length, MAX_CONTENT_LENGTH);
    assert_eq!(common::parse_err(&with_length("9007199254740992")), Error::ContentLengthOverflow);
    // 20 digits and more: u64 overflow territory, still the same refusal.
    for digits in [19, 20, 21, 40, 1000] {
        assert_eq!(common::parse_err(&with_length("9".repeat(digits))), Error::ContentLengthOverflow, "{digits} nines");
    }
    // Leading zeros do not count toward the ceiling.
    let padded = format!("{}{}", "0".repeat(30), MAX_CONTENT_LENGTH);
    assert_eq!(parse_ok(&with_length(padded)).0 .1.content_length, MAX_CONTENT_LENGTH);
}
