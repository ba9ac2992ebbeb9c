// Apollo Client as a web app sets it up against Guanxi: a query, a mutation retried with the same
// Idempotency-Key, and automatic persisted queries (APQ) over GET, then a retried mutation
// through APQ. Prints one JSON line per step with the HTTP requests the step made, and stops at
// the first step that fails. Driven by tests/api/clients.rs.
//
//   GUANXI_URL=http://127.0.0.1:8080/graphql GUANXI_TOKEN=… node tests/clients/apollo.mjs
import { createHash, randomUUID } from 'node:crypto';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client/core';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';

const { GUANXI_URL: uri, GUANXI_TOKEN: token } = process.env;
if (!uri || !token) {
  console.error('set GUANXI_URL and GUANXI_TOKEN');
  process.exit(2);
}

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

/**
 * A client with a cache of its own, as a new browser tab has; each request it sends is noted in
 * `requests`: whether it carried the document (`query`) and its hash, and what came back.
 */
function client(requests, { persisted = false } = {}) {
  const http = new HttpLink({
    uri,
    headers: { authorization: `Bearer ${token}` },
    fetch: async (url, init) => {
      const response = await fetch(url, init);
      const sent = init.body ? JSON.parse(init.body) : Object.fromEntries(new URL(url).searchParams);
      const extensions = typeof sent.extensions === 'string' ? JSON.parse(sent.extensions) : sent.extensions;
      const answer = await response.clone().json().catch(() => null);
      requests.push({
        method: init.method,
        query: Boolean(sent.query),
        hash: Boolean(extensions?.persistedQuery),
        status: response.status,
        code: answer?.errors?.[0]?.extensions?.code ?? null,
        etag: response.headers.get('etag'),
        replayed: response.headers.get('idempotent-replayed'),
      });
      return response;
    },
  });
  const link = persisted ? new PersistedQueryLink({ sha256, useGETForHashedQueries: true }).concat(http) : http;
  return new ApolloClient({ link, cache: new InMemoryCache() });
}

/** Prints what `run` returns as the step's JSON line, with its requests; a failure ends the script. */
async function step(name, run) {
  const requests = [];
  try {
    console.log(JSON.stringify({ step: name, ...(await run(requests)), requests }));
  } catch (error) {
    console.log(JSON.stringify({ step: name, error: String(error?.message ?? error), requests }));
    process.exit(1);
  }
}

const CUSTOMERS = gql`
  query Customers {
    customers(first: 10) { totalCount nodes { id name tier lifecycleStage } }
  }
`;
const CREATE = gql`
  mutation Create($input: CreateCustomerInput!) {
    createCustomer(input: $input) { id name }
  }
`;
const NAMED = gql`
  query Named($name: String!) {
    customers(filter: { name: { eq: $name } }) { totalCount }
  }
`;
// Sent only through APQ, so that the server cannot know its hash from another step.
const PERSISTED = gql`
  query Persisted {
    customers(first: 10) { nodes { id name } }
  }
`;

/**
 * Creates the customer `name` through `apollo`, then sends the same mutation again with the same
 * Idempotency-Key, as a client that never got the first answer retries; counts the customers
 * so named afterwards.
 */
async function createAndRetry(apollo, name) {
  const key = randomUUID();
  const ids = [];
  for (let send = 0; send < 2; send++) {
    const { data } = await apollo.mutate({
      mutation: CREATE,
      variables: { input: { kind: 'ORGANIZATION', name } },
      context: { headers: { 'Idempotency-Key': key } },
    });
    ids.push(data.createCustomer.id);
  }
  const { data } = await client([]).query({ query: NAMED, variables: { name } });
  return { ids, made: data.customers.totalCount };
}

await step('query', async (requests) => {
  const { data } = await client(requests).query({ query: CUSTOMERS });
  return { data };
});

await step('mutation', (requests) => createAndRetry(client(requests), 'Apollo 贸易'));

await step('apq-first', async (requests) => {
  const { data } = await client(requests, { persisted: true }).query({ query: PERSISTED });
  return { data };
});

await step('apq-second', async (requests) => {
  const { data } = await client(requests, { persisted: true }).query({ query: PERSISTED });
  return { data };
});

// An app with APQ sends its mutations through it too (hash alone first, by POST).
await step('apq-mutation', (requests) => createAndRetry(client(requests, { persisted: true }), 'Apollo 持久'));
