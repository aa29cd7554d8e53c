// Files the user attaches in the composer, before the send: each one is uploaded at once
// (POST /api/v1/me/uploads with the user's token, SERVER_API.md section 4) and shows as a
// chip above the composer, with its progress, then its thumbnail or name; the send carries
// the ids of the ready ones. What the server refuses (413, 415, 429 ...) is a notice.
import { formatBytes, mediaUrl } from "./attachments.js";
import { h } from "./format.js";

/** Per message, as the server allows. */
export const MAX_ATTACHMENTS = 10;
export const ACCEPTED_TYPES = "image/jpeg,image/png,image/webp,image/gif,application/pdf";
const UPLOAD_PATH = "/api/v1/me/uploads";
const UPLOAD_TIMEOUT_MS = 120_000; // the server gives up receiving a body after 60 s

/**
 * Uploads one file with progress. `done` never rejects: it resolves with
 * {attachment} (201), {error: {statusCode, message}} or {aborted: true}.
 */
export function uploadFile(file, token, onProgress) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve) => {
    const failed = (statusCode, message) => resolve({ error: { statusCode, message } });
    xhr.open("POST", UPLOAD_PATH);
    xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.responseType = "json";
    xhr.timeout = UPLOAD_TIMEOUT_MS;
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      const body = xhr.response;
      if (xhr.status === 201 && body?.data?.id) {
        resolve({ attachment: body.data });
        return;
      }
      // The envelope's message, then what data.errors says (e.g. which format is allowed).
      const details = (body?.data?.errors || []).map((e) => e?.message).filter(Boolean);
      failed(xhr.status, [body?.message || `The upload failed (HTTP ${xhr.status})`, ...details].join(": "));
    });
    // A server refusing a body that is too large may close the connection before the
    // browser has read its answer: the browser then sees a network error.
    xhr.addEventListener("error", () => failed(0, "The upload did not reach the server (or was cut short: is the file too large?)"));
    xhr.addEventListener("timeout", () => failed(0, `No answer to the upload within ${UPLOAD_TIMEOUT_MS / 1000} s`));
    xhr.addEventListener("abort", () => resolve({ aborted: true }));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
}

let nextKey = 1;

export class UploadTray {
  /**
   * @param {object} options
   * @param {HTMLElement} options.list the <ul> of chips
   * @param {HTMLInputElement} options.input the hidden <input type=file>
   * @param {HTMLButtonElement} options.button opens the file chooser
   * @param {() => string | null} options.token the user's JWT, null when not connected
   * @param {(notice: object) => void} options.notify shows a notice in the pane
   * @param {() => void} options.onChange the tray changed (the pane re-renders its composer)
   */
  constructor({ list, input, button, token, notify, onChange }) {
    this.list = list;
    this.input = input;
    this.token = token;
    this.notify = notify;
    this.onChange = onChange;
    /** {key, name, size, state: "uploading" | "ready", progress, attachment?, abort?} */
    this.items = [];
    /** Uploads refused or failed so far: a send that waited for them knows they are gone. */
    this.failures = 0;
    this.idleWaiters = [];
    input.accept = ACCEPTED_TYPES;
    input.multiple = true;
    button.addEventListener("click", () => input.click());
    input.addEventListener("change", () => {
      this.add([...input.files]);
      input.value = ""; // choosing the same file again is a change too
    });
    list.addEventListener("click", (event) => {
      const remove = event.target.closest("button[data-remove]");
      if (remove) this.remove(Number(remove.dataset.remove));
    });
  }

  get busy() {
    return this.items.some((item) => item.state === "uploading");
  }

  get isEmpty() {
    return this.items.length === 0;
  }

