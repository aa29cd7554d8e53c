// One socket.io-client version against a running chat-server: connect /presence and /chat
// on one manager with the given transport, send a message with an ack (callback style, and
// emitWithAck when the version has it), print one JSON line with what happened.
//
//   node compat.js <module: sio2|sio3|sio45|sio4> <url> <token> <recipientId> <websocket|polling>
"use strict";

const [mod, url, token, recipientId, transport] = process.argv.slice(2);
const pkg = require(`${mod}/package.json`);
const io = require(mod);
const result = { client: `socket.io-client ${pkg.version}`, transport, connected: false,
                 ack: null, emitWithAck: null, error: null };

function finish() {
  console.log(JSON.stringify(result));
  process.exit(0);
}

setTimeout(() => { result.error = result.error || "timed out"; finish(); }, 8000);

// 2.x has no `auth` option: the token goes in the query (the server ignores it; this
// only shows how far such a client gets).
const options = { transports: [transport], reconnection: false, forceNew: true,
                  auth: { token }, query: mod === "sio2" ? { token } : undefined };
const manager = new (io.Manager)(url, options);
const presence = manager.socket("/presence", { auth: { token } });
const chat = manager.socket("/chat", { auth: { token } });
for (const socket of [presence, chat]) {
  socket.on("connect_error", (err) => {
    result.error = `connect_error: ${err && err.message}`;
    finish();
  });
  socket.on("error", (err) => {  // 2.x reports a failed handshake here
    result.error = `error: ${err && (err.message || err)}`;
    finish();
  });
}
if (mod === "sio2") {
  presence.open && presence.open();
  chat.open && chat.open();
}
chat.on("userChats", () => {
  result.connected = true;
  const body = { recipientId: Number(recipientId), productId: "sku-compat",
                 text: `hello from ${result.client} over ${transport}`,
                 clientMessageId: `${mod}-${transport}` };
  chat.emit("sendMessage", body, async (ack) => {
    result.ack = ack ? `${ack.statusCode} ${ack.message}` : "empty";
    if (typeof chat.emitWithAck === "function") {
      try {
        const again = await chat.timeout(5000).emitWithAck("sendMessage", body);
        result.emitWithAck = `${again.statusCode} ${again.message}`;
      } catch (err) {
        result.emitWithAck = `failed: ${err.message}`;
      }
    } else {
      result.emitWithAck = "not in this version";
    }
    finish();
  });
});
