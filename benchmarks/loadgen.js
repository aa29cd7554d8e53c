#!/usr/bin/env node
// Load generator of the benchmarks: real clients (the official socket.io-client 4.x).
//
// It speaks to the service and to benchmarks/baseline_relay.py identically. Each user is
// one Manager (one WebSocket) carrying the /presence and the /chat namespaces, token in
// the handshake `auth: {token}`. It prints `MARK <name> <epoch ms>` lines when a phase
// starts or ends (bench.py samples the server's /proc there) and one final
// `RESULT <json>` line. Every phase is bounded in time; the process always exits.
//
//   node loadgen.js throughput  --url URL --secret S [--pairs 50 --window 10 --duration 10 --warmup 3]
//   node loadgen.js latency     --url URL --secret S [--pairs 100 --rate 1000 --duration 10 --warmup 3]
//   node loadgen.js connections --url URL --secret S [--users 5000 --concurrency 100 --hold 0]
//   node loadgen.js history     --url URL --secret S [--messages 100000 --small 100 --samples 200]
'use strict';

const crypto = require('node:crypto');
const { performance } = require('node:perf_hooks');
const { Manager } = require('socket.io-client');

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
  const opts = {
    scenario: argv[0],
    url: 'http://127.0.0.1:8000',
    url2: '', // a second node: vendors connect there, customers to --url (clients split)
    secret: 'bench-secret',
    pairs: 0,
    window: 10,
    duration: 10,
    warmup: 3,
    rate: 1000,
    users: 5000,
    concurrency: 100,
    drain: 5,
    connectTimeout: 20,
    messages: 100000,
    small: 100,
    samples: 200,
    fillWindow: 200,
    deadline: 180,
    hold: 0, // connections: seconds to keep every user connected after MARK connected
  };
  for (let i = 1; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in opts)) throw new Error(`unknown option ${argv[i]}`);
    opts[key] = typeof opts[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (!opts.pairs) opts.pairs = opts.scenario === 'latency' ? 100 : 50;
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

function mark(name) {
  process.stdout.write(`MARK ${name} ${Date.now()}\n`);
}

// Bounded in time whatever happens: a hung server must not hang `make bench`.
const hardStop = setTimeout(() => {
  process.stdout.write(`RESULT ${JSON.stringify({ fatal: `deadline of ${opts.deadline} s exceeded` })}\n`);
  process.exit(3);
}, opts.deadline * 1000);
hardStop.unref();

// ---------------------------------------------------------------- tokens (HS256 by hand)

function token(type, id) {
  const enc = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
  const head = enc({ alg: 'HS256', typ: 'JWT' });
  const body = enc({ sub: String(id), userType: type, exp: Math.floor(Date.now() / 1000) + 3600 });
  const sig = crypto.createHmac('sha256', opts.secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

// ---------------------------------------------------------------- statistics

function percentiles(values) {
  if (values.length === 0) return { count: 0, p50: null, p95: null, p99: null, max: null, mean: null };
  const sorted = Float64Array.from(values).sort();
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  const round = (x) => Math.round(x * 1000) / 1000;
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    p50: round(at(0.5)),
    p95: round(at(0.95)),
    p99: round(at(0.99)),
    max: round(sorted[sorted.length - 1]),
    mean: round(sum / sorted.length),
  };
}

const errors = { connectError: 0, appError: 0, ackError: 0, disconnect: 0, unexpected: 0, samples: [] };

function recordError(kind, detail) {
  errors[kind] += 1;
  if (errors.samples.length < 10) errors.samples.push({ kind, detail });
}

// ---------------------------------------------------------------- users

// One user: a Manager with /presence and /chat opened at once (the server waits for the
// presence connection). Resolves when /chat has delivered offlineMessages and userChats.
function connectUser(type, id, onChatSocket) {
  const started = now();
  const url = opts.url2 && type === 'vendor' ? opts.url2 : opts.url;
  const manager = new Manager(url, {
    path: '/socket.io',
    transports: ['websocket'],
    reconnection: false,
    timeout: opts.connectTimeout * 1000,
  });
  const auth = { token: token(type, id) };
  const presence = manager.socket('/presence', { auth });
  const chat = manager.socket('/chat', { auth });
  const user = { type, id, manager, presence, chat, started, closing: false };
  if (onChatSocket) onChatSocket(user);
  return new Promise((resolve) => {
    let settled = false;
    const got = {};
    const finish = (ok, why) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      user.ok = ok;
      user.why = why;
      resolve(user);
    };
    const check = () => {
      if (got.presence && got.chat && user.connectMs === undefined) user.connectMs = now() - started;
      if (got.presence && got.chat && got.offlineMessages && got.userChats) {
        user.readyMs = now() - started;
        finish(true);
      }
    };
    const timer = setTimeout(() => finish(false, 'timeout'), opts.connectTimeout * 1000);
    presence.on('connect', () => { got.presence = true; check(); });
    chat.on('connect', () => { got.chat = true; check(); });
    chat.on('offlineMessages', (env) => {
      got.offlineMessages = true;
      user.offlineMessages = env && Array.isArray(env.data) ? env.data.length : -1;
      check();
    });
    chat.on('userChats', () => { got.userChats = true; check(); });
    for (const [nsp, sock] of [['presence', presence], ['chat', chat]]) {
      sock.on('connect_error', (err) => {
        recordError('connectError', `${nsp} ${type}:${id} ${err && err.message} ${JSON.stringify(err && err.data)}`);
        finish(false, 'connect_error');
      });
      sock.on('appError', (env) => recordError('appError', `${nsp} ${type}:${id} ${JSON.stringify(env).slice(0, 300)}`));
      sock.on('disconnect', (reason) => {
        if (!user.closing) recordError('disconnect', `${nsp} ${type}:${id} ${reason}`);
        finish(false, `disconnect ${reason}`);
      });
    }
  });
}

async function connectMany(specs, concurrency, onChatSocket) {
  const users = new Array(specs.length);
  let next = 0;
  async function worker() {
    while (next < specs.length) {
      const i = next++;
      users[i] = await connectUser(specs[i][0], specs[i][1], onChatSocket);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, specs.length) }, worker));
  return users;
}

