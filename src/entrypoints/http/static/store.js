// What one pane knows about its user's chats. No DOM and no sockets here: every server
// event and every ack is folded in through these methods, which are idempotent, because the
// same data can reach a pane twice (an ack and an event addressed to the caller alone) and
// out of order (across senders only `seq` orders messages, PROTOCOL.md section 4).

const SNAPSHOT_FIELDS = [
  "productId", "customerId", "vendorId", "productName", "productImageUrl", "productPrice",
  "storeName", "storeLogoUrl", "customerName", "customerProfilePic",
  "createdAt", "updatedAt", "lastMessageAt", "unreadCount",
  // PROTOCOL.md section 10: the viewer blocks the counterpart / is blocked by them.
  "blocked", "blockedBy",
];

/** A message of the marketplace's backend: no sender, addressed to both participants. */
export function isSystemMessage(message) {
  return message?.senderType === "SYSTEM";
}

export class ChatStore {
  /** @param {{type: "CUSTOMER" | "VENDOR", id: number}} me */
  constructor(me) {
    this.me = me;
    /** @type {Map<string, object>} chat id -> chat (with `messages: Map<id, Message>`) */
    this.chats = new Map();
    /** Messages whose chat is not known yet (offlineMessages arrive before userChats). */
    this.orphans = new Map();
    /** Ids deleted while a fetch was in flight must not come back with its answer. */
    this.deleted = new Set();
    /** "CUSTOMER:1" -> {online: bool, lastSeen: string | null} */
    this.presence = new Map();
    /**
     * Unread messages in chats not loaded here: the last `totalUnread` (which counts every
     * chat of the user) minus what the loaded chats counted at that moment. The header's
     * total is this plus the loaded chats' counts, which the page keeps current.
     */
    this.unreadElsewhere = 0;
  }

  isMine(message) {
    return message.senderType === this.me.type && message.senderId === this.me.id;
  }

  /** Addressed to me: I am its recipient, or it is a system message (for both sides). */
  isForMe(message) {
    return isSystemMessage(message)
      || (message.recipientType === this.me.type && message.recipientId === this.me.id);
  }

  /** The other participant of a chat, as a user ref. */
  partnerOf(chat) {
    return this.me.type === "CUSTOMER"
      ? { type: "VENDOR", id: chat.vendorId }
      : { type: "CUSTOMER", id: chat.customerId };
  }

  /** Merges a Chat object from any event; returns the stored chat. */
  upsertChat(data) {
    let chat = this.chats.get(data.id);
    if (!chat) {
      chat = { id: data.id, messages: new Map(), hasMore: null, unreadCount: 0 };
      this.chats.set(data.id, chat);
    }
    for (const field of SNAPSHOT_FIELDS) {
      if (data[field] !== undefined) chat[field] = data[field];
    }
    for (const message of data.messages || []) this.#put(chat, message);
    for (const message of this.orphans.get(chat.id) || []) this.#put(chat, message);
    this.orphans.delete(chat.id);
    return chat;
  }

  /**
   * Adds one message (receiveMessage, an ack, offlineMessages, history).
   * Returns {chat, added}; chat is undefined when the chat is not known yet.
   */
  addMessage(message, { countUnread = true } = {}) {
    const chat = this.chats.get(message.chatId);
    if (!chat) {
      const list = this.orphans.get(message.chatId) || [];
      if (!list.some((m) => m.id === message.id)) list.push(message);
      this.orphans.set(message.chatId, list);
      return { chat: undefined, added: false };
    }
    const added = this.#put(chat, message);
    // A system message's `read` says that one of the two sides read it: not which one.
    const unread = isSystemMessage(message) || !message.read;
    if (added && countUnread && this.isForMe(message) && unread) chat.unreadCount += 1;
    return { chat, added };
  }

  /**
   * messageEdited (or the ack of our editMessage): the new text replaces the old one
   * wherever it shows. A message not loaded here is left out: putting it in would make a
   * hole in the history that paging (by the oldest seq) would never fill.
   */
  applyEdit(message) {
    const chat = this.chats.get(message?.chatId);
    if (!chat || !chat.messages.has(message.id)) return undefined;
    this.#put(chat, message);
    return chat;
  }

