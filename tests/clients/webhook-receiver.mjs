// A webhook receiver as an integrator would write one in Node.js: it checks Guanxi-Signature
// against the secrets it was given and answers 204 when one matches, 401 otherwise. It prints
// {"listening": port} once, then one JSON line per delivery. Secrets come one per line on
// stdin (the test registers the webhook after the receiver listens). Driven by
// tests/api/webhooks.rs.
//
//   node tests/clients/webhook-receiver.mjs   # then type the webhook's secret and Enter
import { createServer } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createInterface } from 'node:readline';

const secrets = [];
createInterface({ input: process.stdin }).on('line', (line) => line.trim() && secrets.push(line.trim()));

// The verification docs/api.md gives: some v1 is HMAC-SHA256 of "<t>.<raw body>" under a known
// secret, and t is within five minutes.
function verify(rawBody, header, secret) {
  const parts = header.split(',').map((p) => p.split('='));
  const t = Number(parts.find(([k]) => k === 't')?.[1]);
  if (!Number.isFinite(t) || Math.abs(Date.now() / 1000 - t) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${t}.`).update(rawBody).digest();
  return parts
    .filter(([k]) => k === 'v1')
    .some(([, v]) => {
      const got = Buffer.from(v, 'hex');
      return got.length === expected.length && timingSafeEqual(got, expected);
    });
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks);
    const header = req.headers['guanxi-signature'] ?? '';
    const verified = secrets.some((s) => verify(raw, header, s));
    let body = null;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {}
    console.log(JSON.stringify({ eventId: req.headers['guanxi-event-id'], verified, body }));
    res.writeHead(verified ? 204 : 401).end();
  });
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ listening: server.address().port })));
