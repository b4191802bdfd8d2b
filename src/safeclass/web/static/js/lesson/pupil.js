// The lesson page for pupils, parents and named guests (templates/lesson_view.html).
//
// Steps: the reminder (and a parent confirming they are there) -> a camera and microphone check,
// with background blur as a choice -> the waiting room -> the lesson -> a clear end. Every step
// after the check follows the server's view of the lesson: the page never decides who is in.
// The link's token is read from this page's own address and sent only in the `join` message.

import { LessonConnection } from "./connection.js";
import { LessonMedia } from "./media.js";
import { watermark } from "./watermark.js";

const app = document.getElementById("lesson-app");
const $ = (id) => document.getElementById(id);

const settings = {
  lessonId: app.dataset.lessonId,
  role: app.dataset.role, // pupil, parent, guest
  blurDefault: app.dataset.blurDefault === "blur",
  watermark: app.dataset.watermark === "on",
};

const ROLE_WORDS = { staff: "teacher", pupil: "pupil", guest: "guest" };

let reminderAccepted = false;
let parentPresent = false;
let rawStream = null; // straight from the camera and microphone
let blurControl = null; // from blur.js, once blur has been asked for
let meter = null;
let connection = null;
let media = null;
let previous = null; // the view before the current one
let viewerName = "";
let ownMicOff = false; // this page asked for the microphone to go off: not a teacher's mute
let ownCameraOff = false;
let finished = false;
let chatWasPaused = null;

// --- Saying things to screen readers, and showing one step at a time ---------------------------

let announcing = null; // words said within the same moment, read out together

function announce(text) {
  const announcer = $("announcer");
  if (announcing !== null) {
    // One view can change several things: say them all, not only the last.
    announcing.push(text);
    return;
  }
  announcing = [text];
  // Emptied first, so the same words said twice are announced twice.
  announcer.textContent = "";
  window.setTimeout(() => {
    announcer.textContent = announcing.join(" ");
    announcing = null;
  }, 50);
}

let currentStep = "reminder";

function showStep(name) {
  if (name === currentStep) {
    return;
  }
  currentStep = name;
  for (const step of document.querySelectorAll(".step")) {
    step.hidden = step.id !== `step-${name}`;
  }
  const heading = document.querySelector(`#step-${name} h1`);
  if (heading) {
    heading.focus();
  }
}

// --- 1. The reminder ---------------------------------------------------------------------------

$("reminder-accept").disabled = false;

$("reminder-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const box = $("parent-present");
  if (box !== null && !box.checked) {
    $("parent-error").hidden = false;
    box.setAttribute("aria-invalid", "true");
    box.focus();
    return;
  }
  parentPresent = box !== null;
  reminderAccepted = true;
  showStep("check");
});

// --- 2. Camera and microphone check ------------------------------------------------------------

function checkProblem(text) {
  const problem = $("check-problem");
  problem.textContent = text;
  problem.hidden = text === "";
}

function showPreview() {
  const stream = outgoingStream();
  const video = $("check-video");
  video.srcObject = stream;
  $("check-placeholder").hidden = stream !== null && stream.getVideoTracks().length > 0;
}

function outgoingStream() {
  return blurControl !== null ? blurControl.stream : rawStream;
}

$("check-start").addEventListener("click", async () => {
  checkProblem("");
  try {
    rawStream = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: { ideal: 640 }, height: { ideal: 480 } },
    });
  } catch (error) {
    console.warn("SafeClass: no camera or microphone", error);
    checkProblem(
      "We could not turn on your camera or microphone. You can still join the lesson: you will " +
        "see and hear your teacher. To use them, allow this page to use your camera and " +
        "microphone in your browser's settings, then press the button again.",
    );
    return;
  }
  $("check-start").hidden = true;
  startMeter(rawStream);
  await applyBlurChoice();
  showPreview();
  announce("Your camera and microphone are on. Only you can see yourself here.");
});

function startMeter(stream) {
  if (stream.getAudioTracks().length === 0 || typeof AudioContext === "undefined") {
    return;
  }
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Uint8Array(analyser.fftSize);
  const level = $("mic-level");
  const tick = () => {
    if (meter === null) {
      return;
    }
    analyser.getByteTimeDomainData(samples);
    let peak = 0;
    for (const sample of samples) {
      peak = Math.max(peak, Math.abs(sample - 128) / 128);
    }
    level.value = peak;
    meter.frame = window.requestAnimationFrame(tick);
  };
  meter = { context, frame: window.requestAnimationFrame(tick) };
}

