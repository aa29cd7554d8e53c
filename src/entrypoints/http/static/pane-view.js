// How a pane shows what it knows: the header's unread total, the chat list, the open
// conversation (product header, presence, typing, messages and their history status).
// No state of its own beyond the scroll anchor: the pane and its store hold it.
import { attachmentsOfMessage } from "./attachments.js";
import { formatPrice, formatTime, h, isHttpUrl, partnerName, previewOf, userLabel } from "./format.js";
import { editExpiry, isEditable, renderMessage } from "./message-view.js";
import { isSystemMessage } from "./store.js";

export class PaneView {
  /** @param {import("./pane.js").Pane} pane */
  constructor(pane) {
    this.pane = pane;
    this.refs = pane.refs;
    /** Re-renders when the next Edit action shown passes the edit window. */
    this.editExpiryTimer = null;
  }

  render() {
    this.#renderTotalUnread();
    this.#renderChatList();
    this.#renderConversation();
  }

  #renderTotalUnread() {
    const total = this.pane.store.totalUnread();
    const { totalUnread } = this.refs;
    totalUnread.dataset.count = String(total);
    totalUnread.textContent = total ? `${total} unread` : "No unread";
  }

  #renderChatList() {
    const { pane, refs } = this;
    const { store } = pane;
    const focusedId = document.activeElement?.closest?.("[data-chat-id]")?.dataset.chatId;
    const items = store.sortedChats().map((chat) => {
      const partner = store.partnerOf(chat);
      const last = store.lastMessageOf(chat);
      const presence = store.presenceOf(partner);
      const typing = pane.partnerTyping.has(chat.id);
      const unread = chat.unreadCount > 0 ? chat.unreadCount : 0;
      const system = !typing && isSystemMessage(last);
      const attached = !typing && attachmentsOfMessage(last).length > 0;
      const preview = typing ? "typing…" : `${last && store.isMine(last) ? "You: " : ""}${previewOf(last)}`;
      return h("li", {},
        h("button", {
          type: "button", className: "chat-item", dataset: { chatId: chat.id },
          "aria-current": chat.id === pane.activeChatId ? "true" : undefined,
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
          attached ? h("span", { className: "icon-clip", title: "With attachments", "aria-hidden": "true" }) : null,
          h("span", {
            className: `chat-preview${typing ? " is-typing" : ""}${system ? " is-system" : ""}`,
            dataset: { role: "preview" }, title: system ? "From the marketplace" : undefined,
          }, preview),
          unread ? h("span", { className: "badge", "aria-label": `${unread} unread` }, String(unread)) : null)));
    });
    refs.chatList.replaceChildren(...items);
    refs.chatListEmpty.hidden = items.length > 0;
    refs.moreChats.hidden = !pane.chatsCursor;
    if (focusedId) refs.chatList.querySelector(`[data-chat-id="${CSS.escape(focusedId)}"]`)?.focus();
  }

  /** The chat open, or the draft of the new-conversation form. */
  #renderConversation() {
    const { pane, refs } = this;
    const { store } = pane;
    const chat = store.chats.get(pane.activeChatId);
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
      partner = { type: pane.partnerType, id: Number(refs.ncRecipient.value) || "?" };
    }
    pane.root.dataset.conversation = chat ? "chat" : "draft";

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

    pane.moderation.render(chat);

    // Typing indicator.
    const typing = chat && pane.partnerTyping.has(chat.id);
    refs.typing.textContent = typing ? `${partnerName(chat, partner)} is typing…` : "";

    this.#renderMessages(chat);
    pane.composer.render();
  }

  /** Messages, by seq, then this pane's sends still awaiting their ack. */
  #renderMessages(chat) {
    const { pane, refs } = this;
    const { store } = pane;
    const messages = chat ? store.messagesOf(chat.id) : [];
    for (const { chatId, message } of pane.pending.values()) {
      if (chatId === pane.activeChatId) messages.push(message);
    }
    const { scroller } = refs;
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    const firstBefore = refs.messageList.firstElementChild;
    const anchorTop = firstBefore ? firstBefore.offsetTop : 0;
    // Actions and attachments keep the focus across a render (the list is made anew).
    const focused = document.activeElement?.closest?.(".message-list button, .message-list a[data-lightbox], .message-list a[data-file]");
    const focusedAction = focused && Object.keys(focused.dataset)[0];

    const now = Date.now();
    refs.messageList.replaceChildren(...messages.map((message) => {
      const mine = store.isMine(message);
      return renderMessage(message, {
        mine,
        editable: mine && isEditable(message, pane.editWindowMs, now),
        editing: pane.composer.editing?.messageId === message.id,
      });
    }));
    this.#scheduleEditExpiry(messages, now);
    refs.conversationEmpty.hidden = messages.length > 0;

    if (chat?.hasMore || pane.loadingOlder) {
      refs.historyStatus.hidden = false;
      refs.historyStatus.textContent = pane.loadingOlder ? "Loading older messages…" : "Load older messages";
      refs.historyStatus.disabled = pane.loadingOlder;
    } else if (chat && chat.hasMore === false && messages.length) {
      refs.historyStatus.hidden = false;
      refs.historyStatus.textContent = "Beginning of the conversation";
      refs.historyStatus.disabled = true;
    } else {
      refs.historyStatus.hidden = true;
    }

    if (pane.scrollToBottom || atBottom) {
      scroller.scrollTop = scroller.scrollHeight;
    } else if (firstBefore) {
      // Older messages were put above: keep the one that was on top where it was.
      const same = refs.messageList.querySelector(`[data-id="${CSS.escape(firstBefore.dataset.id)}"]`);
      if (same) scroller.scrollTop += same.offsetTop - anchorTop;
    }
    pane.scrollToBottom = false;
    if (focusedAction) {
      const value = focused.dataset[focusedAction];
      refs.messageList.querySelector(`[data-${focusedAction}="${CSS.escape(value)}"]`)?.focus();
    }
  }

  /** Re-renders when the first Edit action shown passes the edit window, to take it away. */
  #scheduleEditExpiry(messages, now) {
    const { pane } = this;
    clearTimeout(this.editExpiryTimer);
    let next = Infinity;
    for (const message of messages) {
      if (!pane.store.isMine(message) || !isEditable(message, pane.editWindowMs, now)) continue;
      next = Math.min(next, editExpiry(message, pane.editWindowMs));
    }
    if (next !== Infinity) this.editExpiryTimer = setTimeout(() => pane.render(), next - now + 50);
  }
}
