'use strict';

// The workloads of the peer comparison, for a Node event store. A store
// script (bakerface.js, castore.js) gives run() an adapter:
//
//   setup()                                   create the table
//   append(aggregateId, version, events)      one commit; version is 0-based;
//                                             resolves true, or false on a
//                                             version conflict
//   readAggregate(aggregateId)                resolves to the events read
//   readAll(concurrency)                      resolves to the number of events
//                                             in the whole store
//
// The Go driver (main.go) runs the same workloads on eventstore: see
// ours.go, which this file mirrors. It passes the workload as JSON in a
// file, and the URL of DynamoDB Local (--endpoint: DynamoDB Local itself
// in the measured runs, the driver's counting proxy in the counting run)
// and of the driver (--control), which this runner tells the phase it is
// in and which reads DynamoDB Local's CPU time per phase. The result, with the
// time and CPU time of each phase, is one JSON line on stdout.

const fs = require('node:fs');
const { performance } = require('node:perf_hooks');

function parseArgs(argv) {
  const args = {};
  for (let i = 2; i < argv.length; i += 2) {
    args[argv[i].replace(/^--/, '')] = argv[i + 1];
  }
  for (const name of ['endpoint', 'workload', 'table']) {
    if (!args[name]) {
      throw new Error(`missing --${name}`);
    }
  }
  return args;
}

// events returns n events; event k has type types[k % types.length] and
// data payloads[k % payloads.length], as benchmarks.Events in Go.
function makeEvents(w, start, n) {
  const events = [];
  for (let i = 0; i < n; i++) {
    const k = start + i;
    events.push({ type: w.types[k % w.types.length], data: w.payloads[k % w.payloads.length] });
  }
  return events;
}

// forEach calls fn(i) for i in [0, n) with at most concurrency calls at a time.
async function forEach(n, concurrency, fn) {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}

async function run(adapter) {
  const args = parseArgs(process.argv);
  const w = JSON.parse(fs.readFileSync(args.workload, 'utf8'));
  const phase = async (name) => {
    const res = await fetch(`${args.control || args.endpoint}/_bench/phase`, { method: 'POST', body: name });
    if (!res.ok) {
      throw new Error(`phase ${name}: ${res.status}`);
    }
  };
  const phases = [];
  const timed = async (name, commits, events, fn) => {
    await phase(name);
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    const extra = (await fn()) || {};
    const seconds = (performance.now() - start) / 1000;
    const used = process.cpuUsage(cpuStart);
    await phase('');
    phases.push({ name, commits, events, seconds, cpu: (used.user + used.system) / 1e6, ok: true, ...extra });
  };
  const mustAppend = async (id, version, events) => {
    if (!(await adapter.append(id, version, events))) {
      throw new Error(`append ${id} v${version}: unexpected version conflict`);
    }
  };

  await adapter.setup(args);

  // The untimed warm-up, on aggregates of its own, so that no timed phase
  // pays for this process's start (JIT, SDK, connections).
  const { warm } = w;
  await forEach(warm.singles, w.concurrency, (i) => mustAppend(`warm-1-${i}`, 0, makeEvents(w, i, 1)));
  await forEach(warm.groups, w.concurrency, (i) =>
    mustAppend(`warm-${warm.events}-${i}`, 0, makeEvents(w, i * warm.events, warm.events)));
  for (let v = 0; v < warm.versions; v++) {
    await mustAppend('warm-seq', v, makeEvents(w, v, 1));
  }
  for (let r = 0; r < warm.reads; r++) {
    const events = await adapter.readAggregate('warm-seq');
    if (events.length !== warm.versions) {
      throw new Error(`warm-up: read ${events.length} of ${warm.versions} events`);
    }
  }

  const { w1a, w1b, w2, w3, w5 } = w;
  await timed('W1a', w1a.aggregates, w1a.aggregates, () =>
    forEach(w1a.aggregates, w.concurrency, (i) => mustAppend(`w1a-${i}`, 0, makeEvents(w, i, 1))));

  await timed('W1b', w1b.aggregates * w1b.commits, w1b.aggregates * w1b.commits, () =>
    forEach(w1b.aggregates, w.concurrency, async (i) => {
      for (let v = 0; v < w1b.commits; v++) {
        await mustAppend(`w1b-${i}`, v, makeEvents(w, i * w1b.commits + v, 1));
      }
    }));

  await timed('W2', w2.commits, w2.commits * w2.events, () =>
    forEach(w2.commits, w.concurrency, (i) => mustAppend(`w2-${i}`, 0, makeEvents(w, i * w2.events, w2.events))));

  await timed('W3write', w3.aggregates * w3.events, w3.aggregates * w3.events, async () => {
    for (let a = 0; a < w3.aggregates; a++) {
      for (let v = 0; v < w3.events; v++) {
        await mustAppend(`w3-${a}`, v, makeEvents(w, v, 1));
      }
    }
  });

  await timed('W3', w3.reads * w3.events, w3.reads * w3.events, async () => {
    let short = 0;
    for (let r = 0; r < w3.reads; r++) {
      const events = await adapter.readAggregate('w3-0');
      if (events.length !== w3.events) {
        short = events.length;
      }
    }
    return short ? { ok: false, note: `read ${short} of ${w3.events} events` } : {};
  });

  // Everything written so far, the warm-up's too, as workload.written in main.go.
  const written = warm.singles + warm.groups * warm.events + warm.versions +
    w1a.aggregates + w1b.aggregates * w1b.commits + w2.commits * w2.events + w3.aggregates * w3.events;
  const w4reads = Math.max(1, (w.w4 && w.w4.reads) || 1);
  await timed('W4', 0, written * w4reads, async () => {
    for (let r = 0; r < w4reads; r++) {
      const n = await adapter.readAll(w.concurrency);
      if (n !== written) {
        return { ok: false, note: `read ${n} of ${written} events` };
      }
    }
    return {};
  });

  await timed('W5', w5.rounds, w5.rounds, async () => {
    let roundsOk = 0;
    let wins = 0;
    let conflicts = 0;
    let errors = 0;
    let lastError = '';
    for (let r = 0; r < w5.rounds; r++) {
      const outcomes = await Promise.all(Array.from({ length: w5.writers }, (_, k) =>
        adapter.append('w5', r, makeEvents(w, r * w5.writers + k, 1)).then(
          (won) => (won ? 'won' : 'conflict'),
          (err) => { lastError = String(err && err.message); return 'error'; })));
      const n = outcomes.filter((o) => o === 'won').length;
      wins += n;
      conflicts += outcomes.filter((o) => o === 'conflict').length;
      errors += outcomes.filter((o) => o === 'error').length;
      if (n === 1) {
        roundsOk++;
      }
    }
    const ok = roundsOk === w5.rounds && errors === 0;
    const note = `${roundsOk}/${w5.rounds} rounds with one winner; ${wins} wins, ${conflicts} conflicts, ${errors} other errors` +
      (lastError ? ` (${lastError})` : '');
    return { ok, note, roundsOk };
  });

  process.stdout.write(JSON.stringify({ phases }) + '\n');
}

function main(adapter) {
  run(adapter).catch((err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  });
}

module.exports = { main, makeEvents };
