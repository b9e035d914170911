//! Password authentication for engine mode: SCRAM-SHA-256 (RFC 5802/7677, as PostgreSQL
//! speaks it) and cleartext, both checked against a stored SCRAM verifier, so the server
//! never holds a password.
//!
//! A verifier has PostgreSQL's format, `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`
//! (base64), the same text `pg_authid.rolpassword` holds; `strata hash-password` makes one.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

const DEFAULT_ITERATIONS: u32 = 4096;

/// A stored SCRAM-SHA-256 verifier.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: [u8; 32],
    server_key: [u8; 32],
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier(SCRAM-SHA-256)")
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// PBKDF2-HMAC-SHA-256 with one block: RFC 5802's Hi().
fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password, &first);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac(password, &u);
        for (o, x) in out.iter_mut().zip(u.iter()) {
            *o ^= x;
        }
    }
    out
}

impl Verifier {
    /// Makes a verifier for `password` with a random salt.
    pub fn new(password: &str) -> Verifier {
        let salt: [u8; 16] = rand::random();
        Verifier::with_salt(password, &salt, DEFAULT_ITERATIONS)
    }

    pub fn with_salt(password: &str, salt: &[u8], iterations: u32) -> Verifier {
        let salted = salted_password(password.as_bytes(), salt, iterations);
        Verifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: sha256(&hmac(&salted, b"Client Key")),
            server_key: hmac(&salted, b"Server Key"),
        }
    }

    /// Parses PostgreSQL's text form; the error says which part is wrong.
    pub fn parse(text: &str) -> Result<Verifier, String> {
        let rest = text
            .strip_prefix("SCRAM-SHA-256$")
            .ok_or("a password hash must start with 'SCRAM-SHA-256$' (make one with `strata hash-password`)")?;
        let (params, keys) = rest.split_once('$').ok_or("missing '$' before the keys")?;
        let (iterations, salt) = params
            .split_once(':')
            .ok_or("missing ':' between iterations and salt")?;
        let (stored, server) = keys
            .split_once(':')
            .ok_or("missing ':' between StoredKey and ServerKey")?;
        let iterations: u32 = iterations
            .parse()
            .ok()
            .filter(|i| *i > 0)
            .ok_or_else(|| format!("iteration count '{iterations}' is not a positive integer"))?;
        let salt = B64.decode(salt).map_err(|_| "the salt is not base64".to_string())?;
        let key = |s: &str, what: &str| -> Result<[u8; 32], String> {
            B64.decode(s)
                .ok()
                .and_then(|k| <[u8; 32]>::try_from(k).ok())
                .ok_or_else(|| format!("{what} is not 32 bytes of base64"))
        };
        Ok(Verifier {
            iterations,
            salt,
            stored_key: key(stored, "StoredKey")?,
            server_key: key(server, "ServerKey")?,
        })
    }

    /// Whether a cleartext password matches.
    pub fn matches(&self, password: &str) -> bool {
        let salted = salted_password(password.as_bytes(), &self.salt, self.iterations);
        constant_time_eq(&sha256(&hmac(&salted, b"Client Key")), &self.stored_key)
    }
}

impl std::fmt::Display for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(self.stored_key),
            B64.encode(self.server_key)
        )
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The server's side of one SCRAM exchange, after the client's first message.
pub struct Exchange {
    client_first_bare: String,
    server_first: String,
    gs2_header: String,
    nonce: String,
}

/// Parses the SASLInitialResponse body (mechanism, length, client-first-message) and
/// answers with the server-first-message.
pub fn start(body: &[u8], verifier: Option<&Verifier>) -> Result<(Exchange, String), String> {
    let nul = body
        .iter()
        .position(|&b| b == 0)
        .ok_or("SASLInitialResponse: mechanism name is not NUL-terminated")?;
    let mechanism = std::str::from_utf8(&body[..nul]).map_err(|_| "SASL mechanism is not UTF-8")?;
    if mechanism != "SCRAM-SHA-256" {
        return Err(format!(
            "SASL mechanism '{mechanism}' is not offered (use SCRAM-SHA-256)"
        ));
    }
    let rest = &body[nul + 1..];
    if rest.len() < 4 {
        return Err("SASLInitialResponse is truncated".into());
    }
    let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let data = &rest[4..];
    if len < 0 || len as usize != data.len() {
        return Err("SASLInitialResponse length does not match its data".into());
    }
    let message = std::str::from_utf8(data).map_err(|_| "client-first-message is not UTF-8")?;
    // gs2-header: "n,," (no channel binding) or "y,," (client could, server did not offer).
    let (gs2_header, bare) = if let Some(bare) = message.strip_prefix("n,,") {
        ("n,,", bare)
    } else if let Some(bare) = message.strip_prefix("y,,") {
        ("y,,", bare)
    } else if message.starts_with("p=") {
        return Err("channel binding is not supported by this server".into());
    } else {
        return Err("client-first-message has no valid GS2 header".into());
    };
    let client_nonce = bare
        .split(',')
        .find_map(|attr| attr.strip_prefix("r="))
        .filter(|n| !n.is_empty())
        .ok_or("client-first-message has no nonce")?;
    // An unknown user gets a made-up salt, so the exchange does not tell whether it exists.
    let (salt, iterations) = match verifier {
        Some(v) => (v.salt.clone(), v.iterations),
        None => (sha256(client_nonce.as_bytes())[..16].to_vec(), DEFAULT_ITERATIONS),
    };
    let server_nonce: [u8; 18] = rand::random();
    let nonce = format!("{client_nonce}{}", B64.encode(server_nonce));
    let server_first = format!("r={nonce},s={},i={iterations}", B64.encode(&salt));
    Ok((
        Exchange {
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
            gs2_header: gs2_header.to_string(),
            nonce,
        },
        server_first,
    ))
}

