#!/usr/bin/env node
// End-to-end client scenario for Strata, driven by node-postgres (pg).
//
//   node tests/clients/node/scenario.js        (after scripts/clients.sh has run npm ci here)
//
// Connection from STRATA_HOST, STRATA_PORT, STRATA_USER, STRATA_PASSWORD, STRATA_DBNAME,
// STRATA_SSLMODE (disable | require); SQL from STRATA_METRIC_SQL, STRATA_METRIC_COLUMNS,
// STRATA_BAD_SQL, STRATA_BAD_SQLSTATE, STRATA_SLOW_SQL (optional: empty skips the cancel step)
// and STRATA_SERIES_SQL. See tests/clients/README.md.
//
// Prints `ok <step>` (or `skip <step>`) per step on stdout; on failure prints
// `FAIL <step>: ...` to stderr and exits 1 (2 when a step hangs past its deadline, 3 for a bad
// environment).
'use strict';

const net = require('net');

const STEP_DEADLINE_MS = 30000;
const CANCEL_AFTER_MS = 500;
const CANCEL_WITHIN_MS = 10000;

let currentStep = 'setup';
let deadline = null;

class Failure extends Error {}

function fail(message) {
  throw new Failure(message);
}

function begin(step) {
  currentStep = step;
  deadline = setTimeout(() => {
    process.stderr.write(`FAIL ${step}: still running after ${STEP_DEADLINE_MS / 1000} s\n`, () => process.exit(2));
  }, STEP_DEADLINE_MS);
}

function ok() {
  clearTimeout(deadline);
  deadline = null;
  process.stdout.write(`ok ${currentStep}\n`);
}

