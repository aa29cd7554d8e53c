// Entry point of the demo page: one pane per <section data-pane>, each connecting on load
// with a development token for its default user, so that a demo starts from nothing.
import { BackendPanel } from "./backend.js";
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
const backend = new BackendPanel(document.getElementById("backend"), panes);

// A dev token means development mode, where `make run` prints a server API key: only
// then is the backend panel of use.
Promise.all(panes.map((pane) => pane.connectWithDevToken(Number(pane.root.dataset.defaultId))))
  .then((given) => {
    if (given.some(Boolean)) backend.show();
  });

// For debugging from the browser console.
window.chatDemo = { panes, backend };