function stopMeter() {
  if (meter !== null) {
    window.cancelAnimationFrame(meter.frame);
    meter.context.close().catch(() => {});
    meter = null;
  }
}

async function applyBlurChoice() {
  const mode = document.querySelector('input[name="blur"]:checked')?.value || "off";
  if (rawStream === null || rawStream.getVideoTracks().length === 0) {
    return;
  }
  try {
    if (blurControl !== null) {
      await blurControl.setMode(mode);
      return;
    }
    if (mode === "off") {
      return;
    }
    const { startBlur } = await import("./blur.js");
    blurControl = await startBlur(rawStream, { mode });
  } catch (error) {
    console.warn("SafeClass: background blur could not start", error);
    $("blur-off").checked = true;
    // blur.js says why in plain words (BlurUnavailableError); anything else gets ours.
    checkProblem(
      error && error.name === "BlurUnavailableError"
        ? error.message
        : "Background blur does not work on this device. Your background shows as it is.",
    );
    return;
  }
  if (media !== null) {
    media.setLocalStream(blurControl.stream);
  }
}

for (const radio of document.querySelectorAll('input[name="blur"]')) {
  radio.addEventListener("change", async () => {
    await applyBlurChoice();
    showPreview();
    showSelf();
  });
}

$("check-done").addEventListener("click", () => {
  stopMeter();
  if (rawStream !== null) {
    // The check page's own preview is done with; the self-view takes over.
    $("check-video").srcObject = null;
  }
  join();
});

// --- 3. Joining, and following the server -------------------------------------------------------

function linkToken() {
  // /join/<token>/lessons/<id> or /guest/<token>/lesson: the link's own address.
  const parts = window.location.pathname.split("/");
  return decodeURIComponent(parts[2] || "");
}

function join() {
  showStep("waiting");
  $("waiting-message").textContent = "Joining the lesson…";
  connection = new LessonConnection({
    lessonId: settings.lessonId,
    join: {
      token: linkToken(),
      reminder_accepted: reminderAccepted,
      parent_present: parentPresent,
    },
  });
  media = new LessonMedia(connection);
  const stream = outgoingStream();
  if (stream !== null) {
    media.setLocalStream(stream);
  }
  connection.addEventListener("view", (event) => onView(event.detail.view));
  connection.addEventListener("chat", (event) => onChat(event.detail.message));
  connection.addEventListener("chat_not_sent", (event) => onChatNotSent(event.detail));
  connection.addEventListener("refused", (event) => onRefused(event.detail));
  connection.addEventListener("error", (event) => onError(event.detail));
  connection.addEventListener("status", (event) => onStatus(event.detail));
  media.addEventListener("streams", (event) => showStreams(event.detail));
  media.addEventListener("refused", (event) => {
    const message = event.detail;
    if (message.reason !== "media_off") {
      notice("media", message.message);
    }
  });
  connection.connect();
}

function modeOf(view) {
  const you = view.you;
  const lesson = view.lesson;
  if (you.presence === "removed") {
    return "removed";
  }
  if (you.presence === "denied") {
    return "denied";
  }
  if (lesson.phase === "ended") {
    return "ended";
  }
  if (you.presence === "left") {
    return "left";
  }
  if (you.presence === "admitted" && lesson.phase === "open") {
    return "lesson";
  }
  return "waiting";
}

function onView(view) {
  const before = previous;
  previous = view;
  viewerName = view.you.name;
  const mode = modeOf(view);
  const modeBefore = before === null ? null : modeOf(before);
  if (mode === "lesson") {
    showLesson(view, before, modeBefore);
  } else if (mode === "waiting") {
    showWaiting(view, modeBefore);
  } else {
    showEnd(mode, view);
  }
  showRecording(view, before, mode);
}

