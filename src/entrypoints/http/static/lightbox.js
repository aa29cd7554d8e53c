// The full image of a photo attachment, over the page: a modal <dialog>, so Escape closes it
// (the browser's own `cancel`) and focus comes back to the thumbnail; a click anywhere on
// it closes it too. Ctrl/Cmd/Shift/middle clicks on a thumbnail still open a new tab.
import { fitInto } from "./attachments.js";

/** The part of the window the image may take. */
const VIEWPORT_SHARE = { width: 0.92, height: 0.82 };

export class Lightbox {
  /**
   * @param {HTMLDialogElement} dialog with an <img>, a caption and a link to the image
   * @param {HTMLElement} container where clicks on `a[data-lightbox]` open the dialog
   */
  constructor(dialog, container) {
    this.dialog = dialog;
    this.image = dialog.querySelector("img");
    this.caption = dialog.querySelector("[data-role=caption]");
    this.link = dialog.querySelector("a");
    this.opener = null;
    container.addEventListener("click", (event) => {
      const tile = event.target.closest("a[data-lightbox]");
      if (!tile || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      this.open(tile);
    });
    dialog.addEventListener("click", (event) => {
      if (!event.target.closest("a")) dialog.close();
    });
    dialog.addEventListener("close", () => {
      this.image.removeAttribute("src");
      // The list may have been rendered again meanwhile: find the same thumbnail.
      const opener = this.opener?.isConnected ? this.opener
        : container.querySelector(`a[data-lightbox="${CSS.escape(this.opener?.dataset.lightbox || "")}"]`);
      opener?.focus();
      this.opener = null;
    });
  }

  /** @param {HTMLAnchorElement} tile a thumbnail (data-lightbox, -name, -width, -height) */
  open(tile) {
    const { lightbox: url, name } = tile.dataset;
    const box = {
      width: window.innerWidth * VIEWPORT_SHARE.width, height: window.innerHeight * VIEWPORT_SHARE.height,
    };
    // Sized before it loads: no jump when the bytes arrive.
    const { width, height } = fitInto(Number(tile.dataset.width), Number(tile.dataset.height), box);
    this.image.style.width = width ? `${width}px` : "";
    this.image.style.height = height ? `${height}px` : "";
    this.image.alt = `Photo ${name}`;
    this.image.src = url;
    this.caption.textContent = name;
    this.link.href = url;
    this.dialog.setAttribute("aria-label", `Photo ${name}`);
    this.opener = tile;
    this.dialog.showModal();
    this.dialog.querySelector("button")?.focus();
  }

  get isOpen() {
    return this.dialog.open;
  }
}
