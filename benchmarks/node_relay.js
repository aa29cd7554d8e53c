#!/usr/bin/env node
// The Node baseline of the benchmarks: the same bare relay as baseline_relay.py, on Node's
// socket.io server (pinned in package.json): what the socket work costs in the reference
// implementation of the protocol.
//
// It trusts the token's claims without verifying them, keeps no storage and no rules: each
// socket joins a room per user; `sendMessage` is emitted as `receiveMessage` (`newChat` for
// a first message) to the recipient's and the sender's rooms, skipping the requester, and
// acked with the same envelope. permessage-deflate is off (socket.io's default, and the
// Python servers' setting). Usage: `node node_relay.js PORT`.
'use strict';

const http = require('node:http');
const { Server } = require('socket.io');

const port = Number(process.argv[2]);
const httpServer = http.createServer();
const io = new Server(httpServer, {
  path: '/socket.io',
  maxHttpBufferSize: 65536,
  perMessageDeflate: false,
  httpCompression: false,
  cors: { origin: '*' },
});

let seq = 0;

function claims(socket) {
  const token = (socket.handshake.auth && socket.handshake.auth.token) || '';
  const part = token.split('.')[1] || '';
  const body = JSON.parse(Buffer.from(part, 'base64url').toString());
  return [String(body.userType).toUpperCase(), Number(body.sub)];
}

function envelope(message, data) {
  return { statusCode: 200, error: false, message, data };
}

for (const name of ['/presence', '/chat']) {
  io.of(name).on('connection', (socket) => {
    let user;
    try {
      user = claims(socket);
    } catch (err) {
      socket.disconnect(true);
      return;
    }
    socket.join(`${user[0]}:${user[1]}`);
    if (name !== '/chat') return;
    // What a /chat client waits for after connecting.
    for (const event of ['offlineMessages', 'userChats']) socket.emit(event, envelope(event, []));
    socket.on('sendMessage', (data, ack) => {
      const [kind, uid] = user;
      const other = kind === 'CUSTOMER' ? 'VENDOR' : 'CUSTOMER';
      const rid = data.recipientId;
      const now = new Date().toISOString();
      const n = ++seq;
      const key = kind === 'CUSTOMER' ? [uid, rid] : [rid, uid];
      const chatId = data.chatId || `${data.productId}-${key[0]}-${key[1]}`;
      const msg = {
        id: n.toString(16).padStart(24, '0'), chatId, seq: n, senderId: uid, recipientId: rid,
        senderType: kind, recipientType: other, text: data.text, messageImages: [], read: false,
        readAt: null, recipientOnline: true, deliveredAt: now, clientMessageId: data.clientMessageId,
        timestamp: now, createdAt: now, updatedAt: now,
      };
      let event = 'receiveMessage';
      let body = msg;
      if (!data.chatId) {
        body = { id: chatId, productId: data.productId, messages: [msg] };
        event = 'newChat';
      }
      const env = envelope('New message received', body);
      socket.to([`${other}:${rid}`, `${kind}:${uid}`]).emit(event, env);
      if (typeof ack === 'function') ack(env);
    });
  });
}

httpServer.listen(port, '127.0.0.1');