// The recording notice, in the waiting room and in the lesson: a red dot and the server's words
// for this reader. Said out loud once when a recording starts, and once when it stops.
function showRecording(view, before, mode) {
  const lesson = view.lesson;
  const on = Boolean(lesson.recording) && (mode === "lesson" || mode === "waiting");
  const words = lesson.recording_message || "This lesson is being recorded.";
  $("recording-words").textContent = on ? words : "";
  $("recording-notice").hidden = !on;
  const wasOn = before !== null && Boolean(before.lesson.recording);
  if (on && !wasOn) {
    announce(words);
  } else if (!lesson.recording && wasOn && !finished) {
    announce("The recording has stopped.");
  }
}

function showWaiting(view, modeBefore) {
  const lesson = view.lesson;
  const held = view.you.presence === "admitted";
  $("waiting-message").textContent = held
    ? "You are back in the waiting room for now. Please wait: the lesson will carry on soon."
    : "Your teacher will let you in.";
  const hold = $("waiting-hold");
  hold.textContent = lesson.hold_message || "";
  hold.hidden = !lesson.hold_message;
  showStep("waiting");
  if (modeBefore === "lesson") {
    announce(`You are back in the waiting room. ${lesson.hold_message || ""}`.trim());
  } else if (modeBefore === null) {
    announce("You are in the waiting room. Your teacher will let you in.");
  }
}

function showEnd(mode, view) {
  const words = {
    removed: [
      "You have been taken out of this lesson",
      "A teacher has taken you out of this lesson, so you cannot come back to it today.",
    ],
    denied: [
      "You were not let in",
      "Your teacher did not let you in to this lesson. If you think this is a mistake, ask " +
        "your teacher or your parent or carer.",
    ],
    ended: ["The lesson has ended", "Thank you for coming. You can close this page now."],
    left: ["You have left the lesson", "You can close this page now."],
  }[mode];
  finish(words[0], words[1], { help: mode === "removed" || mode === "denied" });
  if (view && mode === "ended" && view.lesson.ended_reason === "no_staff") {
    $("ended-message").textContent =
      "The lesson ended because your teacher could not come back. You can close this page now.";
  }
}

function finish(title, message, { help = false, again = false } = {}) {
  if (finished) {
    return;
  }
  finished = true;
  $("ended-heading").textContent = title;
  $("ended-message").textContent = message;
  $("ended-help").hidden = !help;
  $("ended-again").hidden = !again;
  $("connection-status").hidden = true;
  stopEverything();
  showStep("ended");
  announce(`${title}. ${message}`);
}

function stopEverything() {
  stopMeter();
  if (media !== null) {
    media.close();
  }
  if (blurControl !== null) {
    blurControl.stop();
  }
  if (rawStream !== null) {
    for (const track of rawStream.getTracks()) {
      track.stop();
    }
  }
  for (const video of document.querySelectorAll("video")) {
    video.srcObject = null;
  }
  if (connection !== null) {
    connection.leave();
  }
}

$("ended-again").addEventListener("click", () => window.location.reload());

function onRefused(message) {
  if (message.command === "join") {
    finish("You cannot come in to this lesson now", message.message, { again: true });
    return;
  }
  if (message.command === "chat") {
    chatNote(message.message);
    return;
  }
  notice("refused", message.message);
  announce(message.message);
}

function onError(message) {
  if (message.code === "not_recognised" || message.code === "lesson_unavailable") {
    finish("You cannot come in to this lesson now", message.message);
  } else if (message.code === "rejoin_failed") {
    announce(message.message);
  } else if (message.code === "slow_down") {
    notice("refused", message.message);
  } else {
    console.warn("SafeClass:", message.code, message.message);
  }
}

function onStatus(status) {
  const banner = $("connection-status");
  if (status.state === "reconnecting") {
    banner.textContent = "The connection to the lesson was lost. Trying to connect again…";
    banner.hidden = false;
    if (!banner.dataset.said) {
      banner.dataset.said = "yes";
      announce("The connection to the lesson was lost. Trying to connect again.");
    }
  } else if (status.state === "open") {
    if (!banner.hidden) {
      announce("Connected again.");
    }
    banner.hidden = true;
    delete banner.dataset.said;
  } else if (status.state === "closed" && !finished) {
    const reason = status.message || "";
    finish(
      "You are no longer connected to the lesson",
      reason || "The connection to the lesson closed.",
      { again: true },
    );
  }
}

// --- 4. The lesson -------------------------------------------------------------------------------

