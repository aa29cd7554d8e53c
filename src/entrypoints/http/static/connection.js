// One user's connection: a Socket.IO Manager of its own (two panes of one page must not
// share the cached default manager, or both users would ride one WebSocket and one
// `/chat` socket) with a `/presence` and a `/chat` socket, both carrying the user's token.
import { Manager } from "./vendor/socket.io.esm.min.js";

const ACK_TIMEOUT_MS = 10_000;

/** Asks the development-mode token endpoint for a token. */
export async function fetchDevToken(type, id) {
  const response = await fetch("/dev/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ type, id }),
  });
  if (!response.ok) {
    throw new Error(`POST /dev/token answered ${response.status}`
      + (response.status === 404 ? " (the server is not in development mode)" : ""));
  }
  const body = await response.json();
  if (typeof body.token !== "string") throw new Error("POST /dev/token sent no token");
  return body.token;
}

/**
 * Reads a JWT's claims without verifying it (the server verifies), to show who a pasted
 * token belongs to. The claim order is PROTOCOL.md section 1's.
 */
export function identityFromToken(token) {
  const part = token.split(".")[1];
  if (!part) throw new Error("This is not a JWT");
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
  const claims = JSON.parse(json);
  const rawId = claims.data?.id ?? claims.sub ?? claims.id;
  const rawType = claims.types?.[0] ?? claims.userType ?? claims.type ?? claims.role;
  const id = Number(rawId);
  if (!Number.isSafeInteger(id) || id < 1) throw new Error("The token carries no user id");
  if (typeof rawType !== "string") throw new Error("The token carries no user type");
  return { type: rawType.toUpperCase(), id };
}

export class Connection {
  /**
   * @param {object} options
   * @param {string} options.token
   * @param {(namespace: string, event: string, envelope: object) => void} options.onEvent
   *   every server event of either namespace, with its envelope
   * @param {(namespace: string, state: string, detail?: object) => void} options.onState
   *   "connecting" | "connected" | "disconnected" | "refused"
   */
  constructor({ token, onEvent, onState }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.closed = false;
    this.manager = new Manager(window.location.origin, {
      autoConnect: false,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    });
    const auth = { token };
    this.sockets = {
      "/presence": this.manager.socket("/presence", { auth }),
      "/chat": this.manager.socket("/chat", { auth }),
    };
    for (const [namespace, socket] of Object.entries(this.sockets)) {
      socket.onAny((event, envelope) => this.onEvent(namespace, event, envelope ?? {}));
      socket.on("connect", () => this.onState(namespace, "connected"));
      socket.on("disconnect", (reason) => this.onState(namespace, "disconnected", { reason }));
      socket.on("connect_error", (error) => {
        // A refusal by the server carries the envelope in `data`; anything else is the
        // transport failing, which the manager retries by itself.
        const refused = Boolean(error.data);
        this.onState(namespace, refused ? "refused" : "connecting", {
          message: error.data?.message || error.message,
          envelope: error.data,
        });
      });
    }
    // The server checks, at /chat connect, that the user is online in /presence: open
    // /presence first and /chat once it is in (the server would also wait a little).
    this.sockets["/presence"].once("connect", () => {
      if (!this.closed) this.sockets["/chat"].connect();
    });
  }

  start() {
    this.onState("/presence", "connecting");
    this.onState("/chat", "connecting");
    this.sockets["/presence"].connect();
  }

  get chatConnected() {
    return this.sockets["/chat"].connected;
  }

  /** Re-opens /chat after the server closed it (e.g. the presence check failed). */
  reconnectChat() {
    const chat = this.sockets["/chat"];
    if (!chat.connected && !chat.active) chat.connect();
  }

  /**
   * Emits a client event with an ack and resolves with the envelope of the outcome.
   * Never rejects: a timeout resolves with a 0-status error envelope.
   */
  request(namespace, event, payload) {
    const socket = this.sockets[namespace];
    return new Promise((resolve) => {
      const callback = (error, envelope) => {
        if (error) {
          resolve({
            error: true, statusCode: 0, timedOut: true,
            message: `No answer to ${event} within ${ACK_TIMEOUT_MS / 1000} s`,
            data: { event },
          });
        } else {
          resolve(envelope ?? { error: false, statusCode: 200, data: {} });
        }
      };
      if (payload === undefined) socket.timeout(ACK_TIMEOUT_MS).emit(event, callback);
      else socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, callback);
    });
  }

  close() {
    this.closed = true;
    for (const socket of Object.values(this.sockets)) {
      socket.offAny();
      socket.removeAllListeners();
      socket.disconnect();
    }
    this.manager.engine?.close();
  }
}