function closeAll(users) {
  for (const u of users) {
    if (!u) continue;
    u.closing = true;
    u.presence.disconnect();
    u.chat.disconnect();
    if (u.manager.engine) u.manager.engine.close();
  }
}

// ---------------------------------------------------------------- messaging (scenarios 1, 2)

// The message book: every send is keyed by its clientMessageId; the recipient's
// receiveMessage is matched by it. Lost = acknowledged and never received.
class Book {
  constructor() {
    this.sent = new Map(); // cmid -> {t, acked, received, measured}
    this.counter = 0;
    this.window = null; // [start, end] in performance.now() time
    this.latencies = [];
    this.ackLatencies = [];
    this.deliveredInWindow = 0;
    this.sentInWindow = 0;
    this.duplicates = 0;
    this.stray = 0;
    this.inflight = 0;
  }

  inWindow(t) {
    return this.window !== null && t >= this.window[0] && (this.window[1] === null || t < this.window[1]);
  }

  send(pair, fromCustomer, onAck) {
    const sender = fromCustomer ? pair.customer : pair.vendor;
    const recipient = fromCustomer ? pair.vendor : pair.customer;
    const cmid = `b${process.pid}-${++this.counter}`;
    const entry = { t: now(), acked: false, received: false, recipient };
    entry.measured = this.inWindow(entry.t);
    if (entry.measured) this.sentInWindow += 1;
    this.sent.set(cmid, entry);
    this.inflight += 1;
    const payload = {
      chatId: pair.chatId,
      recipientId: recipient.id,
      productId: pair.productId,
      text: `benchmark message ${this.counter} from ${sender.type} ${sender.id}`,
      clientMessageId: cmid,
    };
    sender.chat.emit('sendMessage', payload, (env) => {
      this.inflight -= 1;
      if (env && env.error === false) {
        entry.acked = true;
        if (entry.measured) this.ackLatencies.push(now() - entry.t);
      } else {
        recordError('ackError', JSON.stringify(env).slice(0, 300));
      }
      if (onAck) onAck();
    });
  }

