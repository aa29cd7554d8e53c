// Entry point of the demo page: one pane per <section data-pane>, each connecting on load
// with a development token for its default user, so that a demo starts from nothing.
import { Pane } from "./pane.js";

const DEMO_PRODUCT = {
  productId: "demo-headphones-1",
  productName: "Wireless Headphones",
  productPrice: "299.00",
  // Served by chat-server itself, so the demo works offline; an http(s) URL as the
  // protocol requires.
  productImageUrl: new URL("/static/demo-product.svg", window.location.origin).href,
  storeName: "Tech Haven",
  customerName: "Jane Doe",
};

const template = document.getElementById("pane-template");
const panes = [...document.querySelectorAll("section[data-pane]")].map(
  (root) => new Pane(root, template, DEMO_PRODUCT));

for (const pane of panes) pane.connectWithDevToken(Number(pane.root.dataset.defaultId));

// For debugging from the browser console.
window.chatDemo = { panes };
