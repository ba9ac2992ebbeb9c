// Subscribes with the graphql-ws client (the reference implementation of graphql-transport-ws)
// and prints each result as one JSON line; "connected" once the server acknowledged. Driven by
// tests/api/subscriptions.rs.
//
//   GUANXI_WS_URL=ws://127.0.0.1:8080/graphql GUANXI_TOKEN=… GUANXI_SUBSCRIPTION='subscription { … }' \
//     node tests/clients/subscribe.mjs
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const { GUANXI_WS_URL: url, GUANXI_TOKEN: token, GUANXI_SUBSCRIPTION: query } = process.env;
if (!url || !token || !query) {
  console.error('set GUANXI_WS_URL, GUANXI_TOKEN and GUANXI_SUBSCRIPTION');
  process.exit(2);
}

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
  on: {
    connected: () => console.log(JSON.stringify({ connected: true })),
    closed: (event) => console.log(JSON.stringify({ closed: event.code, reason: event.reason })),
  },
});

client.subscribe(
  { query },
  {
    next: (result) => console.log(JSON.stringify(result)),
    error: (err) => {
      console.log(JSON.stringify({ error: err?.message ?? String(err?.code ?? err) }));
      process.exit(1);
    },
    complete: () => process.exit(0),
  },
);
