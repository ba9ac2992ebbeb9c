// How the page talks to the server: GraphQL over HTTP, and subscriptions over a WebSocket
// speaking graphql-transport-ws (the protocol of the graphql-ws library), written out by hand.

/** An answer with errors: the first one's `message` as the server worded it, its `code` to switch on. */
export class GraphQLError extends Error {
  constructor(errors) {
    super(errors[0].message);
    this.code = errors[0].extensions?.code;
    this.extensions = errors[0].extensions ?? {};
  }
}

/**
 * POSTs one operation; resolves to its `data`, rejects with a GraphQLError (or with a TypeError
 * when no answer came). The browser sends its own Accept-Language, and the server words its
 * messages in that language.
 */
export async function request(token, query, variables, idempotencyKey) {
  const headers = { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` };
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  const res = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = await res.json();
  if (body.errors?.length) throw new GraphQLError(body.errors);
  return body.data;
}

/** One socket for the page's subscriptions; `closed` resolves to `{ code, reason }` when it ends. */
export class Socket {
  #ws;
  #sinks = new Map();
  #lastId = 0;
  #acknowledge;
  #refuse;

  constructor(token) {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
    this.#ws = new WebSocket(url, 'graphql-transport-ws');
    this.acknowledged = new Promise((resolve, reject) => {
      this.#acknowledge = resolve;
      this.#refuse = reject;
    });
    this.closed = new Promise((resolve) => {
      this.#ws.onclose = ({ code, reason }) => {
        this.#refuse(new Error(`WebSocket ${code} ${reason}`));
        resolve({ code, reason });
      };
    });
    this.#ws.onopen = () => this.#send({ type: 'connection_init', payload: { Authorization: `Bearer ${token}` } });
    this.#ws.onmessage = (e) => this.#receive(JSON.parse(e.data));
  }

  /**
   * Subscribes once the server has acknowledged the socket: `sink.next(result)` hears each
   * result, `sink.error(GraphQLError)` a subscription the server refused. Resolves to a function
   * that ends the subscription.
   */
  async subscribe(query, variables, sink) {
    await this.acknowledged;
    const id = String(++this.#lastId);
    this.#sinks.set(id, sink);
    this.#send({ type: 'subscribe', id, payload: { query, variables } });
    return () => this.#sinks.delete(id) && this.#send({ type: 'complete', id });
  }

  close() {
    this.#ws.close(1000);
  }

  #receive(message) {
    const sink = this.#sinks.get(message.id);
    switch (message.type) {
      case 'connection_ack':
        return this.#acknowledge();
      // The server closes a socket that stays silent; answering its pings keeps this one open.
      case 'ping':
        return this.#send({ type: 'pong' });
      case 'next':
        return sink?.next(message.payload);
      case 'error':
        this.#sinks.delete(message.id);
        return sink?.error(new GraphQLError(message.payload));
      case 'complete':
        return this.#sinks.delete(message.id);
    }
  }

  #send(message) {
    this.#ws.send(JSON.stringify(message));
  }
}
