// Video and sound for one participant, signalled through the lesson's WebSocket (docs/protocol.md,
// "Media signalling"). The server decides everything; this follows what each view allows.
//
// One RTCPeerConnection per publication (`camera`: microphone and camera; `screen`: a screen
// share) and one for watching everyone else, as the server offers it. ICE candidates trickle both
// ways. A publication offers only the kinds the view lets this participant send (view.media.
// publish); a kind allowed later is added by publishing again; one no longer allowed stays in the
// publication with its track disabled here, and the server silences it at the media server anyway.
//
// Events: "streams" (detail: Map pid -> {camera: MediaStream|null, screen: MediaStream|null}),
// "refused" (detail: the server's media_refused message).

const SETTLE_MS = 100; // views often come in quick pairs (mic and camera on): publish once for both

export class LessonMedia extends EventTarget {
  constructor(connection) {
    super();
    this.connection = connection;
    this._localStream = null;
    this._screenStream = null;
    this._wantScreen = false;
    // purpose -> {pc, kinds: Set, answered: bool, sent: bool, queued: [], remoteQueued: []}
    this._publications = new Map();
    this._pending = new Map(); // purpose -> the publication whose offer is waiting for an answer
    this._refusedFor = new Map(); // purpose -> the publish flags a refusal was given under
    this._watch = null; // {pc, answered, queued, remoteQueued}
    this._watchChain = Promise.resolve();
    this._latestWatchOffer = null;
    this._streamsByMid = new Map(); // mid -> {pid, kind}
    this._remote = new Map(); // pid -> {camera: MediaStream|null, screen: MediaStream|null}
    this._settleTimer = null;
    this._closed = false;

    // After a dropped connection the media connections may well have lived on (video does not go
    // through the WebSocket): they are kept. If the server hung them up meanwhile, it says so
    // (media_stopped) when we are back, and offers anew.
    connection.addEventListener("welcome", () => this._soon());
    connection.addEventListener("error", (event) => {
      if (event.detail.code === "rejoin_failed") {
        // Joining afresh, as someone new: nothing of the old place is ours any more.
        this._closeEverything();
        this._emitStreams();
      }
    });
    connection.addEventListener("view", () => {
      this._applyEnabled();
      this._soon();
    });
    connection.addEventListener("media", (event) => this._onMedia(event.detail));
    connection.addEventListener("refused", (event) => {
      if (event.detail.command === "start_share" && this._wantScreen) {
        this._wantScreen = false; // no grant, or someone else is sharing: the page says why
        this._dropPublication("screen");
        this._stopScreenTracks();
      }
    });
    connection.addEventListener("status", (event) => {
      if (event.detail.state === "closed") {
        this.close();
      }
    });
  }

  // The (possibly blurred) camera and microphone stream to publish.
  setLocalStream(stream) {
    this._localStream = stream;
    const publication = this._publications.get("camera");
    if (publication && stream) {
      for (const sender of publication.pc.getSenders()) {
        const kind = sender.track ? sender.track.kind : null;
        const replacement = kind ? stream.getTracks().find((t) => t.kind === kind) : null;
        if (replacement && replacement !== sender.track) {
          sender.replaceTrack(replacement).catch((error) => {
            console.warn("SafeClass: could not switch the camera", error);
          });
        }
      }
    }
    this._applyEnabled();
    this._soon();
  }

  get localStream() {
    return this._localStream;
  }

  get screenStream() {
    return this._screenStream;
  }

  get remoteStreams() {
    return new Map(this._remote);
  }

  // Ask to share the screen: the browser asks which screen, the server decides whether we may.
  async shareScreen() {
    // Never this tab, nor a whole screen: either could show the lesson itself, with pupils'
    // faces, to the class (and into a recording). A window or another tab is offered instead.
    const stream = await navigator.mediaDevices.getDisplayMedia({
      video: true,
      audio: false,
      selfBrowserSurface: "exclude",
      monitorTypeSurfaces: "exclude",
      preferCurrentTab: false,
    });
    this._screenStream = stream;
    this._wantScreen = true;
    for (const track of stream.getVideoTracks()) {
      // The browser's own "Stop sharing" button.
      track.addEventListener("ended", () => this.stopScreen());
    }
    this.connection.send("start_share");
    this._soon();
    return stream;
  }

