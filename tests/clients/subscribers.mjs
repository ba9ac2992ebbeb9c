// Many subscribers at once, for tests/load/subscriptions.sh: opens SOCKETS sockets (one
// subscription each) spread over TENANTS tenants, then either holds them (`idle`, until killed)
// or records interactions at RATE per second for SECONDS and reports how long each change took
// from its write to its push (`latency`), or records one interaction per tenant, then only
// listens to events something else commits until it writes their number to EVENTS_FILE (and 3 s
// more), and reports the same (`listen`).
//
//   BASE=http://127.0.0.1:18092 SECRET=… SOCKETS=1000 TENANTS=100 RATE=500 SECONDS=20 \
//     node tests/clients/subscribers.mjs latency
import { existsSync, readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { RECORD, gql as call, paced, token as sign } from './load.mjs';

const mode = process.argv[2];
const env = process.env;
const base = env.BASE;
const sockets = Number(env.SOCKETS ?? 1000);
const tenants = Number(env.TENANTS ?? 10);
const rate = Number(env.RATE ?? 500);
const seconds = Number(env.SECONDS ?? 20);
const token = (tenant, user) => sign(env.SECRET, tenant, user);
const gql = (bearer, query, variables) => call(base, bearer, query, variables);


// A socket with one subscription, resolved once the server has handled it (the pong after it).
function subscribe(bearer, query, variables, onNext) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${bearer}` } })));
    ws.on('message', (data) => {
      const message = JSON.parse(data);
      if (message.type === 'connection_ack') {
        ws.send(JSON.stringify({ type: 'subscribe', id: '1', payload: { query, variables } }));
        ws.send(JSON.stringify({ type: 'ping' }));
      } else if (message.type === 'pong') {
        resolve(ws);
      } else if (message.type === 'next') {
        onNext(message.payload);
      } else if (message.type === 'error') {
        reject(new Error(JSON.stringify(message.payload)));
      }
    });
    ws.on('close', (code, reason) => reject(new Error(`closed ${code} ${reason}`)));
    ws.on('error', reject);
  });
}

// In `listen` mode the events are committed by someone else, who writes how many to EVENTS_FILE
// once done.
async function committedElsewhere() {
  for (;;) {
    const written = existsSync(env.EVENTS_FILE) ? readFileSync(env.EVENTS_FILE, 'utf8').trim() : '';
    if (written) return { sent: Number(written), failed: 0 };
    await new Promise((r) => setTimeout(r, 200));
  }
}

const places = [];
for (let t = 0; t < tenants; t++) {
  const bearer = token(`load-${t}`);
  const created = await gql(bearer, 'mutation { createCustomer(input: {kind: ORGANIZATION, name: "负载客户"}) { id } }');
  places.push({ bearer, customer: created.createCustomer.id });
  if (mode === 'listen') await gql(bearer, RECORD, { c: created.createCustomer.id });
}

const latencies = [];
const query = 'subscription($c: ID) { interactionRecorded(customerId: $c) { eventId at interaction { kind } } }';
const onNext = (payload) => {
  const at = payload?.data?.interactionRecorded?.at;
  if (at) latencies.push(Date.now() - Date.parse(at));
};
const opened = [];
for (let i = 0; i < sockets; i += 200) {
  const batch = [];
  for (let j = i; j < Math.min(i + 200, sockets); j++) {
    const place = places[j % tenants];
    // A user holds at most 20 sockets on a server: ten sockets per user.
    const bearer = token(`load-${j % tenants}`, `subscriber-${Math.floor(j / 10)}`);
    batch.push(subscribe(bearer, query, { c: place.customer }, onNext));
  }
  opened.push(...(await Promise.all(batch)));
}
console.log(JSON.stringify({ ready: opened.length }));

if (mode === 'latency' || mode === 'listen') {
  const counts =
    mode === 'latency'
      ? await paced(rate, seconds, (n) => {
          const place = places[n % tenants];
          return gql(place.bearer, RECORD, { c: place.customer });
        })
      : await committedElsewhere();
  await new Promise((r) => setTimeout(r, 3000));
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  const expected = counts.sent * (sockets / tenants);
  console.log(
    JSON.stringify({
      writes: counts.sent,
      failedWrites: counts.failed,
      writesPerSecond: Math.round(counts.sent / seconds),
      pushes: latencies.length,
      expectedPushes: expected,
      p50ms: at(0.5),
      p90ms: at(0.9),
      p99ms: at(0.99),
      maxMs: latencies[latencies.length - 1],
    }),
  );
  for (const ws of opened) ws.terminate();
  process.exit(0);
}
// idle: held until killed.
setInterval(() => {}, 1 << 30);
