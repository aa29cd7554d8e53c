// A pane's notices: every appError, failed upload or refused input, and the outcomes the
// user asked for (a report sent), each dismissable; an identical one is counted, not repeated.
import { h } from "./format.js";

export class Notices {
  /**
   * @param {HTMLElement} container the pane's notice area (aria-live)
   * @param {HTMLElement} fallbackFocus focused when the last notice is dismissed
   */
  constructor(container, fallbackFocus) {
    this.container = container;
    container.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-dismiss]");
      if (!button) return;
      const notice = button.closest(".notice");
      const next = notice.nextElementSibling || notice.previousElementSibling;
      notice.remove();
      (next?.querySelector("button") || fallbackFocus).focus();
    });
  }

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
    for (const notice of this.container.children) {
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
    this.container.append(notice);
  }
}
