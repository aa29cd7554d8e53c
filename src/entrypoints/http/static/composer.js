// The composer of a pane: text, an optional image URL and attachments (uploads.js); sends
// (sendMessage), edits one of the user's own messages (editMessage) and signals typing.
import { isHttpUrl, newClientMessageId } from "./format.js";
import { UploadTray } from "./uploads.js";

const TYPING_REPEAT_MS = 2100; // the server relays `typing` at most once per 2 s
const TYPING_IDLE_MS = 3000; // no keystroke for this long: send stoppedTyping

export class Composer {
  /** @param {import("./pane.js").Pane} pane */
  constructor(pane) {
    this.pane = pane;
    const { refs } = pane;
    this.refs = refs;
    /** The own message the composer edits: {chatId, messageId, draft (what it held before)}. */
    this.editing = null;
    /** A send waits for uploads in progress: a second Enter meanwhile is not a second send. */
    this.waitingForUploads = false;
    this.saving = false;
    this.typingSentAt = 0;
    this.typingChatId = null;
    this.typingIdleTimer = null;
    this.tray = new UploadTray({
      list: refs.uploads,
      input: refs.fileInput,
      button: refs.attach,
      token: () => (pane.connection ? pane.token : null),
      notify: (notice) => pane.notify(notice),
      onChange: () => this.render(),
    });
    this.#bind();
  }

