//! The proxy's message decoder on arbitrary bytes: it must never panic, and never consume
//! bytes without returning a message. Run with `bench/fuzz.sh [SECONDS]`.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use strata_wire::codec::{decode_message, decode_startup};

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    let before = buf.len();
    if let Ok(None) = decode_startup(&mut buf) {
        assert_eq!(buf.len(), before);
    }
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.len();
        match decode_message(&mut buf, 1 << 16) {
            Ok(Some(_)) => assert!(buf.len() < before),
            Ok(None) => {
                assert_eq!(buf.len(), before);
                break;
            }
            Err(_) => break,
        }
    }
});
