// Webhook deliveries under load, for tests/load/webhooks.sh: a receiver on loopback (answering
// 204 after checking each signature), TENANTS tenants with HOOKS webhooks each pointing at it,
// and interactions recorded at RATE per second for SECONDS. Reports the deliveries received per
// second while the writes ran and until the last arrived, and how long each took from its
// event to its arrival.
//
//   BASE=http://127.0.0.1:18093 SECRET=… TENANTS=10 HOOKS=5 RATE=200 SECONDS=20 node tests/clients/webhook-load.mjs
import crypto from 'node:crypto';
import { createServer } from 'node:http';

const env = process.env;
const base = env.BASE;
const tenants = Number(env.TENANTS ?? 10);
const hooks = Number(env.HOOKS ?? 5);
const rate = Number(env.RATE ?? 200);
const seconds = Number(env.SECONDS ?? 20);

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
function token(tenant) {
  const claims = { sub: 'load', tid: tenant, role: 'ADMIN', name: 'load', exp: Math.floor(Date.now() / 1000) + 7200 };
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${unsigned}.${crypto.createHmac('sha256', env.SECRET).update(unsigned).digest('base64url')}`;
}

async function gql(bearer, query, variables) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${bearer}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

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

const write = 'mutation($c: ID!) { recordInteraction(input: {customerId: $c, kind: CALL, occurredAt: "2026-01-15T08:00:00Z"}) { id } }';
let sent = 0;
let failed = 0;
const started = Date.now();
const perTick = rate / 100;
let owed = 0;
await new Promise((done) => {
  const tick = setInterval(() => {
    if (Date.now() - started >= seconds * 1000) {
      clearInterval(tick);
      done();
      return;
    }
    owed += perTick;
    for (; owed >= 1; owed--) {
      const place = places[sent % tenants];
      sent++;
      gql(place.bearer, write, { c: place.customer }).catch(() => failed++);
    }
  }, 10);
});
const writesEnded = Date.now();
const receivedByEnd = latencies.length;
const expected = (sent - failed) * hooks;
while (latencies.length < expected && Date.now() - writesEnded < 120_000) await new Promise((r) => setTimeout(r, 100));
const drained = Date.now();
latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
console.log(
  JSON.stringify({
    writes: sent,
    failedWrites: failed,
    writesPerSecond: Math.round(sent / seconds),
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
