// The console websocket (/ws/console/): events, presence, resume after a reconnect, resync when told.

const RECENT_IDS = 2000; // event ids remembered to drop a duplicate delivered twice around a reconnect

export class ConsoleSocket {
  constructor(url, { onEvent, onPresence, onResync, onState, onReady }) {
    this.url = url;
    this.handlers = { onEvent, onPresence, onResync, onState, onReady };
    this.heartbeat = null;
    this.lastId = null;
    this.seen = new Set();
    this.seenOrder = [];
    this.viewing = null;
    this.retry = 0;
    this.ws = null;
    this.stopped = false;
    this.everConnected = false;
  }

  start() {
    this.stopped = false;
    this.connect();
    window.addEventListener("online", () => this.reconnectSoon(0));
  }

  connect() {
    if (this.stopped) return;
    this.handlers.onState(this.everConnected ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.retry = 0;
      const first = !this.everConnected;
      this.everConnected = true;
      this.handlers.onState("live");
      if (this.lastId) this.sendJson({ type: "resume", after: this.lastId });
      else if (!first) this.handlers.onResync(); // nothing to resume from: reload what may have been missed
      if (this.viewing !== null) this.sendJson({ type: "viewing", conversation_id: this.viewing });
    });
    ws.addEventListener("message", (message) => {
      let payload;
      try {
        payload = JSON.parse(message.data);
      } catch {
        return;
      }
      this.dispatch(payload);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      if (event.code === 4401 || event.code === 4403) {
        this.handlers.onState("refused");
        return;
      }
      this.handlers.onState("reconnecting");
      this.reconnectSoon();
    });
  }

  reconnectSoon(delay) {
    if (this.stopped) return;
    if (this.ws && this.ws.readyState <= 1 && delay === 0) return;
    const wait = delay ?? Math.min(15000, 500 * 2 ** this.retry++) * (0.75 + Math.random() / 2);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), wait);
  }

  dispatch(payload) {
    const type = payload.type || (payload.event ? "event" : null);
    if (type === "hello") {
      const fresh = !this.lastId;
      if (fresh && payload.last_id) this.lastId = String(payload.last_id);
      this.startHeartbeat(Number(payload.heartbeat) || 20);
      // A fresh console loads its state over REST once subscribed: every later event then arrives live.
      if (fresh) this.handlers.onReady();
    } else if (type === "event") {
      if (payload.id !== undefined && payload.id !== null) {
        const id = String(payload.id);
        if (this.seen.has(id)) return;
        this.remember(id);
        this.lastId = id;
      }
      this.handlers.onEvent(payload.event, payload.data || {});
    } else if (type === "presence") {
      this.handlers.onPresence(payload.conversation_id, payload.viewers || []);
    } else if (type === "resync") {
      if (payload.last_id) this.lastId = String(payload.last_id);
      this.handlers.onResync();
    } else if (type === "error") {
      console.warn("console websocket:", payload.code, payload.detail);
    }
  }

  remember(id) {
    this.seen.add(id);
    this.seenOrder.push(id);
    if (this.seenOrder.length > RECENT_IDS) this.seen.delete(this.seenOrder.shift());
  }

  /** "viewing" again every few seconds keeps this agent in the chat's presence (and re-checks access). */
  startHeartbeat(seconds) {
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => this.sendJson({ type: "viewing", conversation_id: this.viewing }), Math.max(5, seconds) * 1000);
  }

  setViewing(conversationId) {
    this.viewing = conversationId;
    this.sendJson({ type: "viewing", conversation_id: conversationId });
  }

  sendJson(data) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(data));
  }
}
