//! The PostgreSQL frontend/backend protocol (v3), as bytes: [`codec`] decodes what clients
//! send, [`backend`] encodes what the server sends.
//!
//! Pure and synchronous, with no dependency but `bytes`, so the decoder can be fuzzed on its
//! own (`fuzz/`) and reasoned about apart from sockets and sessions. Invariant: no input makes
//! the decoder panic or buffer more than the limit it is given.

pub mod backend;
pub mod codec;
