#!/usr/bin/env node
// The soak's load (benchmarks/soak.py drives it): a few hundred users with mixed traffic for
// a few minutes, then everyone leaves. Each user is one Manager (one WebSocket) carrying
// /presence and /chat, as browsers do; customer i chats with vendors i and i+1.
//
//   node soak.js --url URL --secret S [--users 300 --duration 180 --rate 0.5]
//
// Every user acts about --rate times a second (exponential gaps): sendMessage 45 %,
// markAsRead 15 %, typing (and stoppedTyping 1 s later) 15 %, getMessages 10 %,
// getUserChats 5 %, a reconnect (a new WebSocket, the old one closed) 10 %. Prints one
// `RESULT <json>` line with what was done and every error seen; bounded in time.
'use strict';

const crypto = require('node:crypto');
const { Manager } = require('socket.io-client');

const opts = { url: 'http://127.0.0.1:8000', secret: 'bench-secret', users: 300, duration: 180,
  rate: 0.5, connectTimeout: 20 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  if (!(key in opts)) throw new Error(`unknown option ${argv[i]}`);
  opts[key] = typeof opts[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
}
const hardStop = setTimeout(() => {
  process.stdout.write(`RESULT ${JSON.stringify({ fatal: 'deadline exceeded' })}\n`);
  process.exit(3);
}, (opts.duration + 120) * 1000);
hardStop.unref();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const done = { sendMessage: 0, markAsRead: 0, typing: 0, getMessages: 0, getUserChats: 0,
  reconnect: 0, received: 0 };
const errors = { count: 0, samples: [] };
function error(detail) {
  errors.count += 1;
  if (errors.samples.length < 10) errors.samples.push(detail);
}

function token(type, id) {
  const enc = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
  const head = enc({ alg: 'HS256', typ: 'JWT' });
  const body = enc({ sub: String(id), userType: type, exp: Math.floor(Date.now() / 1000) + 3600 });
  const sig = crypto.createHmac('sha256', opts.secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

// Connects (or reconnects) a user; resolves once /chat delivered userChats.
function connect(user) {
  const manager = new Manager(opts.url, { transports: ['websocket'], reconnection: false,
    timeout: opts.connectTimeout * 1000 });
  const auth = { token: token(user.type, user.id) };
  const presence = manager.socket('/presence', { auth });
  const chat = manager.socket('/chat', { auth });
  const link = { manager, presence, chat, closing: false };
  chat.on('receiveMessage', () => { done.received += 1; });
  for (const sock of [presence, chat]) {
    sock.on('connect_error', (err) => error(`connect_error ${user.type}:${user.id} ${err && err.message}`));
    sock.on('appError', (env) => error(`appError ${JSON.stringify(env).slice(0, 200)}`));
    sock.on('disconnect', (reason) => { if (!link.closing) error(`disconnect ${reason}`); });
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => { error('connect timeout'); resolve(link); }, opts.connectTimeout * 1000);
    chat.on('userChats', (env) => {
      clearTimeout(timer);
      for (const c of (env && env.data) || []) user.chats.add(c.id);
      resolve(link);
    });
  });
}

function close(link) {
  link.closing = true;
  link.presence.disconnect();
  link.chat.disconnect();
  if (link.manager.engine) link.manager.engine.close();
}

function call(link, event, payload) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { error(`${event} not acked`); resolve(null); }, 10000);
    link.chat.emit(event, payload, (env) => {
      clearTimeout(timer);
      if (!env || env.error !== false) error(`${event}: ${JSON.stringify(env).slice(0, 200)}`);
      resolve(env);
    });
  });
}

// A send's ack: a Chat when it opened the chat (newSentChat), else the Message.
const chatOf = (data) => data.chatId || data.id;
const pick = (set) => { const all = [...set]; return all[Math.floor(Math.random() * all.length)]; };

async function act(user, until) {
  while (Date.now() < until) {
    await sleep(-Math.log(1 - Math.random()) * 1000 / opts.rate);
    if (Date.now() >= until) break;
    const link = user.link;
    const chatId = pick(user.chats);
    const roll = Math.random();
    if (roll < 0.45) {
      const env = await call(link, 'sendMessage', chatId ? { chatId, text: `soak ${done.sendMessage}` }
        : { recipientId: user.peers[0], productId: `soak-${user.id}`, text: 'hello' });
      if (env && env.error === false && env.data && !chatId) user.chats.add(chatOf(env.data));
      done.sendMessage += 1;
    } else if (!chatId) {
      continue;
    } else if (roll < 0.60) {
      await call(link, 'markAsRead', { chatId });
      done.markAsRead += 1;
    } else if (roll < 0.75) {
      await call(link, 'typing', { chatId });
      setTimeout(() => { if (!link.closing) link.chat.emit('stoppedTyping', { chatId }); }, 1000);
      done.typing += 1;
    } else if (roll < 0.85) {
      await call(link, 'getMessages', { chatId, limit: 20 });
      done.getMessages += 1;
    } else if (roll < 0.90) {
      await call(link, 'getUserChats', { limit: 20 });
      done.getUserChats += 1;
    } else {
      close(link);
      user.link = await connect(user);
      done.reconnect += 1;
    }
  }
}

async function main() {
  const pairs = Math.max(1, Math.floor(opts.users / 2));
  const users = [];
  for (let i = 1; i <= pairs; i++) {
    const vendors = [i, (i % pairs) + 1];
    users.push({ type: 'customer', id: i, peers: vendors, chats: new Set() });
    users.push({ type: 'vendor', id: i, peers: [], chats: new Set() });
  }
  // Customers open their chats first, so that vendors have something to do.
  for (let start = 0; start < users.length; start += 50) {
    await Promise.all(users.slice(start, start + 50).map(async (u) => { u.link = await connect(u); }));
  }
  await Promise.all(users.filter((u) => u.type === 'customer').map(async (u) => {
    for (const vendor of u.peers) {
      const env = await call(u.link, 'sendMessage', { recipientId: vendor, productId: `soak-${vendor}`,
        text: 'is this still available?' });
      if (env && env.error === false && env.data) u.chats.add(chatOf(env.data));
    }
  }));
  for (const u of users.filter((x) => x.type === 'vendor')) {
    const env = await call(u.link, 'getUserChats', { limit: 20 });
    for (const c of (env && env.data) || []) u.chats.add(c.id);
  }
  const until = Date.now() + opts.duration * 1000;
  await Promise.all(users.map((u) => act(u, until)));
  for (const u of users) close(u.link);
  await sleep(500);
  process.stdout.write(`RESULT ${JSON.stringify({ users: users.length, duration: opts.duration,
    done, errors: errors.count, errorSamples: errors.samples })}\n`);
  setTimeout(() => process.exit(0), 200).unref();
}

main().catch((err) => {
  process.stdout.write(`RESULT ${JSON.stringify({ fatal: String(err && err.stack) })}\n`);
  process.exit(1);
});