  stopScreen() {
    if (!this._wantScreen && this._screenStream === null) {
      return;
    }
    this._wantScreen = false;
    const wasPublished = this._publications.has("screen") || this._pending.has("screen");
    this._dropPublication("screen");
    if (wasPublished) {
      this.connection.send("unpublish", { purpose: "screen" });
    }
    const view = this.connection.view;
    if (view && view.you && view.you.sharing) {
      this.connection.send("stop_share");
    }
    this._stopScreenTracks();
  }

  close() {
    if (this._closed) {
      return;
    }
    this._closed = true;
    this._closeEverything();
    this._stopScreenTracks();
  }

  // --- Following the views ----------------------------------------------------------------------

  _soon() {
    if (this._closed || this._settleTimer !== null) {
      return;
    }
    this._settleTimer = setTimeout(() => {
      this._settleTimer = null;
      this._follow().catch((error) => {
        console.warn("SafeClass: could not start sending video or sound", error);
      });
    }, SETTLE_MS);
  }

  _publishFlags() {
    const view = this.connection.view;
    const publish = view && view.media && view.media.publish;
    return {
      audio: Boolean(publish && publish.audio),
      video: Boolean(publish && publish.video),
      screen: Boolean(publish && publish.screen),
    };
  }

  async _follow() {
    if (this._closed || this.connection.state !== "open") {
      return;
    }
    const flags = this._publishFlags();
    const view = this.connection.view;
    await this._followCamera(flags);
    const sharing = Boolean(view && view.you && view.you.sharing);
    if (this._wantScreen && !sharing && this._publications.has("screen")) {
      // Staff took the grant back, or the lesson stopped shares: the server has hung it up.
      this._wantScreen = false;
      this._dropPublication("screen");
      this._stopScreenTracks();
    }
    if (this._wantScreen && this._screenStream && flags.screen) {
      await this._offer("screen", this._screenStream.getVideoTracks(), new Set(["video"]));
    }
  }

  async _followCamera(flags) {
    const stream = this._localStream;
    if (stream === null) {
      return;
    }
    const current = this._pending.get("camera") || this._publications.get("camera");
    const offered = current ? current.kinds : new Set();
    const wanted = new Set(offered);
    if (flags.audio && stream.getAudioTracks().length > 0) {
      wanted.add("audio");
    }
    if (flags.video && stream.getVideoTracks().length > 0) {
      wanted.add("video");
    }
    if (wanted.size === offered.size) {
      return; // nothing new to send (what is no longer allowed is disabled and silenced)
    }
    if (this._pending.has("camera")) {
      return; // followed again when the answer comes
    }
    const tracks = stream.getTracks().filter((track) => wanted.has(track.kind));
    await this._offer("camera", tracks, wanted);
  }

  async _offer(purpose, tracks, kinds) {
    if (this._pending.has(purpose)) {
      return;
    }
    if (purpose === "screen" && this._publications.has("screen")) {
      return;
    }
    const flagsNow = JSON.stringify(this._publishFlags());
    if (this._refusedFor.get(purpose) === flagsNow) {
      return; // refused under these very permissions: wait until something changes
    }
    const publication = this._newPeer(purpose);
    publication.kinds = kinds;
    publication.pc.addEventListener("connectionstatechange", () => {
      if (
        publication.pc.connectionState === "failed" &&
        this._publications.get(purpose) === publication
      ) {
        // The path to the media server broke for good: offer again on a new connection.
        this._dropPublication(purpose);
        this._soon();
      }
    });
    this._pending.set(purpose, publication);
    for (const track of tracks) {
      publication.pc.addTransceiver(track, { direction: "sendonly" });
    }
    const offer = await publication.pc.createOffer();
    await publication.pc.setLocalDescription(offer);
    if (this._pending.get(purpose) !== publication) {
      publication.pc.close(); // dropped meanwhile (media stopped, or a new connection)
      return;
    }
    this.connection.send("publish", { purpose, sdp: publication.pc.localDescription.sdp });
    publication.sent = true;
    this._flushLocal(publication);
  }