  #put(chat, message) {
    if (this.deleted.has(message.id)) return false;
    const known = chat.messages.get(message.id);
    // A later copy may carry newer state (deliveredAt, read); a read flag never goes back,
    // and a copy older than an edit we have (a history page in flight) keeps the new text.
    let merged = known ? { ...known, ...message, read: known.read || message.read } : message;
    if (known?.editedAt && !(message.editedAt >= known.editedAt)) {
      merged = { ...merged, text: known.text, editedAt: known.editedAt, masked: known.masked };
    }
    chat.messages.set(message.id, merged);
    const at = message.createdAt || message.timestamp;
    if (at && (!chat.lastMessageAt || at > chat.lastMessageAt)) chat.lastMessageAt = at;
    return !known;
  }

  /** History page from getMessages (moreMessages). */
  addHistory({ chatId, messages, hasMore }) {
    const chat = this.chats.get(chatId);
    if (!chat) return undefined;
    for (const message of messages) this.#put(chat, message);
    chat.hasMore = Boolean(hasMore);
    return chat;
  }

  removeMessage({ chatId, messageId }) {
    this.deleted.add(messageId);
    const chat = this.chats.get(chatId);
    if (!chat) return undefined;
    const message = chat.messages.get(messageId);
    if (message && this.isForMe(message) && !message.read && chat.unreadCount > 0) {
      chat.unreadCount -= 1;
    }
    chat.messages.delete(messageId);
    return chat;
  }

  /** updateReadReceipts: everything of the other side up to readUpToSeq is read. */
  applyReadReceipt({ chatId, readerId, readerType, readAt, readUpToSeq }) {
    const chat = this.chats.get(chatId);
    if (!chat) return undefined;
    const readerIsMe = readerType === this.me.type && readerId === this.me.id;
    let stillUnread = 0;
    for (const [id, message] of chat.messages) {
      const system = isSystemMessage(message);
      const addressedToReader = system
        || (message.recipientType === readerType && message.recipientId === readerId);
      if (!addressedToReader) continue;
      if (message.seq <= readUpToSeq) {
        if (!message.read) chat.messages.set(id, { ...message, read: true, readAt });
      } else if (readerIsMe && (system || !message.read)) {
        stillUnread += 1;
      }
    }
    if (readerIsMe) chat.unreadCount = stillUnread;
    return chat;
  }

  /** `totalUnread` of a userChats envelope, once its page of chats is stored. */
  setTotalUnread(total) {
    if (!Number.isSafeInteger(total) || total < 0) return;
    this.unreadElsewhere = Math.max(0, total - this.#loadedUnread());
  }

  /** Unread messages of all the user's chats, as the header shows them. */
  totalUnread() {
    return this.unreadElsewhere + this.#loadedUnread();
  }

  #loadedUnread() {
    let sum = 0;
    for (const chat of this.chats.values()) sum += Math.max(0, chat.unreadCount || 0);
    return sum;
  }

  /** Chats with `partner` (a block holds for every chat of the pair). */
  chatsWith(partner) {
    return [...this.chats.values()].filter((chat) => {
      const other = this.partnerOf(chat);
      return other.type === partner.type && other.id === partner.id;
    });
  }

  /** Messages of a chat, oldest first, by seq. */
  messagesOf(chatId) {
    const chat = this.chats.get(chatId);
    if (!chat) return [];
    return [...chat.messages.values()].sort((a, b) => a.seq - b.seq);
  }

  lastMessageOf(chat) {
    let last;
    for (const message of chat.messages.values()) {
      if (!last || message.seq > last.seq) last = message;
    }
    return last;
  }

  oldestSeq(chatId) {
    const messages = this.messagesOf(chatId);
    return messages.length ? messages[0].seq : undefined;
  }

  /** Chats, most recent activity first. */
  sortedChats() {
    return [...this.chats.values()].sort((a, b) =>
      String(b.lastMessageAt || "").localeCompare(String(a.lastMessageAt || "")));
  }

  /** The chat for (product, partner) if known: the key the server itself finds chats by. */
  findChat(productId, partnerId) {
    for (const chat of this.chats.values()) {
      if (chat.productId === productId && this.partnerOf(chat).id === partnerId) return chat;
    }
    return undefined;
  }

  setPresence({ userId, userType, online, lastSeen }) {
    const key = presenceKey(userType, userId);
    const before = this.presence.get(key) || {};
    this.presence.set(key, {
      online,
      lastSeen: online ? null : (lastSeen ?? before.lastSeen ?? null),
    });
  }

  presenceOf(user) {
    return this.presence.get(presenceKey(user.type, user.id));
  }
}

export function presenceKey(type, id) {
  return `${String(type).toUpperCase()}:${id}`;
}