  #bind() {
    const { refs } = this;
    refs.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    refs.text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      } else if (event.key === "Escape" && this.editing) {
        event.preventDefault();
        this.endEdit();
      }
    });
    refs.cancelEdit.addEventListener("click", () => this.endEdit());
    refs.imageUrl.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        this.send();
      }
    });
    refs.text.addEventListener("input", () => this.#onInput());
    refs.text.addEventListener("blur", () => this.stopTyping());
  }

  /** A new user in the pane: nothing of the previous one's composer stays. */
  reset() {
    this.editing = null;
    this.tray.clear();
  }

  async send() {
    if (this.editing) {
      await this.#saveEdit();
      return;
    }
    if (this.waitingForUploads) return;
    if (this.tray.busy) {
      // Enter while photos upload sends once they are up (what a chat app does); when one
      // of them is refused meanwhile, nothing is sent: its notice shows, the text stays.
      // Another user connected in the pane meanwhile (a new store): not theirs to send.
      const { failures } = this.tray;
      const { store } = this.pane;
      this.waitingForUploads = true;
      this.render();
      await this.tray.idle();
      this.waitingForUploads = false;
      this.render();
      if (this.editing || this.tray.failures !== failures || this.pane.store !== store) return;
    }
    const { pane, refs } = this;
    const text = refs.text.value.trim();
    const imageUrl = refs.imageUrl.value.trim();
    if (!text && !imageUrl && this.tray.isEmpty) return;
    if (imageUrl && !isHttpUrl(imageUrl)) {
      pane.notify({ message: "The image URL must start with http:// or https://", event: "sendMessage" });
      return;
    }
    const chatId = pane.activeChatId;
    let payload;
    if (chatId) {
      const chat = pane.store.chats.get(chatId);
      payload = { chatId, recipientId: pane.store.partnerOf(chat).id, productId: chat.productId };
    } else {
      payload = pane.draftTarget();
      if (!payload) return;
    }
    const uploads = this.tray.take();
    const attachments = uploads.map((upload) => upload.attachment);
    const clientMessageId = newClientMessageId();
    if (text) payload.text = text;
    if (imageUrl) payload.messageImages = [imageUrl];
    if (attachments.length) payload.attachments = attachments.map((attachment) => attachment.id);
    payload.clientMessageId = clientMessageId;

    const now = new Date().toISOString();
    pane.pending.set(clientMessageId, {
      chatId,
      message: {
        id: `pending-${clientMessageId}`, chatId, seq: Number.MAX_SAFE_INTEGER, pending: true,
        senderId: pane.store.me.id, senderType: pane.type, text: text || null,
        messageImages: imageUrl ? [imageUrl] : [], attachments, read: false, createdAt: now,
      },
    });
    refs.text.value = "";
    refs.imageUrl.value = "";
    this.stopTyping();
    pane.scrollToBottom = true;
    pane.render();

    const envelope = await pane.request("sendMessage", payload);
    pane.pending.delete(clientMessageId);
    if (envelope.error) {
      // appError has shown why; give everything back so that nothing is lost (the server
      // leaves the uploads of a failed send free to send again).
      if (!refs.text.value) refs.text.value = text;
      if (!refs.imageUrl.value) refs.imageUrl.value = imageUrl;
      this.tray.restore(uploads);
      pane.render();
      return;
    }
    pane.onSent(envelope.data || {}, chatId);
  }

  // ---------------------------------------------------------------- editing

  /** Puts one of the user's own messages in the composer, to be saved with editMessage. */
  startEdit(messageId) {
    const { pane, refs } = this;
    const chat = pane.store.chats.get(pane.activeChatId);
    const message = chat?.messages.get(messageId);
    if (!message || !pane.store.isMine(message)) return;
    this.stopTyping();
    const draft = this.editing ? this.editing.draft : refs.text.value;
    this.editing = { chatId: chat.id, messageId, draft };
    refs.text.value = message.text || "";
    pane.render();
    refs.text.focus();
    refs.text.setSelectionRange(refs.text.value.length, refs.text.value.length);
  }

  async #saveEdit() {
    const { pane, refs } = this;
    const { chatId, messageId } = this.editing;
    const text = refs.text.value.trim();
    const message = pane.store.chats.get(chatId)?.messages.get(messageId);
    if (!text) {
      pane.notify({ message: "An edited message needs text (delete it instead)", event: "editMessage" });
      return;
    }
    if (message && text === message.text) {
      this.endEdit();
      return;
    }
    this.saving = true;
    this.render();
    const envelope = await pane.request("editMessage", { chatId, messageId, text });
    this.saving = false;
    this.render();
    // On failure appError has shown why (e.g. 403 past the edit window): the text stays.
    if (envelope.error) return;
    // With an ack, messageEdited skips this socket: the ack is its copy.
    pane.store.applyEdit(envelope.data);
    if (this.editing?.messageId === messageId) this.endEdit();
    else pane.render();
  }

  endEdit({ render = true } = {}) {
    if (!this.editing) return;
    this.refs.text.value = this.editing.draft || "";
    this.editing = null;
    if (render) this.pane.render();
  }

  // ---------------------------------------------------------------- typing

  #onInput() {
    const { pane } = this;
    const chatId = pane.activeChatId;
    if (this.editing || !chatId || !pane.connection?.chatConnected) return;
    // The blocked side's typing is refused (403) as its sends are: do not signal it.
    if (pane.store.chats.get(chatId)?.blockedBy) return;
    if (!this.refs.text.value.trim()) {
      this.stopTyping();
      return;
    }
    const now = Date.now();
    if (this.typingChatId !== chatId || now - this.typingSentAt >= TYPING_REPEAT_MS) {
      this.typingChatId = chatId;
      this.typingSentAt = now;
      pane.request("typing", { chatId });
    }
    clearTimeout(this.typingIdleTimer);
    this.typingIdleTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    const { pane } = this;
    clearTimeout(this.typingIdleTimer);
    const chatId = this.typingChatId;
    if (!chatId) return;
    this.typingChatId = null;
    this.typingSentAt = 0;
    if (pane.store.chats.get(chatId)?.blockedBy) return; // blocked meanwhile: 403
    if (pane.connection?.chatConnected) pane.request("stoppedTyping", { chatId });
  }

  // ---------------------------------------------------------------- rendering

  /** Editing: the composer holds the message's text, Send saves it; no attachments then. */
  render() {
    const { pane, refs } = this;
    const chat = pane.store.chats.get(pane.activeChatId);
    const editing = Boolean(this.editing && this.editing.chatId === pane.activeChatId);
    refs.editBanner.hidden = !editing;
    refs.send.textContent = editing ? "Save" : this.waitingForUploads ? "Uploading…" : "Send";
    refs.send.disabled = this.waitingForUploads || this.saving;
    refs.imageUrl.hidden = editing;
    refs.attach.hidden = editing;
    refs.uploads.hidden = editing || this.tray.isEmpty;
    refs.text.placeholder = chat?.blockedBy ? "You cannot message this user"
      : chat || pane.connection ? "Write a message. Enter sends, Shift+Enter adds a line."
        : "Connecting…";
  }
}
