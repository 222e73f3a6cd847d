//! Differential test against Node's own parser, llhttp. `scripts/http-framing-corpus.mjs`
//! fed every request of its corpus to llhttp (as node:http configures it) and recorded what
//! it decided in `tests/data/http-framing.json`; this test needs no Node. For every request
//! llhttp accepts, our framing must be its framing: where the head ends, the body bytes,
//! where the request ends, method, target, version, the header vars, keep-alive and
//! upgrade. Every request llhttp refuses we refuse too. The exceptions are listed in the
//! corpus with a reason: `stricter` (we refuse, with that error code) and `looser` (we
//! accept).

mod http_support;

use http_support::{read_split, Request};
use serde_json::Value;
use tsgi_wire::http::Limits;
use tsgi_wire::Status;

/// A JSON string of latin-1 characters as the bytes it stands for.
fn latin1(v: &Value) -> Vec<u8> {
    v.as_str().expect("a string").chars().map(|c| u8::try_from(u32::from(c)).expect("latin-1")).collect()
}

/// The var llhttp's header `name` becomes, or `None` when we drop it.
fn var_name(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    if name.contains('_') || lower == "proxy" {
        return None;
    }
    Some(match lower.as_str() {
        "content-length" => "CONTENT_LENGTH".into(),
        "content-type" => "CONTENT_TYPE".into(),
        _ => format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_")),
    })
}

/// Compares one request llhttp accepted with ours.
fn same_framing(name: &str, bytes: &[u8], ll: &Value, r: &Request) {
    let n = |k: &str| ll[k].as_u64().unwrap_or_else(|| panic!("{name}: {k}")) as usize;
    assert_eq!(r.head.len, n("head_len"), "{name}: head length");
    assert_eq!(r.end, n("end"), "{name}: request end");
    assert_eq!(r.body, latin1(&ll["body"]), "{name}: body");
    assert_eq!(r.var("REQUEST_METHOD").as_deref(), ll["method"].as_str(), "{name}: method");
    assert_eq!(r.vars[1].1, latin1(&ll["url"]), "{name}: REQUEST_URI");
    let version = format!("1.{}", r.head.minor_version);
    assert_eq!(Some(version.as_str()), ll["version"].as_str(), "{name}: version");
    assert_eq!(r.head.upgrade, ll["upgrade"].as_bool().unwrap(), "{name}: upgrade");
    if !r.head.upgrade {
        assert_eq!(r.head.keep_alive, ll["keep_alive"].as_bool().unwrap(), "{name}: keep-alive");
    }
    // llhttp gives the Host field as sent; for an absolute-form target HTTP_HOST is the
    // target's authority, which wins over Host (RFC 9112 §3.2.2).
    let url = ll["url"].as_str().unwrap_or("");
    let authority = ["http://", "https://"]
        .iter()
        .find_map(|scheme| url.get(..scheme.len()).filter(|s| s.eq_ignore_ascii_case(scheme)).map(|s| &url[s.len()..]))
        .map(|rest| rest.split(['/', '?']).next().unwrap_or(""));
    let want: Vec<(Vec<u8>, Vec<u8>)> = ll["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| {
            let var = var_name(h[0].as_str()?)?;
            let value = match authority {
                Some(a) if var == "HTTP_HOST" => a.as_bytes().to_vec(),
                _ => latin1(&h[1]),
            };
            Some((var.into_bytes(), value))
        })
        .collect();
    assert_eq!(r.vars[5..], want[..], "{name}: header vars");
    assert!(r.end <= bytes.len());
}

#[test]
fn framing_matches_llhttp() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/http-framing.json"))
        .expect("tests/data/http-framing.json (node scripts/http-framing-corpus.mjs writes it)");
    let corpus: Value = serde_json::from_str(&text).expect("valid JSON");
    let cases = corpus["cases"].as_array().expect("cases");
    let (mut same, mut stricter, mut looser, mut both_refuse) = (0, 0, 0, 0);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let bytes = latin1(&case["request"]);
        let ll = &case["llhttp"];
        let ours = read_split(&bytes, &Limits::default());
        let accepted = ll["accepted"].as_bool().unwrap();
        if let Some(code) = case["stricter"].as_str() {
            assert!(case["reason"].as_str().is_some_and(|r| !r.is_empty()), "{name}: a reason");
            match ours {
                Err(e) => assert_eq!(e.code(), code, "{name}"),
                other => panic!("{name}: listed as refused ({code}), but we answered {other:?}"),
            }
            stricter += 1;
        } else if case["looser"].as_bool() == Some(true) {
            assert!(!accepted, "{name}: listed as looser, but llhttp accepts it");
            assert!(case["reason"].as_str().is_some_and(|r| !r.is_empty()), "{name}: a reason");
            assert!(matches!(ours, Ok(Status::Complete(_))), "{name}: listed as accepted, but {ours:?}");
            looser += 1;
        } else if accepted {
            match ours {
                Ok(Status::Complete(r)) => same_framing(name, &bytes, ll, &r),
                other => panic!("{name}: llhttp accepts it, we answered {other:?}"),
            }
            same += 1;
        } else {
            assert!(ours.is_err(), "{name}: llhttp refuses it ({}), we answered {ours:?}", ll["error"]);
            both_refuse += 1;
        }
    }
    // The corpus keeps its shape: a change that drops cases shows here.
    assert!(same >= 40 && both_refuse >= 25 && stricter >= 20, "{same} {both_refuse} {stricter} {looser}");
    assert!(looser <= 2, "every place we accept what llhttp refuses is a reviewed exception: {looser}");
}