  received(user, env) {
    const t = now();
    const msg = env && env.data;
    const entry = msg && this.sent.get(msg.clientMessageId);
    if (!entry) { this.stray += 1; return; }
    if (entry.recipient !== user) { this.stray += 1; return; } // e.g. an echo to the sender
    if (entry.received) { this.duplicates += 1; return; }
    entry.received = true;
    if (this.inWindow(t)) this.deliveredInWindow += 1;
    if (entry.measured) this.latencies.push(t - entry.t);
  }

  allSettled() {
    if (this.inflight > 0) return false;
    for (const e of this.sent.values()) if (e.acked && !e.received) return false;
    return true;
  }

  summary() {
    let acked = 0;
    let lost = 0;
    let unacked = 0;
    for (const e of this.sent.values()) {
      if (e.acked) { acked += 1; if (!e.received) lost += 1; } else unacked += 1;
    }
    const seconds = (this.window[1] - this.window[0]) / 1000;
    return {
      windowSeconds: Math.round(seconds * 1000) / 1000,
      sentInWindow: this.sentInWindow,
      deliveredInWindow: this.deliveredInWindow,
      deliveredPerSecond: Math.round(this.deliveredInWindow / seconds),
      latencyMs: percentiles(this.latencies),
      ackLatencyMs: percentiles(this.ackLatencies),
      totalSent: this.sent.size,
      acked,
      lost,
      unacked,
      duplicates: this.duplicates,
      stray: this.stray,
    };
  }
}

async function setupPairs(count) {
  const specs = [];
  for (let i = 1; i <= count; i++) specs.push(['customer', i], ['vendor', i]);
  const book = new Book();
  const users = await connectMany(specs, 50, (user) => {
    user.chat.on('receiveMessage', (env) => book.received(user, env));
  });
  const failed = users.filter((u) => !u.ok);
  const pairs = [];
  for (let i = 0; i < count; i++) {
    pairs.push({ customer: users[2 * i], vendor: users[2 * i + 1], productId: `bench-product-${i + 1}`, chatId: null, turn: 0, inflight: 0 });
  }
  // Warm-up step 1: each pair's chat is created by one first message (newChat / newSentChat).
  if (failed.length === 0) {
    await Promise.all(pairs.map((pair) => new Promise((resolve) => {
      const t = setTimeout(() => { recordError('ackError', 'first message not acked'); resolve(); }, opts.connectTimeout * 1000);
      pair.customer.chat.emit('sendMessage', {
        recipientId: pair.vendor.id,
        productId: pair.productId,
        text: 'hello, is this still available?',
        productName: 'Benchmark product',
        clientMessageId: `first-${process.pid}-${pair.productId}`,
      }, (env) => {
        clearTimeout(t);
        const data = env && env.data;
        if (env && env.error === false && data) pair.chatId = Array.isArray(data.messages) ? data.id : data.chatId;
        else recordError('ackError', `first message: ${JSON.stringify(env).slice(0, 300)}`);
        resolve();
      });
    })));
    // With two nodes the vendor answers once before the load: on nodes that do not share
    // storage (benchmarks/nodes.py --storage memory) this opens the chat on its node too.
    if (opts.url2) {
      await Promise.all(pairs.map((pair) => new Promise((resolve) => {
        const t = setTimeout(() => { recordError('ackError', 'answer not acked'); resolve(); }, opts.connectTimeout * 1000);
        pair.vendor.chat.emit('sendMessage', { chatId: pair.chatId, recipientId: pair.customer.id,
          productId: pair.productId, text: 'yes, it is' }, (env) => {
          clearTimeout(t);
          if (!env || env.error !== false) recordError('ackError', `answer: ${JSON.stringify(env).slice(0, 300)}`);
          resolve();
        });
      })));
    }
  }
  return { users, pairs, book, failedUsers: failed.length };
}

async function drain(book) {
  const until = now() + opts.drain * 1000;
  while (now() < until && !book.allSettled()) await sleep(20);
}

function loadgenCpu(start) {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1e6;
}

