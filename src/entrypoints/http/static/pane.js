// One side of the demo: a user (customer or vendor), their connection, their chats.
import { Composer } from "./composer.js";
import { Connection, fetchDevToken, identityFromToken } from "./connection.js";
import { isHttpUrl, userLabel } from "./format.js";
import { Lightbox } from "./lightbox.js";
import { ChatModeration } from "./moderation.js";
import { Notices } from "./notices.js";
import { PaneView } from "./pane-view.js";
import { ChatStore, presenceKey } from "./store.js";

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
    /** The user's JWT (uploads send it over HTTP). */
    this.token = null;
    this.store = new ChatStore({ type: this.type, id: Number(root.dataset.defaultId) });
    /** Shown conversation: a chat id, or null for the draft of the new-conversation form. */
    this.activeChatId = null;
    /** Sends awaiting their ack: clientMessageId -> {chatId | null, message}. */
    this.pending = new Map();
    this.chatsCursor = null;
    this.pagedChats = false;
    this.loadingOlder = false;
    /** chatId -> timer of a shown "typing..." */
    this.partnerTyping = new Map();
    /** Partners whose presence the server refused (403): asked again once they write. */
    this.presenceRefused = new Set();
    this.notices = new Notices(this.refs.notices, this.refs.text);
    this.moderation = new ChatModeration(this);
    this.composer = new Composer(this);
    this.lightbox = new Lightbox(this.refs.lightbox, this.refs.messageList);
    this.view = new PaneView(this);

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
      if (edit) this.composer.startEdit(edit.dataset.edit);
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
    this.token = token;
    this.activeChatId = null;
    this.composer.reset();
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
        if (this.composer.editing?.messageId === data?.messageId) this.composer.endEdit({ render: false });
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
      this.composer.stopTyping();
      this.composer.endEdit({ render: false });
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
    const draft = this.draftTarget();
    if (!draft) return;
    const existing = this.store.findChat(draft.productId, draft.recipientId);
    if (existing) {
      this.openChat(existing.id);
      return;
    }
    this.composer.stopTyping();
    this.composer.endEdit({ render: false });
    this.activeChatId = null;
    this.render();
    this.refs.text.focus();
  }

  /** The new-conversation form as a sendMessage target, or undefined when invalid. */
  draftTarget() {
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

  /** Folds in the ack of this pane's own send to `chatId` (null: the draft). */
  onSent(data, chatId) {
    // Our own send: the ack is the only copy this socket gets (section 4).
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

  /** A dismissable notice (notices.js): failures, and outcomes the user asked for. */
  notify(notice) {
    this.notices.notify(notice);
  }

  render() {
    this.view.render();
  }
}