  /** Starts uploading `files`, as many as fit within MAX_ATTACHMENTS. */
  add(files) {
    const token = this.token();
    if (!files.length) return;
    if (!token) {
      this.notify({ message: "Connect first: uploads need the user's token", event: "upload" });
      return;
    }
    const room = MAX_ATTACHMENTS - this.items.length;
    if (files.length > room) {
      this.notify({
        message: `A message takes at most ${MAX_ATTACHMENTS} attachments: `
          + `${files.length - Math.max(room, 0)} of the files chosen were left out`,
        event: "upload",
      });
    }
    for (const file of files.slice(0, Math.max(room, 0))) this.#start(file, token);
    this.#changed();
  }

  #start(file, token) {
    const item = { key: nextKey++, name: file.name, size: file.size, state: "uploading", progress: 0 };
    const { done, abort } = uploadFile(file, token, (fraction) => {
      item.progress = fraction;
      const bar = this.list.querySelector(`[data-key="${item.key}"] progress`);
      if (bar) bar.value = Math.round(fraction * 100);
    });
    item.abort = abort;
    this.items.push(item);
    done.then((outcome) => {
      if (!this.items.includes(item)) return; // removed (aborted) meanwhile
      if (outcome.attachment) {
        Object.assign(item, { state: "ready", attachment: outcome.attachment, abort: undefined });
      } else {
        this.items.splice(this.items.indexOf(item), 1);
        if (outcome.error) {
          this.failures += 1;
          this.notify({ statusCode: outcome.error.statusCode, message: outcome.error.message, event: `upload ${item.name}` });
        }
      }
      this.#changed();
    });
  }

  remove(key) {
    const item = this.items.find((candidate) => candidate.key === key);
    if (!item) return;
    item.abort?.();
    // A ready upload that is never sent is removed by the server's sweep.
    this.items.splice(this.items.indexOf(item), 1);
    this.#changed();
  }

  /** Resolves once no upload is in progress. */
  idle() {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Takes the ready uploads out of the tray for a send; `restore` puts them back. */
  take() {
    const ready = this.items.filter((item) => item.state === "ready");
    this.items = this.items.filter((item) => item.state !== "ready");
    this.#changed();
    return ready;
  }

  /** After a failed send: the server left the uploads free to send again. */
  restore(items) {
    const known = new Set(this.items.map((item) => item.key));
    this.items = [...items.filter((item) => !known.has(item.key)), ...this.items];
    this.#changed();
  }

  /** Another user (a new token): their uploads are not this one's. */
  clear() {
    for (const item of this.items) item.abort?.();
    this.items = [];
    this.#changed();
  }

  #changed() {
    this.render();
    if (!this.busy) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
    this.onChange();
  }

  render() {
    this.list.replaceChildren(...this.items.map((item) => chip(item)));
    this.list.hidden = this.items.length === 0;
  }
}

function chip(item) {
  const { attachment } = item;
  const thumbnail = attachment?.kind === "image" ? mediaUrl(attachment.thumbnailUrl || attachment.url) : undefined;
  let preview;
  if (thumbnail) {
    preview = h("img", { src: thumbnail, alt: "", width: 40, height: 40 });
  } else {
    const label = attachment ? (attachment.kind === "image" ? "IMG" : "PDF") : "…";
    preview = h("span", { className: "file-badge", "aria-hidden": "true" }, label);
  }
  const uploading = item.state === "uploading";
  return h("li", { className: "upload", dataset: { key: String(item.key), state: item.state } },
    preview,
    h("span", { className: "upload-text" },
      h("span", { className: "upload-name", title: attachment?.name || item.name }, attachment?.name || item.name),
      uploading
        ? h("progress", { max: 100, value: Math.round(item.progress * 100), "aria-label": `Uploading ${item.name}` })
        : h("span", { className: "upload-size" }, formatBytes(attachment?.size ?? item.size))),
    h("button", {
      type: "button", className: "dismiss", dataset: { remove: String(item.key) },
      "aria-label": `${uploading ? "Cancel the upload of" : "Remove"} ${item.name}`, title: uploading ? "Cancel" : "Remove",
    }, "×"));
}
