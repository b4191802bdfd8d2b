// The lesson's WebSocket (docs/protocol.md), for every kind of participant.
//
// One LessonConnection per page. It joins, passes every message the server sends on as an event,
// and after a dropped connection (a network blip, a server restart) it connects again by itself
// and rejoins with the token from `welcome`, so an admitted pupil stays admitted. It gives up only
// when the server says so: a refusal at the door, a link that does not work, a lesson that is not
// open, or a normal close (left, removed, turned away, lesson ended).
//
// Events (CustomEvent, detail = the server's message): welcome, view, chat, chat_not_sent,
// chat_alert, refused, error, media (publish_answer, watch_offer, trickle, media_refused,
// media_stopped, media_reset), and status with detail {state, reason?, message?}.

const VERSION = 1;
const MEDIA_TYPES = new Set([
  "publish_answer",
  "watch_offer",
  "trickle",
  "media_refused",
  "media_stopped",
  "media_reset",
]);
const PLAIN_TYPES = new Set([
  "welcome",
  "view",
  "chat",
  "chat_not_sent",
  "chat_alert",
  "refused",
  "error",
]);
// Errors after which joining again would get the same answer.
const FATAL_ERRORS = new Set([
  "not_recognised",
  "lesson_unavailable",
  "not_joined",
  "too_big",
  "not_text",
  "unsupported_version",
]);
const NORMAL_CLOSE = 1000;
const PING_EVERY_MS = 15000;
const PONG_WITHIN_MS = 10000;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];

export class LessonConnection extends EventTarget {
  constructor({ lessonId, join = {} }) {
    super();
    this.lessonId = String(lessonId);
    this.joinFields = { ...join };
    this._socket = null;
    this._pid = null;
    this._rejoinToken = null;
    this._view = null;
    this._iceServers = [];
    this._state = "closed";
    this._finished = false; // left, or the server said no more: never reconnect
    this._joined = false; // welcomed on the current socket
    this._fatal = null; // why the server will not have us, when it said so
    this._attempts = 0;
    this._retryTimer = null;
    this._pingTimer = null;
    this._pongTimer = null;
    this._onOnline = () => {
      if (this._retryTimer !== null) {
        clearTimeout(this._retryTimer);
        this._retryTimer = null;
        this._open();
      }
    };
  }

  get pid() {
    return this._pid;
  }

  get view() {
    return this._view;
  }

  get state() {
    return this._state;
  }

  // RTCIceServer entries from the last `welcome` (STUN and TURN, if the server has any).
  get iceServers() {
    return this._iceServers;
  }

  connect() {
    if (this._finished) {
      throw new Error("This connection has been closed for good: make a new one.");
    }
    if (this._socket !== null) {
      return;
    }
    window.addEventListener("online", this._onOnline);
    this._open();
  }

  send(type, fields = {}) {
    const socket = this._socket;
    if (socket === null || socket.readyState !== WebSocket.OPEN || !this._joined) {
      return false;
    }
    socket.send(JSON.stringify({ v: VERSION, type, ...fields }));
    return true;
  }

  leave() {
    if (this._finished) {
      return;
    }
    this.send("leave");
    this._finish("left");
  }

  // --- Inside -----------------------------------------------------------------------------------

