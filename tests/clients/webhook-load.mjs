// Webhook deliveries under load, for tests/load/webhooks.sh: a receiver on loopback (answering
// 204 after checking each signature), TENANTS tenants with HOOKS webhooks each pointing at it,
// and interactions recorded at RATE per second for SECONDS. Reports the deliveries received per
// second while the writes ran and until the last arrived, and how long each took from its
// event to its arrival.
//
//   BASE=http://127.0.0.1:18093 SECRET=… TENANTS=10 HOOKS=5 RATE=200 SECONDS=20 node tests/clients/webhook-load.mjs
import crypto from 'node:crypto';
import { createServer } from 'node:http';
import { RECORD, gql as call, paced, token as sign } from './load.mjs';

const env = process.env;
const base = env.BASE;
const tenants = Number(env.TENANTS ?? 10);
const hooks = Number(env.HOOKS ?? 5);
const rate = Number(env.RATE ?? 200);
const seconds = Number(env.SECONDS ?? 20);
const token = (tenant) => sign(env.SECRET, tenant);
const gql = (bearer, query, variables) => call(base, bearer, query, variables);


const secrets = new Set();
const latencies = [];
let bad = 0;
let duplicates = 0;
const seen = new Set();
const receiver = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks);
    const header = req.headers['guanxi-signature'] ?? '';
    const parts = header.split(',').map((p) => p.split('='));
    const t = parts.find(([k]) => k === 't')?.[1];
    const ok = [...secrets].some((s) => {
      const expected = crypto.createHmac('sha256', s).update(`${t}.`).update(raw).digest('hex');
      return parts.some(([k, v]) => k === 'v1' && v === expected);
    });
    if (!ok) bad++;
    const body = JSON.parse(raw.toString('utf8'));
    const key = `${req.url} ${body.id}`;
    if (seen.has(key)) duplicates++;
    seen.add(key);
    latencies.push(Date.now() - Date.parse(body.occurredAt));
    res.writeHead(204).end();
  });
});
await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
const port = receiver.address().port;

const places = [];
for (let t = 0; t < tenants; t++) {
  const bearer = token(`hooks-${t}`);
  for (let h = 0; h < hooks; h++) {
    const made = await gql(bearer, 'mutation($u: String!) { createWebhook(input: {url: $u, events: ["interaction.recorded"]}) { secret } }', {
      u: `http://127.0.0.1:${port}/t${t}/h${h}`,
    });
    secrets.add(made.createWebhook.secret);
  }
  const created = await gql(bearer, 'mutation { createCustomer(input: {kind: ORGANIZATION, name: "负载客户"}) { id } }');
  places.push({ bearer, customer: created.createCustomer.id });
}
console.log(JSON.stringify({ ready: tenants * hooks }));

const started = Date.now();
const counts = await paced(rate, seconds, (n) => {
  const place = places[n % tenants];
  return gql(place.bearer, RECORD, { c: place.customer });
});
const writesEnded = Date.now();
const receivedByEnd = latencies.length;
const expected = (counts.sent - counts.failed) * hooks;
while (latencies.length < expected && Date.now() - writesEnded < 120_000) await new Promise((r) => setTimeout(r, 100));
const drained = Date.now();
latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
console.log(
  JSON.stringify({
    writes: counts.sent,
    failedWrites: counts.failed,
    writesPerSecond: Math.round(counts.sent / seconds),
    expectedDeliveries: expected,
    deliveries: latencies.length,
    duplicates,
    badSignatures: bad,
    deliveriesPerSecondWhileWriting: Math.round(receivedByEnd / seconds),
    deliveriesPerSecondOverall: Math.round(latencies.length / ((drained - started) / 1000)),
    drainSeconds: (drained - writesEnded) / 1000,
    p50ms: at(0.5),
    p90ms: at(0.9),
    p99ms: at(0.99),
  }),
);
process.exit(0);