function showLesson(view, before, modeBefore) {
  const you = view.you;
  const beforeYou = before ? before.you : null;
  if (modeBefore !== "lesson") {
    showStep("lesson");
    announce(
      modeBefore === "waiting" && before && before.you.presence === "admitted"
        ? "The lesson is carrying on. You are back in the lesson."
        : "Your teacher has let you in. You are in the lesson.",
    );
    resetNotices();
  }
  showHold(view, before);
  if (beforeYou !== null && modeBefore === "lesson") {
    explainChanges(you, beforeYou);
  }
  if (!you.mic_on) {
    ownMicOff = false;
  }
  if (!you.camera_on) {
    ownCameraOff = false;
  }
  showControls(view);
  showChatState(view);
  showSelf();
  layoutStage(view);
}

function showHold(view, before) {
  const lesson = view.lesson;
  const message = lesson.hold_message;
  if (message) {
    notice("hold", message);
    if (!before || before.lesson.hold_message !== message) {
      announce(message);
    }
  } else {
    clearNotice("hold");
    if (before && before.lesson.hold_message && modeOf(before) === "lesson") {
      announce("The lesson is carrying on.");
    }
  }
}

// What changed for this pupil because of a teacher, said kindly.
function explainChanges(you, before) {
  const micTakenAway = before.mic_allowed && !you.mic_allowed;
  const micTurnedOff = before.mic_on && !you.mic_on && !ownMicOff;
  if (micTakenAway || micTurnedOff) {
    const text = you.mic_allowed
      ? "Your teacher has turned your microphone off. You can turn it on again when you need to."
      : "Your teacher has turned your microphone off. To talk, press \u201cAsk to speak\u201d.";
    notice("mic", text);
    announce(text);
  } else if (!before.mic_allowed && you.mic_allowed) {
    const text = "Your teacher says you can speak: you can turn your microphone on now.";
    notice("mic", text);
    announce(text);
  }
  if (before.camera_allowed && !you.camera_allowed) {
    const text = "Your teacher has turned your camera off for now.";
    notice("camera", text);
    announce(text);
  } else if (before.camera_on && !you.camera_on && !ownCameraOff) {
    const text = "Your camera has been turned off.";
    notice("camera", text);
    announce(text);
  } else if (!before.camera_allowed && you.camera_allowed) {
    clearNotice("camera");
    announce("Your teacher says you can turn your camera on again.");
  }
  if (before.share_granted !== you.share_granted) {
    announce(
      you.share_granted
        ? "Your teacher has said you can share your screen."
        : "Screen sharing has been turned off for you.",
    );
  }
  if (before.hand_raised && !you.hand_raised) {
    announce("Your hand is down.");
  }
}

function showControls(view) {
  const you = view.you;
  const lesson = view.lesson;
  const hasAudio = rawStream !== null && rawStream.getAudioTracks().length > 0;
  const hasVideo = rawStream !== null && rawStream.getVideoTracks().length > 0;
  const held = Boolean(lesson.hold) || lesson.suspended;

  const mic = $("control-mic");
  mic.setAttribute("aria-pressed", String(you.mic_on));
  mic.textContent = you.mic_on ? "Turn my microphone off" : "Turn my microphone on";
  mic.disabled = !hasAudio || (!you.mic_on && (!you.mic_allowed || held));

  const camera = $("control-camera");
  camera.setAttribute("aria-pressed", String(you.camera_on));
  camera.textContent = you.camera_on ? "Turn my camera off" : "Turn my camera on";
  camera.disabled = !hasVideo || (!you.camera_on && (!you.camera_allowed || held));

  const hand = $("control-hand");
  hand.setAttribute("aria-pressed", String(you.hand_raised));
  hand.textContent = you.hand_raised ? "Lower my hand" : "Raise my hand";

  const speak = $("control-speak");
  speak.hidden = you.mic_allowed;
  speak.disabled = you.wants_to_speak;
  speak.textContent = you.wants_to_speak ? "Asked to speak: please wait" : "Ask to speak";

  const share = $("control-share");
  share.hidden = !you.share_granted;
  share.textContent = you.sharing ? "Stop sharing my screen" : "Share my screen";

  const hints = [];
  if (!hasAudio && !hasVideo) {
    hints.push("You joined without a camera or microphone.");
  }
  if (!you.mic_allowed && hasAudio) {
    hints.push("To talk, ask to speak: your teacher will let you turn your microphone on.");
  }
  if (!you.camera_allowed && hasVideo) {
    hints.push("Your teacher has turned cameras off for now.");
  }
  $("controls-hint").textContent = hints.join(" ");
}

