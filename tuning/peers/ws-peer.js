// The WebSocket peer for tuning/bench.sh: a Node.js server on the `ws` package that
// speaks the subset of auralis-server's protocol the harness's `ws-broadcast` uses,
// so both servers do identical work for the same client:
//   GET /ws (upgrade)            -> a `connect` welcome message
//   {"type":"subscribe",...}     -> `subscribed` (topics remembered per socket)
//   POST /api/notifications JSON -> 202, then a `notification` message carrying the
//                                   body and `published_at_us` to every subscriber
// Usage: node tuning/peers/ws-peer.js PORT   (loopback only)
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');
const { performance } = require('perf_hooks');

const port = Number(process.argv[2] || 18300);
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const subscribers = new Set();

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/api/notifications') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (e) {
        const err = JSON.stringify({ status: 'error', error: 'validation_error' });
        res.writeHead(400, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(err) });
        return res.end(err);
      }
      const payload = Object.assign({}, body, { published_at_us: nowUs() });
      // Encoded once, sent to every subscriber (as auralis-server does).
      const text = JSON.stringify({ type: 'notification', priority: 'normal', payload });
      for (const ws of subscribers) ws.send(text);
      const ok = JSON.stringify({ status: 'success', data: { delivered: subscribers.size } });
      res.writeHead(202, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(ok) });
      res.end(ok);
    });
    return;
  }
  res.writeHead(404, { 'Content-Length': 0 });
  res.end();
});

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
server.on('upgrade', (req, socket, head) => {
  if (req.url !== '/ws') return socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws));
});
wss.on('connection', (ws) => {
  ws.send(JSON.stringify({ type: 'connect', payload: { server: 'ws-peer' } }));
  ws.on('message', (data) => {
    let msg;
    try {
      msg = JSON.parse(data.toString());
    } catch (e) {
      return;
    }
    if (msg.type === 'subscribe') {
      subscribers.add(ws);
      ws.send(JSON.stringify({ type: 'subscribed', correlation_id: msg.correlation_id, payload: msg.payload }));
    }
  });
  ws.on('close', () => subscribers.delete(ws));
});
server.listen(port, '127.0.0.1', () => console.log(`ws-peer listening on 127.0.0.1:${port}`));
