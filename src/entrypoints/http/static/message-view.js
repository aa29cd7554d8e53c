// How one message looks: a bubble of either participant, or a centred note of the
// marketplace (a system message); contact details the server hid, the "edited" mark,
// attachments (attachments.js) and the actions on one's own messages. No state here: the pane passes what it knows.
import { otherImages, renderAttachments } from "./attachments.js";
import { formatTime, h, isHttpUrl, previewOf } from "./format.js";
import { isSystemMessage } from "./store.js";

/** What the contact-detail filter puts where it removed a phone number, e-mail or link. */
export const MASK = "[hidden]";

/**
 * Whether the sender may still edit `message` by the page's clock (the server decides, with
 * its own clock and CHAT_EDIT_WINDOW_S, and answers 403 when the window has passed).
 */
export function isEditable(message, editWindowMs, now = Date.now()) {
  if (message.pending || isSystemMessage(message)) return false;
  const sentAt = Date.parse(message.createdAt || message.timestamp || "");
  return Number.isFinite(sentAt) && now - sentAt < editWindowMs;
}

/** When the Edit action of `message` must go (ms since the epoch), or undefined. */
export function editExpiry(message, editWindowMs) {
  const sentAt = Date.parse(message.createdAt || message.timestamp || "");
  return Number.isFinite(sentAt) ? sentAt + editWindowMs : undefined;
}

/** The text of a message; with `masked`, each [hidden] becomes a muted pill. */
function textOf(message) {
  if (!message.text) return null;
  if (!message.masked) return h("p", { className: "text" }, message.text);
  const parts = message.text.split(MASK);
  const children = [];
  parts.forEach((part, index) => {
    if (index > 0) {
      children.push(h("span", {
        className: "masked", title: "contact details hidden", dataset: { masked: "" },
      }, "hidden"));
    }
    if (part) children.push(part);
  });
  return h("p", { className: "text" }, children);
}

/** Image URLs of the message itself (its attachments show as such, not twice). */
function imagesOf(message) {
  const images = otherImages(message).filter(isHttpUrl).map((url) =>
    h("a", { href: url, target: "_blank", rel: "noopener noreferrer", className: "image-link" },
      h("img", { src: url, alt: "Image attached to the message", loading: "lazy" })));
  return images.length ? h("div", { className: "images" }, images) : null;
}

function timeOf(message) {
  const at = message.createdAt || message.timestamp;
  return h("time", { dateTime: at || "" }, formatTime(at));
}

function editedMark(message) {
  if (!message.editedAt) return null;
  return h("span", { className: "edited", title: `Edited ${formatTime(message.editedAt)}` }, "edited");
}

/**
 * @param {object} message
 * @param {object} options
 * @param {boolean} options.mine sent by this pane's user
 * @param {boolean} options.editable show the Edit action
 * @param {boolean} options.editing this message is in the composer being edited
 */
export function renderMessage(message, { mine, editable, editing }) {
  const dataset = { id: message.id, seq: message.pending ? "" : String(message.seq) };
  if (isSystemMessage(message)) {
    // The marketplace speaking to both sides: no sender, no ticks, nobody may delete it.
    return h("li", { className: "message system", dataset },
      h("div", { className: "system-note" },
        textOf(message),
        imagesOf(message),
        renderAttachments(message),
        h("div", { className: "message-meta" }, timeOf(message), editedMark(message))));
  }
  let tick = null;
  if (mine) {
    const [state, label, glyph] = message.pending ? ["pending", "Sending", "○"]
      : message.read ? ["read", "Read", "✓✓"]
        : message.deliveredAt ? ["delivered", "Delivered", "✓✓"]
          : ["sent", "Sent", "✓"];
    tick = h("span", { className: "tick", dataset: { tick: state }, role: "img", "aria-label": label, title: label }, glyph);
  }
  const label = previewOf(message).slice(0, 40);
  const actions = mine && !message.pending ? [
    editable ? h("button", {
      type: "button", className: "action", dataset: { edit: message.id },
      "aria-label": `Edit message: ${label}`, title: "Edit",
    }, "Edit") : null,
    h("button", {
      type: "button", className: "action delete", dataset: { delete: message.id },
      "aria-label": `Delete message: ${label}`, title: "Delete",
    }, "Delete"),
  ] : [];
  return h("li", {
    className: `message ${mine ? "mine" : "theirs"}${message.pending ? " pending" : ""}${editing ? " editing" : ""}`,
    dataset,
  },
  h("div", { className: "bubble" },
    textOf(message),
    imagesOf(message),
    renderAttachments(message),
    h("div", { className: "message-meta" }, editedMark(message), timeOf(message), tick, actions)));
}
