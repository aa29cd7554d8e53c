// Attachments as a message shows them (docs/attachments.md): a photo as its thumbnail, which
// opens the full image in the pane's lightbox; a PDF as a card with its name and size that
// downloads it. URLs come from the server, signed for this pane's user; they are relative
// unless CHAT_MEDIA_BASE_URL is set.
import { h } from "./format.js";

/** The box a photo's thumbnail is fitted in, in CSS pixels (the server's is 320 px). */
const THUMBNAIL_BOX = { width: 200, height: 150 };

/** Binary units, as the server counts its limits (10 MB = 10,485,760 bytes). */
export function formatBytes(size) {
  if (!Number.isFinite(size) || size < 0) return "";
  const units = ["B", "KB", "MB", "GB"];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${value} B`;
  const shown = value < 10 ? Math.round(value * 10) / 10 : Math.round(value);
  return `${shown} ${units[unit]}`;
}

/** A server-given URL as the page may use it in src/href: http(s) only, else undefined. */
export function mediaUrl(value) {
  if (typeof value !== "string" || !value) return undefined;
  try {
    const url = new URL(value, window.location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/** `width` x `height` scaled down (never up) to fit in `box`; {} when unknown. */
export function fitInto(width, height, box) {
  if (!(width > 0 && height > 0)) return {};
  const scale = Math.min(1, box.width / width, box.height / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

export function attachmentsOfMessage(message) {
  return Array.isArray(message?.attachments) ? message.attachments.filter((a) => a && a.id) : [];
}

/**
 * The message's image URLs that are not its attachments: the server also lists image
 * attachments in `messageImages` (for clients of the first release), which must not show twice.
 */
export function otherImages(message) {
  const images = Array.isArray(message?.messageImages) ? message.messageImages : [];
  const attached = new Set(attachmentsOfMessage(message).flatMap((a) => [a.url, a.thumbnailUrl]));
  return images.filter((url) => !attached.has(url));
}

function photoTile(attachment, url) {
  const name = attachment.name || "Photo";
  const thumbnail = mediaUrl(attachment.thumbnailUrl) || url;
  const { width, height } = fitInto(attachment.width, attachment.height, THUMBNAIL_BOX);
  return h("a", {
    href: url, target: "_blank", rel: "noopener noreferrer", className: "attachment-photo",
    title: `${name}: click to enlarge`,
    dataset: { lightbox: url, name, width: attachment.width || "", height: attachment.height || "" },
  }, h("img", { src: thumbnail, alt: `Photo ${name}`, width, height, decoding: "async" }));
}

function fileCard(attachment, url) {
  const name = attachment.name || "file";
  const size = formatBytes(attachment.size);
  // Same origin: `download` saves it under its name (the server also says `attachment`).
  return h("a", {
    href: url, download: name, className: "attachment-file", title: `Download ${name}`,
    dataset: { file: attachment.id },
  },
  h("span", { className: "file-badge", "aria-hidden": "true" }, attachment.mime === "application/pdf" ? "PDF" : "FILE"),
  h("span", { className: "file-text" },
    h("span", { className: "file-name" }, name),
    size ? h("span", { className: "file-size" }, ` · ${size}`) : null));
}

/** The photos and files of a message, or null when it has none. */
export function renderAttachments(message) {
  const photos = [];
  const files = [];
  for (const attachment of attachmentsOfMessage(message)) {
    const url = mediaUrl(attachment.url);
    if (!url) continue;
    if (attachment.kind === "image") photos.push(photoTile(attachment, url));
    else files.push(fileCard(attachment, url));
  }
  if (!photos.length && !files.length) return null;
  return h("div", { className: "attachments" },
    photos.length ? h("div", { className: "attachment-photos" }, photos) : null,
    files);
}
