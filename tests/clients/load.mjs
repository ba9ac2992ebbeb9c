// What the load drivers (subscribers.mjs, webhook-load.mjs) share: tokens, GraphQL calls and
// writes at a fixed rate.
import crypto from 'node:crypto';

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

/// An ADMIN token of `user` in `tenant`, signed with `secret` (HS256), valid for two hours.
export function token(secret, tenant, user = 'load') {
  const claims = { sub: user, tid: tenant, role: 'ADMIN', name: user, exp: Math.floor(Date.now() / 1000) + 7200 };
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${unsigned}.${crypto.createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

/// The data of a GraphQL request to `base`; throws on errors.
export async function gql(base, bearer, query, variables) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${bearer}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

/// Calls `write(n)` `rate` times a second for `seconds` (every 10 ms, without waiting for the
/// answers); resolves with counts of those sent and failed, which go on counting the failures
/// of answers still to come.
export async function paced(rate, seconds, write) {
  const counts = { sent: 0, failed: 0 };
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
        write(counts.sent++).catch(() => counts.failed++);
      }
    }, 10);
  });
  return counts;
}

/// The interaction both drivers record.
export const RECORD =
  'mutation($c: ID!) { recordInteraction(input: {customerId: $c, kind: CALL, occurredAt: "2026-01-15T08:00:00Z"}) { id } }';