impl Exchange {
    /// Checks the client-final-message; on success returns the server-final-message.
    /// `Ok(None)` means the password is wrong.
    pub fn finish(&self, body: &[u8], verifier: Option<&Verifier>) -> Result<Option<String>, String> {
        let message = std::str::from_utf8(body).map_err(|_| "client-final-message is not UTF-8")?;
        let (without_proof, proof) = message.rsplit_once(",p=").ok_or("client-final-message has no proof")?;
        let mut binding = None;
        let mut nonce = None;
        for attr in without_proof.split(',') {
            if let Some(c) = attr.strip_prefix("c=") {
                binding = Some(c);
            } else if let Some(r) = attr.strip_prefix("r=") {
                nonce = Some(r);
            }
        }
        if binding != Some(B64.encode(&self.gs2_header).as_str()) {
            return Err("client-final-message has a wrong channel binding".into());
        }
        if nonce != Some(self.nonce.as_str()) {
            return Err("client-final-message has a wrong nonce".into());
        }
        let proof = B64.decode(proof).map_err(|_| "the client proof is not base64")?;
        let Some(v) = verifier else {
            return Ok(None);
        };
        if proof.len() != 32 {
            return Ok(None);
        }
        let auth_message = format!("{},{},{}", self.client_first_bare, self.server_first, without_proof);
        let signature = hmac(&v.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(signature.iter()).map(|(p, s)| p ^ s).collect();
        if !constant_time_eq(&sha256(&client_key), &v.stored_key) {
            return Ok(None);
        }
        let server_signature = hmac(&v.server_key, auth_message.as_bytes());
        Ok(Some(format!("v={}", B64.encode(server_signature))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_round_trips_and_checks_passwords() {
        let v = Verifier::new("s3cret");
        let parsed = Verifier::parse(&v.to_string()).unwrap();
        assert_eq!(parsed, v);
        assert!(v.matches("s3cret"));
        assert!(!v.matches("S3cret"));
    }

    #[test]
    fn text_form_is_postgres_format() {
        let v = Verifier::with_salt("postgres", b"0123456789abcdef", 4096);
        let text = v.to_string();
        assert!(text.starts_with("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$"));
        assert!(Verifier::parse(&text).unwrap().matches("postgres"));
    }

    #[test]
    fn parse_names_the_bad_part() {
        assert!(Verifier::parse("md5abc").unwrap_err().contains("SCRAM-SHA-256$"));
        assert!(
            Verifier::parse("SCRAM-SHA-256$x:AAAA$a:b")
                .unwrap_err()
                .contains("iteration count 'x'")
        );
        assert!(
            Verifier::parse("SCRAM-SHA-256$4096:AAAA$a:b")
                .unwrap_err()
                .contains("StoredKey")
        );
    }

    /// A full exchange with the client side of RFC 5802 written out.
    #[test]
    fn full_exchange() {
        let v = Verifier::new("pencil");
        let client_first = b"n,,n=,r=rOprNGfwEbeRWgbNEkqO";
        let mut body = b"SCRAM-SHA-256\0".to_vec();
        body.extend_from_slice(&(client_first.len() as i32).to_be_bytes());
        body.extend_from_slice(client_first);
        let (ex, server_first) = start(&body, Some(&v)).unwrap();
        let nonce = server_first.split(',').next().unwrap().strip_prefix("r=").unwrap();
        let without_proof = format!("c=biws,r={nonce}");
        let salted = salted_password(b"pencil", &v.salt, v.iterations);
        let client_key = hmac(&salted, b"Client Key");
        let auth = format!("n=,r=rOprNGfwEbeRWgbNEkqO,{server_first},{without_proof}");
        let sig = hmac(&sha256(&client_key), auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(sig.iter()).map(|(a, b)| a ^ b).collect();
        let good = format!("{without_proof},p={}", B64.encode(&proof));
        let server_final = ex.finish(good.as_bytes(), Some(&v)).unwrap().unwrap();
        assert_eq!(
            server_final,
            format!("v={}", B64.encode(hmac(&hmac(&salted, b"Server Key"), auth.as_bytes())))
        );
        let bad = format!("{without_proof},p={}", B64.encode([0u8; 32]));
        assert_eq!(ex.finish(bad.as_bytes(), Some(&v)).unwrap(), None);
        assert!(
            ex.finish(b"c=biws,r=other,p=AAAA", Some(&v))
                .unwrap_err()
                .contains("nonce")
        );
    }
}
