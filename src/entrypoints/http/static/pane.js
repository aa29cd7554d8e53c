// One side of the demo: a user (customer or vendor), their connection, their chats.
import { Connection, fetchDevToken, identityFromToken } from "./connection.js";
import {
  formatPrice, formatTime, h, isHttpUrl, newClientMessageId, partnerName, previewOf, userLabel,
} from "./format.js";
import { editExpiry, isEditable, renderMessage } from "./message-view.js";
import { ChatModeration } from "./moderation.js";
import { ChatStore, isSystemMessage, presenceKey } from "./store.js";

const TYPING_REPEAT_MS = 2100; // the server relays `typing` at most once per 2 s
const TYPING_IDLE_MS = 3000; // no keystroke for this long: send stoppedTyping
const TYPING_SHOWN_MS = 6000; // hide "typing..." when no new userTyping came
const HISTORY_PAGE = 20;
const PRESENCE_CHECKS_PER_LIST = 20;
// CHAT_EDIT_WINDOW_S's default; the server, which has the last word, answers 403 after it.
const DEFAULT_EDIT_WINDOW_MS = 15 * 60 * 1000;

export class Pane {
  /**
   * @param {HTMLElement} root the pane's <section> (data-pane, data-user-type ...)
   * @param {HTMLTemplateElement} template
   * @param {object} demo the demo product prefilled in the new-conversation form
   * @param {{editWindowMs?: number}} [options]
   */
  constructor(root, template, demo, { editWindowMs = DEFAULT_EDIT_WINDOW_MS } = {}) {
    this.root = root;
    this.name = root.dataset.pane;
    this.type = root.dataset.userType.toUpperCase();
    this.partnerType = this.type === "CUSTOMER" ? "VENDOR" : "CUSTOMER";
    this.demo = demo;
    this.editWindowMs = editWindowMs;

    const fragment = template.content.cloneNode(true);
    for (const element of fragment.querySelectorAll("[id], [for], [aria-labelledby]")) {
      for (const attribute of ["id", "for", "aria-labelledby"]) {
        const value = element.getAttribute(attribute);
        if (value?.startsWith("__-")) element.setAttribute(attribute, value.replace("__", this.name));
      }
    }
    root.append(fragment);
    this.refs = {};
    for (const element of root.querySelectorAll("[data-ref]")) this.refs[element.dataset.ref] = element;

    this.connection = null;
    this.store = new ChatStore({ type: this.type, id: Number(root.dataset.defaultId) });
    /** Shown conversation: a chat id, or null for the draft of the new-conversation form. */
    this.activeChatId = null;
    /** Sends awaiting their ack: clientMessageId -> {chatId | null, message}. */
    this.pending = new Map();
    this.chatsCursor = null;
    this.pagedChats = false;
    this.loadingOlder = false;
    this.typingSentAt = 0;
    this.typingChatId = null;
    this.typingIdleTimer = null;
    /** chatId -> timer of a shown "typing..." */
    this.partnerTyping = new Map();
    /** Partners whose presence the server refused (403): asked again once they write. */
    this.presenceRefused = new Set();
    /** The own message the composer edits: {chatId, messageId, draft (what it held before)}. */
    this.editing = null;
    /** Re-renders when the next Edit action shown passes the edit window. */
    this.editExpiryTimer = null;
    this.moderation = new ChatModeration(this);

    this.#prefill();
    this.#bind();
    this.render();
  }

  // ---------------------------------------------------------------- setup