  _newPeer(target) {
    const pc = new RTCPeerConnection({ iceServers: this.connection.iceServers });
    const peer = { target, pc, kinds: new Set(), sent: false, queued: [], remoteQueued: [] };
    pc.addEventListener("icecandidate", (event) => {
      const candidate = event.candidate
        ? {
            candidate: event.candidate.candidate,
            sdpMid: event.candidate.sdpMid,
            sdpMLineIndex: event.candidate.sdpMLineIndex,
          }
        : { completed: true };
      if (candidate.candidate === "") {
        return; // the end-of-candidates marker of one generation; `null` ends them all
      }
      peer.queued.push(candidate);
      this._flushLocal(peer);
    });
    return peer;
  }

  // Candidates go out only after the offer or answer they belong to, on the same socket.
  _flushLocal(peer) {
    if (!peer.sent) {
      return;
    }
    while (peer.queued.length > 0) {
      const candidate = peer.queued.shift();
      this.connection.send("trickle", { target: peer.target, candidate });
    }
  }

  _applyEnabled() {
    const view = this.connection.view;
    const you = view && view.you;
    if (!you || this._localStream === null) {
      return;
    }
    for (const track of this._localStream.getAudioTracks()) {
      track.enabled = Boolean(you.mic_on);
    }
    for (const track of this._localStream.getVideoTracks()) {
      track.enabled = Boolean(you.camera_on);
    }
  }

  // --- What the server sends --------------------------------------------------------------------

  _onMedia(message) {
    if (this._closed) {
      return;
    }
    switch (message.type) {
      case "publish_answer":
        this._answered(message).catch((error) => {
          console.warn("SafeClass: the media server's answer did not fit", error);
        });
        break;
      case "watch_offer":
        // Each offer describes the whole subscription: one that a newer offer overtook while it
        // waited its turn is not answered (the media server expects the answer to its latest).
        this._latestWatchOffer = message;
        this._watchChain = this._watchChain
          .then(() => this._answerWatch(message))
          .catch((error) => {
            console.warn("SafeClass: could not receive the lesson's video", error);
          });
        break;
      case "trickle":
        this._remoteCandidate(message);
        break;
      case "media_refused":
        this._refused(message);
        break;
      case "media_stopped":
        this._closeEverything();
        this._emitStreams();
        break;
      case "media_reset":
        // The media server restarted: our place is kept, our connections are not.
        this._closeEverything();
        this._emitStreams();
        this._soon();
        break;
      default:
        break;
    }
  }

  async _answered(message) {
    const purpose = message.purpose;
    const publication = this._pending.get(purpose);
    if (!publication) {
      return;
    }
    this._pending.delete(purpose);
    this._refusedFor.delete(purpose);
    await publication.pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
    const old = this._publications.get(purpose);
    this._publications.set(purpose, publication);
    if (old && old !== publication) {
      old.pc.close();
    }
    this._addRemoteCandidates(publication);
    this._soon(); // something may have been allowed while the offer was out
  }

  _refused(message) {
    const about = message.about;
    if (message.request === "publish" && this._pending.has(about)) {
      const publication = this._pending.get(about);
      this._pending.delete(about);
      publication.pc.close();
      this._refusedFor.set(about, JSON.stringify(this._publishFlags()));
      if (about === "screen") {
        this._wantScreen = false;
        this._stopScreenTracks();
      }
    }
    this.dispatchEvent(new CustomEvent("refused", { detail: message }));
  }

