//! A bounded, deterministic fuzz run of the decoder (the `fuzz/` target runs the same checks
//! under libFuzzer): arbitrary bytes never panic, never consume bytes they do not return a
//! message for, and never wait for more than the limit allows.

use bytes::BytesMut;
use strata_wire::codec::{decode_frame, decode_message, decode_startup, frame_len, parse_frame};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Bytes that look like protocol messages often enough to reach deep into the parser.
fn message_like(rng: &mut XorShift) -> Vec<u8> {
    const TAGS: &[u8] = b"QPBDCESHXpdcfF\x00\xff";
    let mut out = Vec::new();
    for _ in 0..(rng.next() % 4 + 1) {
        let tag = TAGS[(rng.next() % TAGS.len() as u64) as usize];
        let body_len = (rng.next() % 40) as usize;
        let mut body: Vec<u8> = (0..body_len)
            .map(|_| match rng.next() % 5 {
                0 => 0,
                1 => 0xff,
                _ => (rng.next() % 128) as u8,
            })
            .collect();
        if rng.next().is_multiple_of(3) && body.len() >= 2 {
            let i = (rng.next() as usize) % (body.len() - 1);
            body[i..i + 2].copy_from_slice(&((rng.next() % 5) as i16 - 1).to_be_bytes());
        }
        let declared = match rng.next() % 10 {
            0 => rng.next() as i32,
            1 => body.len() as i32 + 4 + (rng.next() % 8) as i32,
            _ => body.len() as i32 + 4,
        };
        out.push(tag);
        out.extend_from_slice(&declared.to_be_bytes());
        out.extend_from_slice(&body);
    }
    out
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    const LIMIT: usize = 1 << 16;
    for round in 0..200_000u32 {
        let input = if round.is_multiple_of(2) {
            message_like(&mut rng)
        } else {
            (0..(rng.next() % 64)).map(|_| rng.next() as u8).collect()
        };
        // Startup packets.
        let mut buf = BytesMut::from(&input[..]);
        let before = buf.len();
        match decode_startup(&mut buf) {
            Ok(None) => assert_eq!(buf.len(), before, "nothing consumed without a packet"),
            Ok(Some(_)) => assert!(buf.len() < before),
            Err(e) => assert!(!e.0.is_empty()),
        }
        // Messages, until the buffer is exhausted or an error.
        let mut buf = BytesMut::from(&input[..]);
        loop {
            let before = buf.len();
            match decode_message(&mut buf, LIMIT) {
                Ok(Some(_)) => assert!(buf.len() < before),
                Ok(None) => {
                    assert_eq!(buf.len(), before);
                    // Waiting for more only when the announced length is within the limit.
                    if buf.len() >= 5 {
                        let len = i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
                        assert!((4..=LIMIT as i32 + 4).contains(&len));
                    }
                    break;
                }
                Err(e) => {
                    assert!(!e.0.is_empty());
                    break;
                }
            }
        }
        // Frames alone, and their parse.
        let mut buf = BytesMut::from(&input[..]);
        if let Ok(Some(frame)) = decode_frame(&mut buf, LIMIT) {
            assert_eq!(frame_len(&frame.raw, LIMIT).unwrap(), Some(frame.raw.len()));
            let _ = parse_frame(&frame);
        }
    }
}