$("control-mic").addEventListener("click", () => {
  const on = !(previous && previous.you.mic_on);
  ownMicOff = !on;
  connection.send("set_mic", { on });
});

$("control-camera").addEventListener("click", () => {
  const on = !(previous && previous.you.camera_on);
  ownCameraOff = !on;
  connection.send("set_camera", { on });
});

$("control-hand").addEventListener("click", () => {
  if (previous && previous.you.hand_raised) {
    connection.send("lower_hand", { target: previous.you.pid });
  } else {
    connection.send("raise_hand");
    announce("Your hand is up. Your teacher can see it.");
  }
});

$("control-speak").addEventListener("click", () => {
  connection.send("ask_to_speak");
  announce("You have asked to speak. Your teacher will say when you can.");
});

$("control-share").addEventListener("click", async () => {
  if (previous && previous.you.sharing) {
    media.stopScreen();
    return;
  }
  try {
    await media.shareScreen();
  } catch (error) {
    console.warn("SafeClass: screen sharing did not start", error);
    notice("refused", "Your screen is not being shared.");
  }
});

$("control-leave").addEventListener("click", () => leave());
$("waiting-leave").addEventListener("click", () => leave());

function leave() {
  finish("You have left the lesson", "You can close this page now.");
}

// Notices above the lesson, one per topic, replaced rather than piled up.
function notice(topic, text) {
  const holder = $("lesson-notices");
  let item = holder.querySelector(`[data-topic="${topic}"]`);
  if (item === null) {
    item = document.createElement("p");
    item.className = "notice lesson-notice";
    item.dataset.topic = topic;
    holder.append(item);
  }
  item.textContent = text;
}

function clearNotice(topic) {
  const item = $("lesson-notices").querySelector(`[data-topic="${topic}"]`);
  if (item !== null) {
    item.remove();
  }
}

function resetNotices() {
  $("lesson-notices").replaceChildren();
}

// --- Video -------------------------------------------------------------------------------------

let streams = new Map();

function showStreams(map) {
  streams = map;
  if (previous !== null && modeOf(previous) === "lesson") {
    layoutStage(previous);
  }
}

function personIn(view, pid) {
  return (view.in_room || []).find((person) => person.pid === pid) || null;
}

// The stage holds staff cameras and any shared screen; other pupils (where the class may see
// them) go in the strip below. Every video carries the viewer's name when the policy says so.
function layoutStage(view) {
  const stage = $("stage");
  const strip = $("class-strip");
  const wanted = new Map(); // key -> {stream, label, place, kind}
  for (const [pid, slots] of streams) {
    const person = personIn(view, pid);
    const name = person ? person.name : "Someone";
    const isStaff = person !== null && person.role === "staff";
    if (slots.screen) {
      wanted.set(`${pid}:screen`, {
        stream: slots.screen,
        label: `${name}'s screen`,
        place: "stage",
        kind: "screen",
      });
    }
    if (slots.camera) {
      wanted.set(`${pid}:camera`, {
        stream: slots.camera,
        label: isStaff ? name : `${name} (${ROLE_WORDS[person?.role] || "pupil"})`,
        place: isStaff ? "stage" : "strip",
        kind: slots.camera.getVideoTracks().length > 0 ? "camera" : "sound",
      });
    }
  }
  for (const tile of document.querySelectorAll(".tile[data-key]")) {
    const entry = wanted.get(tile.dataset.key);
    if (!entry || tile.parentElement !== (entry.place === "stage" ? stage : strip)) {
      tile.querySelector("video").srcObject = null;
      tile.remove();
    }
  }
  for (const [key, entry] of wanted) {
    const holder = entry.place === "stage" ? stage : strip;
    let tile = holder.querySelector(`.tile[data-key="${CSS.escape(key)}"]`);
    if (tile === null) {
      tile = makeTile(key, entry);
      holder.append(tile);
    }
    const video = tile.querySelector("video");
    if (video.srcObject !== entry.stream) {
      video.srcObject = entry.stream;
      video.play().catch(() => {});
    }
    tile.classList.toggle("tile--screen", entry.kind === "screen");
    tile.classList.toggle("tile--sound", entry.kind === "sound");
    tile.querySelector(".tile__name").textContent = entry.label;
    video.setAttribute("aria-label", entry.kind === "screen" ? entry.label : `${entry.label}'s video`);
  }
  const onStage = stage.querySelectorAll(".tile").length;
  $("stage-empty").hidden = onStage > 0;
  stage.classList.toggle("video-stage--sharing", stage.querySelector(".tile--screen") !== null);
  strip.hidden = strip.querySelectorAll(".tile").length === 0;
}