  #prefill() {
    const { refs } = this;
    const partnerId = Number(this.root.dataset.partnerId);
    refs.userId.value = this.root.dataset.defaultId;
    refs.recipientLabel.textContent = `${userLabel(this.partnerType, "").trim()} id (recipient)`;
    refs.ncRecipient.value = String(partnerId);
    refs.ncProduct.value = this.demo.productId;
    refs.ncName.value = this.demo.productName;
    refs.ncPrice.value = this.demo.productPrice;
    refs.ncImage.value = this.demo.productImageUrl;
    refs.ncStore.value = this.demo.storeName;
    refs.ncCustomer.value = this.demo.customerName;
    this.#showIdentity();
  }

  #bind() {
    const { refs } = this;
    refs.devTokenForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.connectWithDevToken(Number(refs.userId.value));
    });
    refs.pasteTokenForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.connectWithToken(refs.token.value.trim());
    });
    refs.disconnect.addEventListener("click", () => this.disconnect());
    refs.moreChats.addEventListener("click", () => this.#loadMoreChats());
    refs.newChatForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#startDraft();
    });
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
        this.#endEdit();
      }
    });
    refs.cancelEdit.addEventListener("click", () => this.#endEdit());
    refs.imageUrl.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        this.send();
      }
    });
    refs.text.addEventListener("input", () => this.#onComposerInput());
    refs.text.addEventListener("blur", () => this.#stopTyping());
    refs.scroller.addEventListener("scroll", () => {
      if (refs.scroller.scrollTop < 60) this.#loadOlder();
    });
    refs.historyStatus.addEventListener("click", () => this.#loadOlder());
    refs.chatList.addEventListener("click", (event) => {
      const button = event.target.closest("[data-chat-id]");
      if (button) this.openChat(button.dataset.chatId);
    });
    refs.messageList.addEventListener("click", (event) => {
      const remove = event.target.closest("button[data-delete]");
      if (remove) this.deleteMessage(remove.dataset.delete);
      const edit = event.target.closest("button[data-edit]");
      if (edit) this.startEdit(edit.dataset.edit);
    });
    refs.notices.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-dismiss]");
      if (button) {
        const notice = button.closest(".notice");
        const next = notice.nextElementSibling || notice.previousElementSibling;
        notice.remove();
        (next?.querySelector("button") || refs.text).focus();
      }
    });
    document.addEventListener("visibilitychange", () => this.#markActiveChatRead());
  }

  // ---------------------------------------------------------------- connection

  /** Resolves to whether the server gave a token (it does in development mode only). */
  async connectWithDevToken(id) {
    if (!Number.isSafeInteger(id) || id < 1) {
      this.notify({ message: "The user id must be a positive integer", event: "token" });
      return false;
    }
    try {
      const token = await fetchDevToken(this.type.toLowerCase(), id);
      this.refs.token.value = token;
      this.connectWithToken(token);
      return true;
    } catch (error) {
      this.refs.identity.open = true;
      this.notify({ message: `${error.message}. Paste a token instead.`, event: "token" });
      return false;
    }
  }

  connectWithToken(token) {
    let identity;
    try {
      identity = identityFromToken(token);
    } catch (error) {
      this.notify({ message: error.message, event: "token" });
      return;
    }
    if (identity.type !== this.type) {
      this.notify({
        message: `This token is a ${identity.type.toLowerCase()}'s; this pane is the ${this.type.toLowerCase()}'s`,
        event: "token",
      });
      return;
    }
    this.disconnect();
    this.store = new ChatStore(identity);
    this.refs.userId.value = String(identity.id);
    this.activeChatId = null;
    this.editing = null;
    this.presenceRefused.clear();
    this.pending.clear();
    this.chatsCursor = null;
    this.pagedChats = false;
    this.#showIdentity();
    this.connection = new Connection({
      token,
      onEvent: (namespace, event, envelope) => this.#onEvent(namespace, event, envelope),
      onState: (namespace, state, detail) => this.#onState(namespace, state, detail),
    });
    this.connection.start();
    this.render();
  }

  disconnect() {
    if (!this.connection) return;
    this.connection.close();
    this.connection = null;
    this.#setConnState("offline", "Not connected");
  }

  #showIdentity() {
    const label = userLabel(this.type, this.store.me.id);
    this.refs.title.textContent = label;
  }

  #onState(namespace, state, detail = {}) {
    const sockets = this.connection?.sockets;
    if (!sockets) return;
    if (state === "refused") {
      this.notify({ statusCode: detail.envelope?.statusCode, message: detail.message, event: `connect ${namespace}` });
    }
    if (namespace === "/chat" && state === "connected") this.#onChatConnected();
    if (namespace === "/presence" && state === "connected") this.#checkPresenceOfAll();
    const presence = sockets["/presence"].connected;
    const chat = sockets["/chat"].connected;
    if (presence && chat) this.#setConnState("online", "Connected");
    else if (state === "refused") this.#setConnState("offline", "Refused");
    else if (namespace === "/chat" && state === "disconnected" && detail.reason === "io server disconnect") {
      this.#setConnState("offline", "Disconnected by the server");
    } else this.#setConnState("connecting", "Connecting…");
  }

  #setConnState(state, text) {
    this.refs.conn.dataset.state = state;
    this.refs.connText.textContent = text;
  }

  #onChatConnected() {
    // The server pushes offlineMessages and userChats by itself; refresh what is open.
    // Sends made while disconnected sit in Socket.IO's buffer and go out now.
    if (this.activeChatId) this.openChat(this.activeChatId, { keepFocus: true });
  }

  // ---------------------------------------------------------------- server events

  #onEvent(namespace, event, envelope) {
    const data = envelope?.data;
    switch (event) {
      case "appError":
        // A presence the server will not show (a customer who has not written to this
        // vendor) is unknown presence, not a failure the user could do anything about.
        if (data?.event === "checkOnlinePresence" && envelope.statusCode === 403) return;
        this.notify({
          statusCode: envelope.statusCode,
          message: envelope.message,
          event: data?.event,
          errors: data?.errors,
        });
        break;
      case "userChats":
        for (const chat of data || []) this.store.upsertChat(chat);
        this.store.setTotalUnread(envelope.totalUnread);
        if (this.chatsCursor === null && !this.pagedChats) this.chatsCursor = envelope.nextCursor ?? null;
        this.#checkPresenceOfAll();
        break;
      case "offlineMessages":
        for (const message of data || []) this.store.addMessage(message, { countUnread: false });
        break;
      case "loadMessages":
        this.#onLoadMessages(data);
        break;
      case "moreMessages":
        this.#onMoreMessages(data);
        break;
      case "receiveMessage":
        this.#onMessage(data);
        break;
      case "newChat":
      case "newSentChat":
        this.#onNewChat(data);
        break;
      case "updateReadReceipts":
        this.store.applyReadReceipt(data);
        break;
      case "messageDeleted":
        this.store.removeMessage(data);
        if (this.editing?.messageId === data?.messageId) this.#endEdit({ render: false });
        break;
      case "messageEdited":
        this.store.applyEdit(data);
        break;
      case "chatUpdated": {
        // A block, a trusted profile or product: the Chat as this user sees it.
        const chat = this.store.chats.get(data?.id);
        if (!chat) break;
        const blockedBefore = Boolean(chat.blockedBy);
        this.store.upsertChat(data);
        // The blocked side gets no presence events about the blocker any more: ask again
        // (the server then says offline), and again once unblocked.
        if (Boolean(chat.blockedBy) !== blockedBefore) this.#checkPresence(this.store.partnerOf(chat));
        break;
      }
      case "userTyping":
        this.#onPartnerTyping(data, true);
        break;
      case "stoppedTyping":
        this.#onPartnerTyping(data, false);
        break;
      case "userIsOnline":
      case "userIsOffline":
        if (data && !(data.userId === this.store.me.id && String(data.userType).toUpperCase() === this.type)) {
          this.store.setPresence({ ...data, online: event === "userIsOnline" });
        }
        break;
      case "onlinePresence":
        if (data) this.store.setPresence({ ...data, online: Boolean(data.status) });
        break;
      default:
        return; // an event of a newer server: ignore it
    }
    this.render();
  }

  #onLoadMessages(chat) {
    if (!chat?.id) return;
    const stored = this.store.upsertChat(chat);
    if (stored.hasMore === null) {
      const oldest = this.store.oldestSeq(chat.id);
      stored.hasMore = oldest !== undefined && oldest > 1;
    }
  }

  #onMoreMessages(data) {
    if (!data?.chatId) return;
    this.store.addHistory(data);
  }

  #onMessage(message) {
    if (!message?.chatId) return;
    const { chat } = this.store.addMessage(message);
    if (!chat) {
      // A chat beyond the loaded pages, or created before this pane connected.
      this.request("getUserChats", { limit: 20 });
      return;
    }
    const partner = this.store.partnerOf(chat);
    const key = presenceKey(partner.type, partner.id);
    if (message.senderType === partner.type && this.presenceRefused.delete(key)) {
      this.#checkPresence(partner); // having written, they may be seen now
    }
    if (message.chatId === this.activeChatId && this.store.isForMe(message)) {
      this.#clearPartnerTyping(message.chatId);
      this.#markActiveChatRead();
    }
  }

  #onNewChat(chat) {
    if (!chat?.id) return;
    const stored = this.store.upsertChat(chat);
    if (stored.hasMore === null) {
      const oldest = this.store.oldestSeq(chat.id);
      stored.hasMore = oldest !== undefined && oldest > 1;
    }
    this.#checkPresence(this.store.partnerOf(chat));
    if (chat.id === this.activeChatId) this.#markActiveChatRead();
  }

  #onPartnerTyping(data, typing) {
    if (!data?.chatId) return;
    if (typing) {
      clearTimeout(this.partnerTyping.get(data.chatId));
      this.partnerTyping.set(data.chatId, setTimeout(() => this.#clearPartnerTyping(data.chatId), TYPING_SHOWN_MS));
    } else {
      this.#clearPartnerTyping(data.chatId, { render: false });
    }
  }

  #clearPartnerTyping(chatId, { render = true } = {}) {
    clearTimeout(this.partnerTyping.get(chatId));
    const had = this.partnerTyping.delete(chatId);
    if (had && render) this.render();
  }

  // ---------------------------------------------------------------- client requests

  /**
   * Emits with an ack; the envelope is returned (appError has already shown a failure).
   * Public for the pane's helpers (moderation.js).
   */
  async request(event, payload, namespace = "/chat") {
    if (!this.connection) {
      this.notify({ message: "Not connected", event });
      return { error: true, statusCode: 0, message: "Not connected" };
    }
    const envelope = await this.connection.request(namespace, event, payload);
    if (envelope.timedOut) this.notify({ message: envelope.message, event });
    return envelope;
  }

  async openChat(chatId, { keepFocus = false } = {}) {
    if (chatId !== this.activeChatId) {
      this.#stopTyping();
      if (this.editing) this.#endEdit({ render: false });
      this.activeChatId = chatId;
      this.scrollToBottom = true;
      this.render();
    }
    const envelope = await this.request("joinChat", { chatId });
    // loadMessages also reaches this socket as an event; folding it in twice is harmless.
    if (!envelope.error) this.#onLoadMessages(envelope.data);
    this.render();
    if (!keepFocus && chatId === this.activeChatId) this.refs.text.focus();
    this.#fillScroller();
  }

  #markActiveChatRead() {
    const chat = this.store.chats.get(this.activeChatId);
    if (!chat || chat.unreadCount === 0 || document.visibilityState === "hidden") return;
    if (this.markingRead) return;
    this.markingRead = true;
    this.request("markAsRead", { chatId: chat.id }).then((envelope) => {
      this.markingRead = false;
      // With an ack the broadcast skips this socket: the ack is its updateReadReceipts.
      if (!envelope.error && envelope.data) this.store.applyReadReceipt(envelope.data);
      this.render();
    });
  }

  async #loadOlder() {
    const chatId = this.activeChatId;
    const chat = this.store.chats.get(chatId);
    if (!chat || !chat.hasMore || this.loadingOlder) return;
    const before = this.store.oldestSeq(chatId);
    if (before === undefined) return;
    this.loadingOlder = true;
    this.render();
    const envelope = await this.request("getMessages", { chatId, before, limit: HISTORY_PAGE });
    if (!envelope.error) this.#onMoreMessages(envelope.data);
    else if (chat) chat.hasMore = false; // do not hammer a failing request on every scroll
    this.loadingOlder = false;
    this.render();
    this.#fillScroller();
  }

  /** Loads older pages until the conversation can scroll (or there are no more). */
  #fillScroller() {
    const { scroller } = this.refs;
    const chat = this.store.chats.get(this.activeChatId);
    if (chat?.hasMore && scroller.scrollHeight <= scroller.clientHeight + 60) this.#loadOlder();
  }

  async #loadMoreChats() {
    if (!this.chatsCursor) return;
    this.pagedChats = true;
    const envelope = await this.request("getUserChats", { limit: 20, before: this.chatsCursor });
    if (!envelope.error) {
      for (const chat of envelope.data || []) this.store.upsertChat(chat);
      this.store.setTotalUnread(envelope.totalUnread);
      this.chatsCursor = envelope.nextCursor ?? null;
    }
    this.render();
  }

  #checkPresenceOfAll() {
    if (!this.connection?.sockets["/presence"].connected) return;
    const partners = new Map();
    for (const chat of this.store.sortedChats()) {
      const partner = this.store.partnerOf(chat);
      partners.set(`${partner.type}:${partner.id}`, partner);
    }
    [...partners.values()]
      .filter((partner) => !this.store.presenceOf(partner)
        && !this.presenceRefused.has(presenceKey(partner.type, partner.id)))
      .slice(0, PRESENCE_CHECKS_PER_LIST)
      .forEach((partner) => this.#checkPresence(partner));
  }

  async #checkPresence(partner) {
    if (!this.connection?.sockets["/presence"].connected) return;
    const envelope = await this.request(
      "checkOnlinePresence", { userId: partner.id, userType: partner.type }, "/presence");
    if (!envelope.error && envelope.data) {
      this.store.setPresence({ ...envelope.data, online: Boolean(envelope.data.status) });
      this.render();
    } else if (envelope.statusCode === 403) {
      this.presenceRefused.add(presenceKey(partner.type, partner.id));
    }
  }

  #startDraft() {
    const draft = this.#draft();
    if (!draft) return;
    const existing = this.store.findChat(draft.productId, draft.recipientId);
    if (existing) {
      this.openChat(existing.id);
      return;
    }
    this.#stopTyping();
    if (this.editing) this.#endEdit({ render: false });
    this.activeChatId = null;
    this.render();
    this.refs.text.focus();
  }

  /** The new-conversation form as a sendMessage target, or undefined when invalid. */
  #draft() {
    const { refs } = this;
    const recipientId = Number(refs.ncRecipient.value);
    const productId = refs.ncProduct.value.trim();
    if (!Number.isSafeInteger(recipientId) || recipientId < 1 || !productId) {
      this.notify({ message: "A new conversation needs a recipient id and a product id", event: "sendMessage" });
      return undefined;
    }
    const optional = (input) => input.value.trim() || undefined;
    const image = optional(refs.ncImage);
    return {
      recipientId,
      productId,
      productName: optional(refs.ncName),
      productPrice: optional(refs.ncPrice),
      productImageUrl: image && isHttpUrl(image) ? image : undefined,
      storeName: optional(refs.ncStore),
      customerName: optional(refs.ncCustomer),
    };
  }

  async send() {
    if (this.editing) {
      await this.#saveEdit();
      return;
    }
    const { refs } = this;
    const text = refs.text.value.trim();
    const imageUrl = refs.imageUrl.value.trim();
    if (!text && !imageUrl) return;
    if (imageUrl && !isHttpUrl(imageUrl)) {
      this.notify({ message: "The image URL must start with http:// or https://", event: "sendMessage" });
      return;
    }
    const chatId = this.activeChatId;
    let payload;
    if (chatId) {
      const chat = this.store.chats.get(chatId);
      payload = { chatId, recipientId: this.store.partnerOf(chat).id, productId: chat.productId };
    } else {
      payload = this.#draft();
      if (!payload) return;
    }
    const clientMessageId = newClientMessageId();
    if (text) payload.text = text;
    if (imageUrl) payload.messageImages = [imageUrl];
    payload.clientMessageId = clientMessageId;

    const now = new Date().toISOString();
    this.pending.set(clientMessageId, {
      chatId,
      message: {
        id: `pending-${clientMessageId}`, chatId, seq: Number.MAX_SAFE_INTEGER, pending: true,
        senderId: this.store.me.id, senderType: this.type, text: text || null,
        messageImages: imageUrl ? [imageUrl] : [], read: false, createdAt: now,
      },
    });
    refs.text.value = "";
    refs.imageUrl.value = "";
    this.#stopTyping();
    this.scrollToBottom = true;
    this.render();

    const envelope = await this.request("sendMessage", payload);
    this.pending.delete(clientMessageId);
    if (envelope.error) {
      // appError has shown why; give the text back so that nothing typed is lost.
      if (!refs.text.value) refs.text.value = text;
      if (!refs.imageUrl.value) refs.imageUrl.value = imageUrl;
      this.render();
      return;
    }
    // Our own send: the ack is the only copy this socket gets (section 4).
    const data = envelope.data || {};
    const sentChatId = Array.isArray(data.messages) ? data.id : data.chatId;
    if (Array.isArray(data.messages)) this.#onNewChat(data);
    else this.#onMessage(data);
    if (this.activeChatId === chatId && sentChatId && sentChatId !== chatId) {
      // The draft became (or found) a chat: show that chat from now on.
      this.activeChatId = sentChatId;
      if (!this.store.chats.has(sentChatId) || !Array.isArray(data.messages)) {
        this.openChat(sentChatId, { keepFocus: true });
      }
    }
    this.scrollToBottom = true;
    this.render();
  }

  async deleteMessage(messageId) {
    const chatId = this.activeChatId;
    if (!chatId) return;
    const envelope = await this.request("deleteMessage", { chatId, messageId });
    if (!envelope.error) {
      this.store.removeMessage(envelope.data || { chatId, messageId });
      this.render();
      this.refs.text.focus();
    }
  }

  // ---------------------------------------------------------------- editing

  /** Puts one of the user's own messages in the composer, to be saved with editMessage. */
  startEdit(messageId) {
    const chat = this.store.chats.get(this.activeChatId);
    const message = chat?.messages.get(messageId);
    if (!message || !this.store.isMine(message)) return;
    this.#stopTyping();
    const draft = this.editing ? this.editing.draft : this.refs.text.value;
    this.editing = { chatId: chat.id, messageId, draft };
    this.refs.text.value = message.text || "";
    this.render();
    this.refs.text.focus();
    this.refs.text.setSelectionRange(this.refs.text.value.length, this.refs.text.value.length);
  }

  async #saveEdit() {
    const { chatId, messageId } = this.editing;
    const text = this.refs.text.value.trim();
    const message = this.store.chats.get(chatId)?.messages.get(messageId);
    if (!text) {
      this.notify({ message: "An edited message needs text (delete it instead)", event: "editMessage" });
      return;
    }
    if (message && text === message.text) {
      this.#endEdit();
      return;
    }
    this.refs.send.disabled = true;
    const envelope = await this.request("editMessage", { chatId, messageId, text });
    this.refs.send.disabled = false;
    // On failure appError has shown why (e.g. 403 past the edit window): the text stays.
    if (envelope.error) return;
    // With an ack, messageEdited skips this socket: the ack is its copy.
    this.store.applyEdit(envelope.data);
    if (this.editing?.messageId === messageId) this.#endEdit();
    else this.render();
  }

  #endEdit({ render = true } = {}) {
    if (!this.editing) return;
    this.refs.text.value = this.editing.draft || "";
    this.editing = null;
    if (render) this.render();
  }

  #onComposerInput() {
    const chatId = this.activeChatId;
    if (this.editing || !chatId || !this.connection?.chatConnected) return;
    // The blocked side's typing is refused (403) as its sends are: do not signal it.
    if (this.store.chats.get(chatId)?.blockedBy) return;
    if (!this.refs.text.value.trim()) {
      this.#stopTyping();
      return;
    }
    const now = Date.now();
    if (this.typingChatId !== chatId || now - this.typingSentAt >= TYPING_REPEAT_MS) {
      this.typingChatId = chatId;
      this.typingSentAt = now;
      this.request("typing", { chatId });
    }
    clearTimeout(this.typingIdleTimer);
    this.typingIdleTimer = setTimeout(() => this.#stopTyping(), TYPING_IDLE_MS);
  }

  #stopTyping() {
    clearTimeout(this.typingIdleTimer);
    const chatId = this.typingChatId;
    if (!chatId) return;
    this.typingChatId = null;
    this.typingSentAt = 0;
    if (this.store.chats.get(chatId)?.blockedBy) return; // blocked meanwhile: 403
    if (this.connection?.chatConnected) this.request("stoppedTyping", { chatId });
  }

  // ---------------------------------------------------------------- notices

  /**
   * Shows a dismissable notice; an identical one already shown is counted instead.
   * `kind: "info"` is an outcome the user asked for (a report sent), not a failure.
   */
  notify({ statusCode, message, event, errors, kind = "error" }) {
    const parts = [statusCode ? String(statusCode) : null, event].filter(Boolean).join(" · ");
    let text = message || "Something went wrong";
    if (Array.isArray(errors) && errors.length) {
      text += `: ${errors.map((e) => [e.field, e.message].filter(Boolean).join(" ")).join("; ")}`;
    }
    const key = `${parts}|${text}`;
    for (const notice of this.refs.notices.children) {
      if (notice.dataset.key === key) {
        const count = Number(notice.dataset.count) + 1;
        notice.dataset.count = String(count);
        notice.querySelector(".count").textContent = `×${count}`;
        return;
      }
    }
    const info = kind === "info";
    const notice = h("div", {
      className: `notice${info ? " info" : ""}`, role: info ? "status" : "alert",
      dataset: { key, count: "1", status: statusCode || "" },
    },
      h("p", {},
        parts ? h("strong", {}, parts, ": ") : null,
        h("span", { className: "notice-text" }, text),
        " ",
        h("span", { className: "count" })),
      h("button", { type: "button", className: "dismiss", dataset: { dismiss: "" }, "aria-label": "Dismiss notice", title: "Dismiss" }, "×"));
    this.refs.notices.append(notice);
  }

  // ---------------------------------------------------------------- rendering

  render() {
    this.#renderTotalUnread();
    this.#renderChatList();
    this.#renderConversation();
  }

  #renderTotalUnread() {
    const total = this.store.totalUnread();
    const { totalUnread } = this.refs;
    totalUnread.dataset.count = String(total);
    totalUnread.textContent = total ? `${total} unread` : "No unread";
  }

  #renderChatList() {
    const { refs, store } = this;
    const focusedId = document.activeElement?.closest?.("[data-chat-id]")?.dataset.chatId;
    const items = store.sortedChats().map((chat) => {
      const partner = store.partnerOf(chat);
      const last = store.lastMessageOf(chat);
      const presence = store.presenceOf(partner);
      const typing = this.partnerTyping.has(chat.id);
      const unread = chat.unreadCount > 0 ? chat.unreadCount : 0;
      const system = !typing && isSystemMessage(last);
      const preview = typing ? "typing…" : `${last && store.isMine(last) ? "You: " : ""}${previewOf(last)}`;
      return h("li", {},
        h("button", {
          type: "button", className: "chat-item", dataset: { chatId: chat.id },
          "aria-current": chat.id === this.activeChatId ? "true" : undefined,
        },
        h("span", { className: "chat-line" },
          h("span", {
            className: "dot", dataset: { state: presence ? (presence.online ? "online" : "offline") : "unknown" },
            title: presence?.online ? "Online" : "Offline", "aria-hidden": "true",
          }),
          h("span", { className: "chat-name", title: partnerName(chat, partner) },
            (partner.type === "VENDOR" ? chat.storeName : chat.customerName) || userLabel(partner.type, partner.id)),
          h("time", { className: "chat-time", dateTime: chat.lastMessageAt || "" }, formatTime(chat.lastMessageAt))),
        h("span", { className: "chat-product" },
          `${chat.productName || `Product ${chat.productId}`} · ${userLabel(partner.type, partner.id)}`),
        h("span", { className: "chat-line" },
          h("span", {
            className: `chat-preview${typing ? " is-typing" : ""}${system ? " is-system" : ""}`,
            dataset: { role: "preview" }, title: system ? "From the marketplace" : undefined,
          }, preview),
          unread ? h("span", { className: "badge", "aria-label": `${unread} unread` }, String(unread)) : null)));
    });
    refs.chatList.replaceChildren(...items);
    refs.chatListEmpty.hidden = items.length > 0;
    refs.moreChats.hidden = !this.chatsCursor;
    if (focusedId) refs.chatList.querySelector(`[data-chat-id="${CSS.escape(focusedId)}"]`)?.focus();
  }

  #renderConversation() {
    const { refs, store } = this;
    const chat = store.chats.get(this.activeChatId);
    let snapshot;
    let partner;
    if (chat) {
      snapshot = chat;
      partner = store.partnerOf(chat);
    } else {
      const value = (input) => input.value.trim();
      snapshot = {
        productId: value(refs.ncProduct), productName: value(refs.ncName), productPrice: value(refs.ncPrice),
        productImageUrl: value(refs.ncImage), storeName: value(refs.ncStore), customerName: value(refs.ncCustomer),
      };
      partner = { type: this.partnerType, id: Number(refs.ncRecipient.value) || "?" };
    }
    this.root.dataset.conversation = chat ? "chat" : "draft";

    // Product header: the chat's display snapshot.
    refs.productName.textContent = snapshot.productName || `Product ${snapshot.productId || "?"}`;
    refs.productPrice.textContent = formatPrice(snapshot.productPrice);
    refs.counterpart.textContent = `${chat ? "with" : "new conversation with"} ${partnerName(snapshot, partner)}`;
    const image = snapshot.productImageUrl;
    if (image && isHttpUrl(image)) {
      if (refs.productImage.getAttribute("src") !== image) refs.productImage.src = image;
      refs.productImage.alt = snapshot.productName || "Product";
      refs.productImage.hidden = false;
    } else {
      refs.productImage.hidden = true;
      refs.productImage.removeAttribute("src");
    }
    const presence = chat ? store.presenceOf(partner) : undefined;
    refs.presence.dataset.state = presence ? (presence.online ? "online" : "offline") : "unknown";
    refs.presenceText.textContent = !presence ? ""
      : presence.online ? "Online"
        : presence.lastSeen ? `Last seen ${formatTime(presence.lastSeen)}` : "Offline";

    this.moderation.render(chat);

    // Typing indicator.
    const typing = chat && this.partnerTyping.has(chat.id);
    refs.typing.textContent = typing ? `${partnerName(chat, partner)} is typing…` : "";

    // Messages, by seq, then this pane's sends still awaiting their ack.
    const messages = chat ? store.messagesOf(chat.id) : [];
    for (const { chatId, message } of this.pending.values()) {
      if (chatId === this.activeChatId) messages.push(message);
    }
    const { scroller } = refs;
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    const firstBefore = refs.messageList.firstElementChild;
    const anchorTop = firstBefore ? firstBefore.offsetTop : 0;
    const focused = document.activeElement?.closest?.(".message-list button");
    const focusedAction = focused && Object.keys(focused.dataset)[0];

    const now = Date.now();
    refs.messageList.replaceChildren(...messages.map((message) => {
      const mine = store.isMine(message);
      return renderMessage(message, {
        mine,
        editable: mine && isEditable(message, this.editWindowMs, now),
        editing: this.editing?.messageId === message.id,
      });
    }));
    this.#scheduleEditExpiry(messages, now);
    refs.conversationEmpty.hidden = messages.length > 0;

    if (chat?.hasMore || this.loadingOlder) {
      refs.historyStatus.hidden = false;
      refs.historyStatus.textContent = this.loadingOlder ? "Loading older messages…" : "Load older messages";
      refs.historyStatus.disabled = this.loadingOlder;
    } else if (chat && chat.hasMore === false && messages.length) {
      refs.historyStatus.hidden = false;
      refs.historyStatus.textContent = "Beginning of the conversation";
      refs.historyStatus.disabled = true;
    } else {
      refs.historyStatus.hidden = true;
    }

    if (this.scrollToBottom || atBottom) {
      scroller.scrollTop = scroller.scrollHeight;
    } else if (firstBefore) {
      // Older messages were put above: keep the one that was on top where it was.
      const same = refs.messageList.querySelector(`[data-id="${CSS.escape(firstBefore.dataset.id)}"]`);
      if (same) scroller.scrollTop += same.offsetTop - anchorTop;
    }
    this.scrollToBottom = false;
    if (focusedAction) {
      const value = focused.dataset[focusedAction];
      refs.messageList.querySelector(`[data-${focusedAction}="${CSS.escape(value)}"]`)?.focus();
    }

    // Editing: the composer holds the message's text; Send saves it.
    const editing = Boolean(this.editing && this.editing.chatId === this.activeChatId);
    refs.editBanner.hidden = !editing;
    refs.send.textContent = editing ? "Save" : "Send";
    refs.imageUrl.hidden = editing;

    refs.text.placeholder = chat?.blockedBy ? "You cannot message this user"
      : chat || this.connection ? "Write a message. Enter sends, Shift+Enter adds a line."
        : "Connecting…";
  }

  /** Re-renders when the first Edit action shown passes the edit window, to take it away. */
  #scheduleEditExpiry(messages, now) {
    clearTimeout(this.editExpiryTimer);
    let next = Infinity;
    for (const message of messages) {
      if (!this.store.isMine(message) || !isEditable(message, this.editWindowMs, now)) continue;
      next = Math.min(next, editExpiry(message, this.editWindowMs));
    }
    if (next !== Infinity) this.editExpiryTimer = setTimeout(() => this.render(), next - now + 50);
  }
}