function env(name, { required = true, dflt = null } = {}) {
  const v = process.env[name];
  if (v === undefined || v === '') {
    if (dflt !== null) return dflt;
    if (required) {
      process.stderr.write(`FAIL setup: environment variable ${name} is not set\n`);
      process.exit(3);
    }
    return '';
  }
  return v;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function describe(e) {
  return `SQLSTATE ${e.code} (${e.message})`;
}

// Integers may arrive as numbers (int2/int4) or strings (int8, numeric): compare by value.
function intValue(v) {
  return typeof v === 'number' ? v : Number(v);
}

async function singleInt(client, sql) {
  const res = await client.query(sql);
  if (res.rows.length !== 1) fail(`${sql} returned ${res.rows.length} rows, expected 1`);
  if (res.fields.length !== 1) fail(`${sql} returned ${res.fields.length} columns, expected 1`);
  return intValue(res.rows[0][res.fields[0].name]);
}

// node-postgres has no cancel API: send the CancelRequest (int32 16, int32 80877102, int32
// process id, int32 secret key) on a new plain socket to the same host and port, as libpq does.
function sendCancelRequest(host, port, processID, secretKey) {
  return new Promise((resolve, reject) => {
    const buf = Buffer.alloc(16);
    buf.writeInt32BE(16, 0);
    buf.writeInt32BE(80877102, 4);
    buf.writeInt32BE(processID, 8);
    buf.writeInt32BE(secretKey, 12);
    const sock = net.connect({ host, port: Number(port) }, () => {
      sock.end(buf);
    });
    sock.setTimeout(10000, () => {
      sock.destroy();
      reject(new Error('the cancel connection timed out'));
    });
    sock.on('error', reject);
    // The server answers nothing and closes the connection.
    sock.on('close', () => resolve());
    sock.resume();
  });
}

async function run() {
  const host = env('STRATA_HOST');
  const port = env('STRATA_PORT');
  const user = env('STRATA_USER');
  const password = env('STRATA_PASSWORD', { required: false });
  const dbname = env('STRATA_DBNAME');
  const sslmode = env('STRATA_SSLMODE', { dflt: 'disable' });
  if (sslmode !== 'disable' && sslmode !== 'require') {
    process.stderr.write(`FAIL setup: STRATA_SSLMODE must be disable or require, not ${sslmode}\n`);
    process.exit(3);
  }
  const metricSql = env('STRATA_METRIC_SQL');
  const metricColumns = env('STRATA_METRIC_COLUMNS').split(',').map((c) => c.trim());
  const badSql = env('STRATA_BAD_SQL');
  const badSqlstate = env('STRATA_BAD_SQLSTATE');
  const slowSql = env('STRATA_SLOW_SQL', { required: false });
  const seriesSql = env('STRATA_SERIES_SQL');

  let pg;
  try {
    pg = require('pg');
  } catch (e) {
    process.stderr.write(`FAIL setup: cannot load pg (${e.message}); run scripts/clients.sh\n`);
    process.exit(3);
  }

  // a. connect
  begin('connect');
  const client = new pg.Client({
    host,
    port: Number(port),
    user,
    password,
    database: dbname,
    // require = encrypted, certificate not verified (as libpq's sslmode=require).
    ssl: sslmode === 'require' ? { rejectUnauthorized: false } : false,
    connectionTimeoutMillis: 10000,
    application_name: 'strata-client-scenario-node',
  });
  let clientError = null;
  client.on('error', (e) => {
    clientError = e;
  });
  await client.connect();
  const stream = client.connection.stream;
  if (sslmode === 'require' && stream.encrypted !== true) {
    fail('sslmode=require but the connection is not a TLS socket');
  }
  if (sslmode === 'disable' && stream.encrypted === true) {
    fail('sslmode=disable but the connection is encrypted');
  }
  if (typeof client.processID !== 'number' || typeof client.secretKey !== 'number') {
    fail(`no BackendKeyData: processID=${client.processID} secretKey=${client.secretKey}`);
  }
  ok();

  // b. select 1
  begin('select_1');
  {
    const v = await singleInt(client, 'select 1');
    if (v !== 1) fail(`select 1 returned ${v}`);
  }
  ok();

  // c. the metric query
  begin('metric');
  {
    const res = await client.query(metricSql);
    const names = res.fields.map((f) => f.name);
    if (JSON.stringify(names) !== JSON.stringify(metricColumns)) {
      fail(`the metric query's columns are ${JSON.stringify(names)}, expected ${JSON.stringify(metricColumns)}`);
    }
    if (res.rows.length < 1) fail('the metric query returned no rows');
  }
  ok();

  // d. parameters: a query with values goes through Parse/Bind/Execute (extended protocol);
  // a named query object makes a named prepared statement, reused on its second run.
  begin('params');
  {
    let res = await client.query('select $1::integer + 1 as n', [41]);
    if (res.rows.length !== 1 || intValue(res.rows[0].n) !== 42) {
      fail(`select 41::integer + 1 returned ${JSON.stringify(res.rows)}, expected [{"n":42}]`);
    }
    res = await client.query('select $1::text as s', ["O'Reilly"]);
    if (res.rows.length !== 1 || res.rows[0].s !== "O'Reilly") {
      fail(`select 'O''Reilly'::text returned ${JSON.stringify(res.rows)}`);
    }
    for (const i of [1, 2]) {
      res = await client.query({ name: 'strata_scenario_double', text: 'select $1::integer * 2 as n', values: [i] });
      if (res.rows.length !== 1 || intValue(res.rows[0].n) !== i * 2) {
        fail(`prepared select ${i}::integer * 2 returned ${JSON.stringify(res.rows)}, expected [{"n":${i * 2}}]`);
      }
    }
  }
  ok();

  // e. an error, then the same connection still works
  begin('error');
  {
    let failed = null;
    try {
      await client.query(badSql);
    } catch (e) {
      failed = e;
    }
    if (failed === null) fail(`the bad query succeeded; expected SQLSTATE ${badSqlstate}`);
    if (failed.code !== badSqlstate) fail(`the bad query failed with ${describe(failed)}, expected ${badSqlstate}`);
    if (clientError !== null) fail(`the connection broke: ${clientError.message}`);
    const v = await singleInt(client, 'select 2');
    if (v !== 2) fail(`select 2 after the error returned ${v}`);
  }
  ok();

  // f. cancel a slow query with a CancelRequest on a second socket
  if (slowSql === '') {
    currentStep = 'cancel';
    process.stdout.write('skip cancel\n');
  } else {
    begin('cancel');
    let cancelledAt = null;
    let cancelError = null;
    const query = client.query(slowSql).then(
      () => ({ ok: true, at: Date.now() }),
      (e) => ({ ok: false, error: e, at: Date.now() }),
    );
    const canceller = sleep(CANCEL_AFTER_MS).then(async () => {
      cancelledAt = Date.now();
      try {
        await sendCancelRequest(host, port, client.processID, client.secretKey);
      } catch (e) {
        cancelError = e;
      }
    });
    const outcome = await query;
    await canceller;
    if (cancelError !== null) fail(`sending the CancelRequest failed: ${cancelError.message}`);
    if (outcome.ok) fail('the slow query completed; expected it to be cancelled with SQLSTATE 57014');
    if (outcome.error.code !== '57014') fail(`the slow query failed with ${describe(outcome.error)}, expected 57014`);
    if (cancelledAt === null || outcome.at < cancelledAt) fail('the slow query failed with 57014 before it was cancelled');
    if (outcome.at - cancelledAt > CANCEL_WITHIN_MS) {
      fail(`the query ended ${outcome.at - cancelledAt} ms after the cancel, more than ${CANCEL_WITHIN_MS} ms`);
    }
    const v = await singleInt(client, 'select 3');
    if (v !== 3) fail(`select 3 after the cancel returned ${v}`);
    ok();
  }

  // g. the five-row series, in order (a plain query: pg reads the whole result)
  begin('fetch');
  {
    const res = await client.query({ text: seriesSql, rowMode: 'array' });
    if (res.fields.length !== 1) fail(`the series query should return one column, got ${res.fields.length}`);
    const values = res.rows.map((r) => intValue(r[0]));
    if (JSON.stringify(values) !== JSON.stringify([1, 2, 3, 4, 5])) {
      fail(`the series query returned ${JSON.stringify(res.rows.map((r) => r[0]))}, expected [1,2,3,4,5]`);
    }
  }
  ok();

  // h. close
  begin('close');
  await client.end();
  if (clientError !== null) fail(`the connection reported an error: ${clientError.message}`);
  ok();
}

run().then(
  () => process.exit(0),
  (e) => {
    let msg;
    if (e instanceof Failure) msg = e.message;
    else if (e && typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) msg = `${e.constructor.name}: ${describe(e)}`;
    else if (e instanceof Error) msg = `${e.name}: ${e.message}`;
    else msg = String(e);
    if (process.env.STRATA_DEBUG && e && e.stack) msg += `\n${e.stack}`;
    process.stderr.write(`FAIL ${currentStep}: ${msg}\n`, () => process.exit(1));
  },
);