  _open() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${window.location.host}/lessons/${encodeURIComponent(this.lessonId)}/live`;
    this._setState(this._attempts === 0 && this._pid === null ? "connecting" : "reconnecting");
    const socket = new WebSocket(url);
    this._socket = socket;
    this._joined = false;
    this._fatal = null;
    socket.addEventListener("open", () => {
      if (socket !== this._socket) {
        return;
      }
      const join = { v: VERSION, type: "join", ...this.joinFields };
      if (this._pid !== null && this._rejoinToken !== null) {
        join.rejoin = { pid: this._pid, token: this._rejoinToken };
      }
      socket.send(JSON.stringify(join));
    });
    socket.addEventListener("message", (event) => {
      if (socket === this._socket) {
        this._receive(event.data);
      }
    });
    socket.addEventListener("close", (event) => {
      if (socket === this._socket) {
        this._closed(event);
      }
    });
  }

  _receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch (error) {
      console.warn("SafeClass: the server sent something that is not JSON", error);
      return;
    }
    if (message === null || typeof message !== "object") {
      return;
    }
    const type = message.type;
    if (type === "pong") {
      this._clearPong();
      return;
    }
    if (type === "welcome") {
      this._pid = message.pid;
      this._rejoinToken = message.rejoin_token;
      this._iceServers = Array.isArray(message.ice_servers) ? message.ice_servers : [];
      this._joined = true;
      this._attempts = 0;
      this._startPinging();
      this._setState("open");
    } else if (type === "view") {
      this._view = message.view;
    } else if (type === "refused" && message.command === "join") {
      this._fatal = { reason: message.reason, message: message.message };
    } else if (type === "error" && FATAL_ERRORS.has(message.code)) {
      this._fatal = { reason: message.code, message: message.message };
    } else if (type === "error" && message.code === "rejoin_failed") {
      // The server joins us afresh: a new pid and token come in the next `welcome`.
      this._pid = null;
      this._rejoinToken = null;
    }
    if (PLAIN_TYPES.has(type)) {
      this.dispatchEvent(new CustomEvent(type, { detail: message }));
    } else if (MEDIA_TYPES.has(type)) {
      this.dispatchEvent(new CustomEvent("media", { detail: message }));
    }
  }

  _closed(event) {
    this._socket = null;
    this._joined = false;
    this._stopPinging();
    if (this._finished) {
      return;
    }
    if (this._fatal !== null) {
      this._finish(this._fatal.reason, this._fatal.message);
      return;
    }
    if (event.code === NORMAL_CLOSE) {
      // Left, removed, turned away, the lesson ended, or opened again on another device: the
      // reason says which, and the last view has already said so.
      this._finish("closed_by_server", event.reason || "");
      return;
    }
    const wait = BACKOFF_MS[Math.min(this._attempts, BACKOFF_MS.length - 1)];
    this._attempts += 1;
    this._setState("reconnecting", { reason: "connection_lost", message: event.reason || "" });
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      this._open();
    }, wait);
  }

  _finish(reason, message = "") {
    this._finished = true;
    this._stopPinging();
    if (this._retryTimer !== null) {
      clearTimeout(this._retryTimer);
      this._retryTimer = null;
    }
    window.removeEventListener("online", this._onOnline);
    const socket = this._socket;
    this._socket = null;
    if (socket !== null && socket.readyState <= WebSocket.OPEN) {
      socket.close(NORMAL_CLOSE);
    }
    this._setState("closed", { reason, message });
  }

  _setState(state, extra = {}) {
    if (state === this._state && state !== "reconnecting") {
      return;
    }
    this._state = state;
    this.dispatchEvent(new CustomEvent("status", { detail: { state, ...extra } }));
  }

  // A connection that silently died (a laptop's Wi-Fi gone) is noticed by an unanswered ping.
  _startPinging() {
    this._stopPinging();
    this._pingTimer = setInterval(() => {
      const socket = this._socket;
      if (socket === null || socket.readyState !== WebSocket.OPEN || this._pongTimer !== null) {
        return;
      }
      socket.send(JSON.stringify({ v: VERSION, type: "ping" }));
      this._pongTimer = setTimeout(() => {
        this._pongTimer = null;
        if (socket === this._socket) {
          socket.close(4000, "no answer");
          // Some browsers wait long for a dead peer's close: treat it as lost now.
          this._closed({ code: 4000, reason: "" });
        }
      }, PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  _clearPong() {
    if (this._pongTimer !== null) {
      clearTimeout(this._pongTimer);
      this._pongTimer = null;
    }
  }

  _stopPinging() {
    if (this._pingTimer !== null) {
      clearInterval(this._pingTimer);
      this._pingTimer = null;
    }
    this._clearPong();
  }
}