async function throughput() {
  const { users, pairs, book, failedUsers } = await setupPairs(opts.pairs);
  if (failedUsers || pairs.some((p) => !p.chatId)) return finish(users, { failedUsers, chatsCreated: pairs.filter((p) => p.chatId).length });
  let running = true;
  const pump = (pair) => {
    while (running && pair.inflight < opts.window) {
      pair.inflight += 1;
      pair.turn ^= 1;
      book.send(pair, pair.turn === 1, () => { pair.inflight -= 1; pump(pair); });
    }
  };
  pairs.forEach(pump);
  await sleep(opts.warmup * 1000);
  const cpu0 = process.cpuUsage();
  book.window = [now(), null];
  mark('start');
  await sleep(opts.duration * 1000);
  book.window[1] = now();
  mark('end');
  const cpu = loadgenCpu(cpu0);
  running = false;
  await drain(book);
  return finish(users, { pairs: opts.pairs, maxUnackedPerPair: opts.window, loadgenCpuSeconds: cpu, ...book.summary() });
}

async function latency() {
  const { users, pairs, book, failedUsers } = await setupPairs(opts.pairs);
  if (failedUsers || pairs.some((p) => !p.chatId)) return finish(users, { failedUsers, chatsCreated: pairs.filter((p) => p.chatId).length });
  // Open loop at a fixed total rate: every tick sends what the schedule owes, round-robin
  // over the pairs, alternating the direction; acks never hold a send back.
  let issued = 0;
  let cursor = 0;
  const begin = now();
  const total = opts.warmup + opts.duration;
  let windowOpened = false;
  let cpu0 = null;
  await new Promise((resolve) => {
    const tick = setInterval(() => {
      const t = now();
      if (!windowOpened && t - begin >= opts.warmup * 1000) {
        windowOpened = true;
        cpu0 = process.cpuUsage();
        book.window = [t, null];
        mark('start');
      }
      if (t - begin >= total * 1000) {
        clearInterval(tick);
        book.window[1] = t;
        mark('end');
        resolve();
        return;
      }
      const owed = Math.floor(((t - begin) / 1000) * opts.rate) - issued;
      for (let k = 0; k < owed; k++) {
        const pair = pairs[cursor++ % pairs.length];
        pair.turn ^= 1;
        book.send(pair, pair.turn === 1);
        issued += 1;
      }
    }, 2);
  });
  const cpu = loadgenCpu(cpu0);
  await drain(book);
  return finish(users, { pairs: opts.pairs, targetRate: opts.rate, loadgenCpuSeconds: cpu, ...book.summary() });
}

// ---------------------------------------------------------------- connections (scenario 3)

async function connections() {
  const specs = [];
  const half = Math.ceil(opts.users / 2);
  for (let i = 1; i <= opts.users; i++) specs.push(i <= half ? ['customer', i] : ['vendor', i - half]);
  mark('idle');
  const t0 = now();
  const cpu0 = process.cpuUsage();
  const users = await connectMany(specs, opts.concurrency);
  const elapsed = (now() - t0) / 1000;
  await sleep(1000); // let the server settle before its RSS is read
  mark('connected');
  if (opts.hold) await sleep(opts.hold * 1000); // memory_probe.py snapshots the heap meanwhile
  const ok = users.filter((u) => u.ok);
  const result = {
    users: opts.users,
    concurrency: opts.concurrency,
    served: ok.length,
    secondsToConnectAll: Math.round(elapsed * 1000) / 1000,
    connectsPerSecond: Math.round(ok.length / elapsed),
    connectMs: percentiles(users.filter((u) => u.connectMs !== undefined).map((u) => u.connectMs)),
    readyMs: percentiles(ok.map((u) => u.readyMs)),
    gotOfflineMessages: users.filter((u) => u.offlineMessages !== undefined).length,
    gotUserChats: ok.length,
    failures: users.filter((u) => !u.ok).slice(0, 5).map((u) => `${u.type}:${u.id} ${u.why}`),
    loadgenCpuSeconds: loadgenCpu(cpu0),
  };
  return finish(users, result);
}

// ---------------------------------------------------------------- history (scenario 4)

function call(socket, event, payload) {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve({ error: true, message: 'ack timeout' }), opts.connectTimeout * 1000);
    socket.emit(event, payload, (env) => { clearTimeout(t); resolve(env); });
  });
}

