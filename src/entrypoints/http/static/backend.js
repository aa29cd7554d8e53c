// The marketplace's backend, played by hand: posts a system message ("your order has
// shipped") to the open chat with the server API (SERVER_API.md section 3). Shown in
// development mode only, where `make run` prints a server API key; the key stays in this
// page's memory (never in storage) and goes only to this server.
import { userLabel } from "./format.js";

export class BackendPanel {
  /**
   * @param {HTMLElement} root the panel (hidden until development mode is known)
   * @param {import("./pane.js").Pane[]} panes the chat posted to is the first one open
   */
  constructor(root, panes) {
    this.root = root;
    this.panes = panes;
    this.form = root.querySelector("form");
    this.key = root.querySelector("[name=apiKey]");
    this.text = root.querySelector("[name=text]");
    this.status = root.querySelector("[role=status]");
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.post();
    });
  }

  show() {
    this.root.hidden = false;
  }

  /** The chat open in a pane, the customer's first. */
  #target() {
    for (const pane of this.panes) {
      const chat = pane.store.chats.get(pane.activeChatId);
      if (chat) return chat;
    }
    return undefined;
  }

  async post() {
    const chat = this.#target();
    const text = this.text.value.trim();
    const key = this.key.value.trim();
    if (!chat) return this.#say("Open a chat in one of the panes first", true);
    if (!key) return this.#say("Paste the server API key that `make run` printed", true);
    if (!text) return this.#say("Write the system message first", true);
    const where = `${chat.productName || `Product ${chat.productId}`}`
      + ` (${userLabel("CUSTOMER", chat.customerId)} and ${userLabel("VENDOR", chat.vendorId)})`;
    let response;
    let body;
    try {
      response = await fetch(`/api/v1/chats/${encodeURIComponent(chat.id)}/messages`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
        body: JSON.stringify({ text, senderType: "SYSTEM" }),
      });
      body = await response.json();
    } catch (error) {
      return this.#say(`The server API did not answer: ${error.message}`, true);
    }
    if (!response.ok || body?.error) {
      const detail = (body?.data?.errors || []).map((e) => `${e.field} ${e.message}`).join("; ");
      return this.#say(`${response.status} ${body?.message || "failed"}${detail ? `: ${detail}` : ""}`, true);
    }
    // Both panes get it as receiveMessage: the page shows what a socket client would.
    return this.#say(`Posted to ${where}`, false);
  }

  #say(text, failed) {
    this.status.textContent = text;
    this.status.dataset.failed = failed ? "true" : "false";
  }
}
