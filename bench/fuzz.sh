#!/usr/bin/env bash
# Fuzzes the proxy's message decoder (crates/wire) with cargo-fuzz (libFuzzer) for a bounded
# time, e.g. bench/fuzz.sh 120. Installs cargo-fuzz from crates.io when missing. The machine's
# toolchain is stable, so RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z sanitizer flags.
# The same checks also run, deterministically and without libFuzzer, in
# `cargo test -p strata-wire` (crates/wire/tests/random_input.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-/var/cache/strata/target-fuzz}"
cd fuzz
mkdir -p corpus/decode
cargo fuzz run decode corpus/decode -- -max_total_time="$seconds" -max_len=4096 2>&1 | tail -n 15