  async _answerWatch(message) {
    if (this._closed || message !== this._latestWatchOffer) {
      return;
    }
    const mapping = new Map();
    for (const stream of message.streams || []) {
      mapping.set(String(stream.mid), { pid: String(stream.pid), kind: String(stream.kind) });
    }
    this._streamsByMid = mapping;
    if (this._watch === null) {
      this._watch = this._newWatch();
    }
    // Every offer renegotiates the one subscription; a new one (after media_stopped or
    // media_reset) finds no connection here and gets a new one.
    const watch = this._watch;
    watch.sent = false;
    await watch.pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
    const answer = await watch.pc.createAnswer();
    await watch.pc.setLocalDescription(answer);
    if (this._watch !== watch) {
      return;
    }
    this.connection.send("watch_answer", { sdp: watch.pc.localDescription.sdp });
    watch.sent = true;
    this._flushLocal(watch);
    this._addRemoteCandidates(watch);
    this._collectStreams();
  }

  _newWatch() {
    const peer = this._newPeer("watch");
    peer.pc.addEventListener("track", () => this._collectStreams());
    return peer;
  }

  _remoteCandidate(message) {
    const target = message.target;
    const peer =
      target === "watch"
        ? this._watch
        : this._publications.get(target) || this._pending.get(target) || null;
    const candidate = message.candidate || {};
    if (!peer || !candidate.candidate) {
      return; // "completed", or for a connection already closed
    }
    peer.remoteQueued.push({
      candidate: candidate.candidate,
      sdpMid: candidate.sdpMid,
      sdpMLineIndex: candidate.sdpMLineIndex,
    });
    this._addRemoteCandidates(peer);
  }

  _addRemoteCandidates(peer) {
    if (!peer.pc.remoteDescription) {
      return;
    }
    while (peer.remoteQueued.length > 0) {
      const candidate = peer.remoteQueued.shift();
      peer.pc.addIceCandidate(candidate).catch((error) => {
        console.warn("SafeClass: an ICE candidate did not fit", error);
      });
    }
  }

  // Whose is each received track: the latest offer's `streams` say it by mid.
  _collectStreams() {
    if (this._watch === null) {
      return;
    }
    const tracks = new Map(); // pid -> {camera: [tracks], screen: [tracks]}
    for (const transceiver of this._watch.pc.getTransceivers()) {
      const owner = transceiver.mid === null ? null : this._streamsByMid.get(transceiver.mid);
      if (!owner || transceiver.currentDirection === "inactive") {
        continue;
      }
      const slot = owner.kind === "screen" ? "screen" : "camera";
      if (!tracks.has(owner.pid)) {
        tracks.set(owner.pid, { camera: [], screen: [] });
      }
      tracks.get(owner.pid)[slot].push(transceiver.receiver.track);
    }
    const remote = new Map();
    for (const [pid, slots] of tracks) {
      const before = this._remote.get(pid) || { camera: null, screen: null };
      remote.set(pid, {
        camera: sameStream(before.camera, slots.camera),
        screen: sameStream(before.screen, slots.screen),
      });
    }
    this._remote = remote;
    this._emitStreams();
  }

  _emitStreams() {
    this.dispatchEvent(new CustomEvent("streams", { detail: new Map(this._remote) }));
  }

  // --- Closing ----------------------------------------------------------------------------------

  _dropPublication(purpose) {
    const pending = this._pending.get(purpose);
    if (pending) {
      pending.pc.close();
      this._pending.delete(purpose);
    }
    const publication = this._publications.get(purpose);
    if (publication) {
      publication.pc.close();
      this._publications.delete(purpose);
    }
  }

  _closeEverything() {
    for (const purpose of ["camera", "screen"]) {
      this._dropPublication(purpose);
    }
    this._refusedFor.clear();
    if (this._watch !== null) {
      this._watch.pc.close();
      this._watch = null;
    }
    this._streamsByMid = new Map();
    this._remote = new Map();
  }

  _stopScreenTracks() {
    if (this._screenStream !== null) {
      for (const track of this._screenStream.getTracks()) {
        track.stop();
      }
      this._screenStream = null;
    }
  }
}

// The same MediaStream object while its tracks stay the same, so a <video> does not restart.
function sameStream(before, tracks) {
  if (tracks.length === 0) {
    return null;
  }
  if (before !== null) {
    const had = before.getTracks();
    if (had.length === tracks.length && tracks.every((track) => had.includes(track))) {
      return before;
    }
  }
  return new MediaStream(tracks);
}

