#!/usr/bin/env bash
# Installs the real PostgreSQL clients that Strata's end-to-end client scenarios
# (tests/clients/) drive against a live `strata serve`:
#
#   scripts/clients.sh
#
#   - psycopg 3 for the `python3` on PATH      (pip install "psycopg[binary]"; skipped if importable)
#   - the PostgreSQL JDBC driver                (Debian's libpostgresql-jdbc-java, which provides
#                                                /usr/share/java/postgresql.jar; skipped if present)
#   - node-postgres (pg, pinned in package-lock.json) in tests/clients/node/node_modules
#                                               (npm ci; skipped when node_modules matches the lock)
#
# psql (postgresql-client), Java 17, node 20 and python 3 are expected on the machine already; a
# missing one is reported, and installed from Debian when running as root (postgresql-client,
# default-jdk-headless, nodejs + npm). Idempotent: a second run changes nothing. Everything is
# logged to stderr. Exits non-zero when something could not be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "clients.sh: $*" >&2; }
is_root() { [ "$(id -u)" -eq 0 ]; }

apt_updated=0
apt_install() {
  if ! is_root; then
    log "need root to apt-get install $*"
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    apt-get update -qq >&2
    apt_updated=1
  fi
  log "apt-get install $*"
  apt-get install -y -qq --no-install-recommends "$@" >&2
}

# --- tools the scenarios run -----------------------------------------------------------------
command -v psql >/dev/null 2>&1 || apt_install postgresql-client
command -v java >/dev/null 2>&1 || apt_install default-jdk-headless
command -v node >/dev/null 2>&1 || apt_install nodejs
command -v npm >/dev/null 2>&1 || apt_install npm
command -v python3 >/dev/null 2>&1 || apt_install python3 python3-pip

# --- psycopg 3 -------------------------------------------------------------------------------
if python3 -c 'import psycopg' >/dev/null 2>&1; then
  log "psycopg already installed: $(python3 -c 'import psycopg; print(psycopg.__version__)')"
else
  log "installing psycopg[binary] for $(command -v python3)"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    apt_install python3-pip
  fi
  # Debian's own python3 is "externally managed" (PEP 668); a pyenv/venv python is not.
  export PIP_ROOT_USER_ACTION=ignore
  if ! python3 -m pip install -q --disable-pip-version-check "psycopg[binary]>=3.1,<4" >&2; then
    log "plain pip install refused; retrying with --break-system-packages"
    python3 -m pip install -q --disable-pip-version-check --break-system-packages \
      "psycopg[binary]>=3.1,<4" >&2
  fi
  # pyenv shims need a rehash for console scripts; harmless otherwise.
  command -v pyenv >/dev/null 2>&1 && pyenv rehash >/dev/null 2>&1 || true
  python3 -c 'import psycopg' || { log "psycopg still not importable"; exit 1; }
  log "psycopg $(python3 -c 'import psycopg; print(psycopg.__version__)') installed"
fi

# --- PostgreSQL JDBC driver ------------------------------------------------------------------
if [ -f /usr/share/java/postgresql.jar ]; then
  log "JDBC driver already installed: /usr/share/java/postgresql.jar"
else
  apt_install libpostgresql-jdbc-java
  [ -f /usr/share/java/postgresql.jar ] || { log "no /usr/share/java/postgresql.jar after install"; exit 1; }
fi

# --- node-postgres ---------------------------------------------------------------------------
node_dir=tests/clients/node
# npm ci writes node_modules/.package-lock.json; when it equals the lock's packages, skip.
if [ -d "$node_dir/node_modules/pg" ] && node -e '
    const fs = require("fs");
    const want = JSON.parse(fs.readFileSync(process.argv[1] + "/package-lock.json")).packages;
    const have = JSON.parse(fs.readFileSync(process.argv[1] + "/node_modules/.package-lock.json")).packages;
    for (const [k, v] of Object.entries(want)) {
      if (k === "") continue;
      if (!have[k] || have[k].version !== v.version) process.exit(1);
    }
  ' "$node_dir" >/dev/null 2>&1; then
  log "node-postgres already installed in $node_dir/node_modules"
else
  log "npm ci in $node_dir"
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
(cd "$node_dir" && node -e 'require("pg")') || { log "pg not loadable in $node_dir"; exit 1; }
log "node-postgres $(cd "$node_dir" && node -p 'require("pg/package.json").version') ready"

log "all clients installed"
