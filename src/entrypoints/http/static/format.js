// Small display helpers. Everything that reaches the DOM goes through textContent or
// element properties, never innerHTML: message text and chat snapshots are user input.

/** Builds an element: h("p", {className: "x", dataset: {id: 1}}, "text", child). */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(element.dataset, value);
    else if (key in element && !key.startsWith("aria")) element[key] = value;
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

export function isHttpUrl(value) {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

const priceFormat = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });

/** `productPrice` is kept as the client sent it: a number, a numeric string, or free text. */
export function formatPrice(price) {
  if (price === null || price === undefined || price === "") return "";
  const number = typeof price === "number" ? price : Number(String(price).trim());
  return Number.isFinite(number) ? priceFormat.format(number) : String(price);
}

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function userLabel(type, id) {
  return `${type === "VENDOR" ? "Vendor" : "Customer"} ${id}`;
}

/** The name of the other participant, from the chat's display snapshot. */
export function partnerName(chat, partner) {
  const name = partner.type === "VENDOR" ? chat.storeName : chat.customerName;
  return name ? `${name} (${userLabel(partner.type, partner.id)})` : userLabel(partner.type, partner.id);
}

/** One line for a message: its text, else what it carries ("Photo", "invoice.pdf" ...). */
export function previewOf(message) {
  if (!message) return "No messages";
  if (message.text) return message.text;
  const attachments = Array.isArray(message.attachments) ? message.attachments.filter(Boolean) : [];
  if (attachments.length === 1) {
    return attachments[0].kind === "image" ? "Photo" : attachments[0].name || "File";
  }
  if (attachments.length > 1) {
    const photos = attachments.every((a) => a.kind === "image");
    return photos ? `${attachments.length} photos` : `${attachments.length} attachments`;
  }
  const count = message.messageImages?.length || 0;
  return count === 1 ? "Image" : `${count} images`;
}

export function newClientMessageId() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}
