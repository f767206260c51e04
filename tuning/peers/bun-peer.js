// The Bun peer for tuning/bench.sh: `Bun.serve` (uWebSockets underneath) speaking the
// same subset of auralis-server's protocol as ws-peer.js, with Bun's own fan-out:
// subscribers join a topic (`ws.subscribe`) and a notification is one
// `server.publish(topic, text)`, which uWebSockets encodes once and writes to every
// subscriber from native code — the fastest broadcast path a JavaScript server has.
//   GET /ws (upgrade)            -> a `connect` welcome message
//   {"type":"subscribe",...}     -> `subscribed`, and the socket joins the topic
//   POST /api/notifications JSON -> 202, then a `notification` message carrying the
//                                   body and `published_at_us` to every subscriber
// Usage: bun tuning/peers/bun-peer.js PORT   (loopback only)
const port = Number(process.argv[2] || 18310);
const TOPIC = 'notifications';
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const json = (status, value) =>
  new Response(JSON.stringify(value), { status, headers: { 'Content-Type': 'application/json' } });

const server = Bun.serve({
  hostname: '127.0.0.1',
  port,
  async fetch(req, server) {
    const url = new URL(req.url);
    if (url.pathname === '/ws') {
      return server.upgrade(req) ? undefined : new Response(null, { status: 400 });
    }
    if (req.method === 'POST' && url.pathname === '/api/notifications') {
      let body;
      try {
        body = await req.json();
      } catch (e) {
        return json(400, { status: 'error', error: 'validation_error' });
      }
      const payload = Object.assign({}, body, { published_at_us: nowUs() });
      const text = JSON.stringify({ type: 'notification', priority: 'normal', payload });
      const delivered = server.subscriberCount(TOPIC);
      server.publish(TOPIC, text);
      return json(202, { status: 'success', data: { delivered } });
    }
    return new Response(null, { status: 404 });
  },
  websocket: {
    perMessageDeflate: false,
    open(ws) {
      ws.send(JSON.stringify({ type: 'connect', payload: { server: 'bun-peer' } }));
    },
    message(ws, data) {
      let msg;
      try {
        msg = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data));
      } catch (e) {
        return;
      }
      if (msg.type === 'subscribe') {
        ws.subscribe(TOPIC);
        ws.send(JSON.stringify({ type: 'subscribed', correlation_id: msg.correlation_id, payload: msg.payload }));
      }
    },
  },
});
console.log(`bun-peer listening on 127.0.0.1:${server.port}`);