function makeTile(key, entry) {
  const tile = document.createElement("figure");
  tile.className = "tile";
  tile.dataset.key = key;
  const video = document.createElement("video");
  video.autoplay = true;
  video.playsInline = true;
  const caption = document.createElement("figcaption");
  caption.className = "tile__name";
  caption.textContent = entry.label;
  tile.append(video, caption);
  if (settings.watermark) {
    watermark(tile, viewerName);
  }
  return tile;
}

function showSelf() {
  const video = $("self-video");
  const stream = outgoingStream();
  if (video.srcObject !== stream) {
    video.srcObject = stream;
  }
  const on = Boolean(previous && previous.you.camera_on && stream && stream.getVideoTracks().length);
  $("self-placeholder").hidden = on;
  video.hidden = !on;
  if (settings.watermark && viewerName) {
    watermark($("self-view"), viewerName);
  }
}

// --- Chat ----------------------------------------------------------------------------------------

function showChatState(view) {
  const lesson = view.lesson;
  const form = $("chat-form");
  const state = $("chat-state");
  const select = $("chat-to");
  let why = "";
  if (select.options.length === 0) {
    why = "The chat is turned off in this lesson.";
  } else if (lesson.chat_paused) {
    why = "Your teacher has paused the chat for now.";
  } else if (lesson.hold) {
    why = "The chat is paused for now.";
  }
  const paused = why !== "";
  for (const control of form.elements) {
    control.disabled = paused;
  }
  state.textContent = why;
  state.hidden = !paused;
  if (chatWasPaused !== null && chatWasPaused !== lesson.chat_paused) {
    if (lesson.chat_paused) {
      announce("Your teacher has paused the chat.");
    } else {
      announce("You can use the chat again.");
    }
  }
  chatWasPaused = lesson.chat_paused;
}


function onChat(message) {
  const log = $("chat-log");
  const item = document.createElement("li");
  item.className = "chat-message";
  if (message.from === (previous && previous.you.pid)) {
    item.classList.add("chat-message--own");
  }
  const who = document.createElement("span");
  who.className = "chat-message__who";
  const mine = previous && message.from === previous.you.pid;
  const role = message.role === "staff" ? " (teacher)" : "";
  const to = message.to === "staff" ? " to the teachers" : "";
  who.textContent = mine ? `You${to}` : `${message.name}${role}${to}`;
  const text = document.createElement("span");
  text.className = "chat-message__text";
  text.textContent = message.text;
  item.append(who, text);
  log.append(item);
  log.scrollTop = log.scrollHeight;
  if (!mine) {
    announce(`New message from ${message.name}: ${message.text}`);
  }
}

function onChatNotSent(message) {
  const box = $("chat-not-sent");
  box.textContent = message.message;
  box.hidden = false;
  // Put the words back, so they can be sent again without the private part.
  const field = $("chat-text");
  if (field.value === "") {
    field.value = message.text;
  }
  announce(message.message);
}

function chatNote(text) {
  const box = $("chat-not-sent");
  box.textContent = text;
  box.hidden = false;
  announce(text);
}

$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const field = $("chat-text");
  const text = field.value.trim();
  if (text === "" || connection === null) {
    return;
  }
  if (connection.send("chat", { to: $("chat-to").value, text })) {
    field.value = "";
    $("chat-not-sent").hidden = true;
  } else {
    chatNote("Your message could not be sent just now. Please try again in a moment.");
  }
});

$("chat-text").addEventListener("keydown", (event) => {
  // Enter sends; Shift+Enter makes a new line.
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("chat-form").requestSubmit();
  }
});