// Fills one chat with `count` messages through the API (the sender's acks pace it).
async function fill(pair, count) {
  if (count <= 0) return;
  let sent = 0;
  let done = 0;
  await new Promise((resolve) => {
    const pump = () => {
      while (sent < count && sent - done < opts.fillWindow) {
        sent += 1;
        pair.customer.chat.emit('sendMessage', { chatId: pair.chatId, text: `history ${sent}` }, (env) => {
          if (!env || env.error) recordError('ackError', `fill: ${JSON.stringify(env).slice(0, 200)}`);
          done += 1;
          if (done === count) resolve(); else pump();
        });
      }
    };
    pump();
  });
}

// The cost of the per-message and per-open operations in a chat with `small` messages and
// in one with `messages`: each operation is timed one at a time, alternating the chats.
async function history() {
  const specs = [['customer', 1], ['vendor', 1], ['customer', 2], ['vendor', 2]];
  const users = await connectMany(specs, 4);
  if (users.some((u) => !u.ok)) return finish(users, { failedUsers: users.filter((u) => !u.ok).length });
  const chats = {};
  for (const [name, c, v, count] of [['small', 0, 1, opts.small], ['large', 2, 3, opts.messages]]) {
    const pair = { customer: users[c], vendor: users[v] };
    const first = await call(pair.customer.chat, 'sendMessage', { recipientId: pair.vendor.id, productId: `history-${name}`, text: 'first' });
    pair.chatId = first && first.data && first.data.id;
    if (!pair.chatId) return finish(users, { fatal: `no chat: ${JSON.stringify(first).slice(0, 200)}` });
    const t0 = now();
    await fill(pair, count - 1);
    pair.fillSeconds = Math.round(now() - t0) / 1000;
    await call(pair.vendor.chat, 'joinChat', { chatId: pair.chatId }); // marks the backlog read once
    chats[name] = pair;
  }
  const operations = {
    sendMessage: (pair) => call(pair.customer.chat, 'sendMessage', { chatId: pair.chatId, text: 'measured' }),
    joinChat: (pair) => call(pair.vendor.chat, 'joinChat', { chatId: pair.chatId }),
    getMessages: (pair) => call(pair.vendor.chat, 'getMessages', { chatId: pair.chatId, before: 50, limit: 50 }),
    getMessagesLatest: (pair) => call(pair.vendor.chat, 'getMessages', { chatId: pair.chatId, limit: 50 }),
  };
  const result = { messages: { small: opts.small, large: opts.messages }, fillSeconds: { small: chats.small.fillSeconds, large: chats.large.fillSeconds }, operations: {} };
  mark('start');
  for (const [op, run] of Object.entries(operations)) {
    const times = { small: [], large: [] };
    for (let i = 0; i < opts.samples; i++) {
      for (const name of ['small', 'large']) {
        const t = now();
        const env = await run(chats[name]);
        times[name].push(now() - t);
        if (!env || env.error) recordError('ackError', `${op}: ${JSON.stringify(env).slice(0, 200)}`);
      }
    }
    const small = percentiles(times.small);
    const large = percentiles(times.large);
    result.operations[op] = { smallMs: small, largeMs: large, ratioP50: Math.round((large.p50 / small.p50) * 100) / 100 };
  }
  mark('end');
  return finish(users, result);
}

// ---------------------------------------------------------------- main

function finish(users, result) {
  closeAll(users);
  const { samples, ...counts } = errors;
  const total = counts.connectError + counts.appError + counts.ackError + counts.disconnect + counts.unexpected;
  process.stdout.write(`RESULT ${JSON.stringify({ scenario: opts.scenario, ...result, errors: total, errorCounts: counts, errorSamples: samples })}\n`);
  setTimeout(() => process.exit(0), 200).unref();
  return result;
}

const scenarios = { throughput, latency, connections, history };
if (!scenarios[opts.scenario]) {
  process.stderr.write('usage: node loadgen.js throughput|latency|connections|history --url URL --secret S [options]\n');
  process.exit(2);
}
scenarios[opts.scenario]().catch((err) => {
  process.stdout.write(`RESULT ${JSON.stringify({ fatal: String(err && err.stack) })}\n`);
  process.exit(1);
});
