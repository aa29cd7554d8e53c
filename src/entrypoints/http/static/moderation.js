// Block / unblock and report, from the header of the open chat (PROTOCOL.md section 10).
// A block holds for every chat of the pair; both sides learn it as `chatUpdated`, whose
// Chat carries `blocked` (I block the counterpart) and `blockedBy` (they block me).
import { partnerName, userLabel } from "./format.js";

export const REPORT_REASON_MAX = 1000;

export class ChatModeration {
  /**
   * @param {import("./pane.js").Pane} pane the pane whose open chat this acts on
   */
  constructor(pane) {
    this.pane = pane;
    const { refs } = pane;
    this.refs = refs;
    refs.blockButton.addEventListener("click", () => this.toggleBlock());
    refs.reportButton.addEventListener("click", () => this.openReport());
    refs.reportReason.maxLength = REPORT_REASON_MAX;
    refs.reportForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendReport();
    });
    refs.reportCancel.addEventListener("click", () => refs.reportDialog.close());
  }

  #chat() {
    return this.pane.store.chats.get(this.pane.activeChatId);
  }

  async toggleBlock() {
    const chat = this.#chat();
    if (!chat) return;
    const { store } = this.pane;
    const partner = store.partnerOf(chat);
    const event = chat.blocked ? "unblockUser" : "blockUser";
    this.refs.blockButton.disabled = true;
    const envelope = await this.pane.request(event, { userId: partner.id, userType: partner.type });
    this.refs.blockButton.disabled = false;
    if (!envelope.error) {
      // chatUpdated follows for every chat of the pair; the ack already says what holds,
      // and the header's block state says it to the user.
      const blocked = Boolean(envelope.data?.blocked);
      for (const other of store.chatsWith(partner)) other.blocked = blocked;
    }
    this.pane.render();
  }

  openReport() {
    const chat = this.#chat();
    if (!chat) return;
    const partner = this.pane.store.partnerOf(chat);
    this.refs.reportTitle.textContent = `Report ${partnerName(chat, partner)}`;
    this.refs.reportReason.value = "";
    this.refs.reportDialog.showModal();
    this.refs.reportReason.focus();
  }

  async sendReport() {
    const chat = this.#chat();
    const reason = this.refs.reportReason.value.trim();
    if (!chat || !reason) return;
    const partner = this.pane.store.partnerOf(chat);
    this.refs.reportSend.disabled = true;
    const envelope = await this.pane.request("reportUser", {
      userId: partner.id, userType: partner.type, chatId: chat.id, reason,
    });
    this.refs.reportSend.disabled = false;
    if (envelope.error) return; // appError shows why; the dialog keeps the reason
    this.refs.reportDialog.close();
    this.pane.notify({
      kind: "info",
      message: `${envelope.message || "User has been reported"}: ${userLabel(partner.type, partner.id)}`,
      event: "reportUser",
    });
  }

  /** The header's actions and the block state of the open chat. */
  render(chat) {
    const { refs } = this;
    refs.chatActions.hidden = !chat;
    if (!chat) {
      refs.blockState.hidden = true;
      delete this.pane.root.dataset.blocked;
      return;
    }
    const partner = this.pane.store.partnerOf(chat);
    const who = userLabel(partner.type, partner.id);
    refs.blockButton.textContent = chat.blocked ? "Unblock" : "Block";
    refs.blockButton.setAttribute("aria-pressed", chat.blocked ? "true" : "false");
    refs.blockButton.setAttribute("aria-label", chat.blocked ? `Unblock ${who}` : `Block ${who}`);
    let state = "";
    if (chat.blocked && chat.blockedBy) state = `You and ${who} block each other: neither can write.`;
    else if (chat.blocked) state = `You blocked ${who}: they cannot write to you.`;
    else if (chat.blockedBy) state = `${who} has blocked you: you cannot write in this chat.`;
    refs.blockState.textContent = state;
    refs.blockState.hidden = !state;
    if (chat.blockedBy) this.pane.root.dataset.blocked = "by";
    else if (chat.blocked) this.pane.root.dataset.blocked = "me";
    else delete this.pane.root.dataset.blocked;
  }
}
