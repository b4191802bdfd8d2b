// The staff lesson console (GET /admin/lessons/<id>/live).
//
// The server decides everything (docs/protocol.md): this page joins the lesson's WebSocket as the
// signed-in member of staff, sends what the teacher asks for, and draws the console again from
// each view the engine sends back. A refusal is shown in words next to the control that asked.
// Lists are keyed by participant, and each row keeps its own buttons from one view to the next,
// so keyboard focus stays where the teacher left it.

import { startBlur } from "./blur.js";
import { LessonConnection } from "./connection.js";
import { LessonMedia } from "./media.js";
import { watermark } from "./watermark.js";

const ANNOUNCEMENTS_KEPT = 6;
const REMOVAL_TAB_WITHIN_MS = 4000;

const ROLE_WORDS = { staff: "Staff", pupil: "Pupil", guest: "Guest" };
const VIA_WORDS = { parent_link: "with a parent or carer", typed_code: "typed a code" };
const FLAG_WORDS = {
  second_device:
    "Second device: the same person is also waiting or in the lesson on another device. " +
    "Check which one is really them.",
};
const KIND_WORDS = {
  phone_number: "a phone number",
  email_address: "an email address",
  postcode: "a postcode",
  street_address: "a street address",
  social_media: "a social media name",
  link: "a link",
  profanity: "bad language",
};
const ENDED_WORDS = {
  ended_by_staff: "A member of staff ended it.",
  no_staff_returned: "No member of staff came back in time, so it ended by itself.",
};

// --- The page's parts -------------------------------------------------------------------------

const root = document.getElementById("console");
const lessonId = root.dataset.lessonId;
const viewerName = root.dataset.viewerName;
const incidentUrl = root.dataset.incidentUrl;

const $ = (id) => document.getElementById(id);
const parts = {
  connection: $("console-connection"),
  hold: $("console-hold"),
  ended: $("console-ended"),
  endedWords: $("console-ended-words"),
  announce: $("console-announce"),
  alert: $("console-alert"),
  suspend: $("console-suspend"),
  suspendState: $("console-suspend-state"),
  muteAll: $("console-mute-all"),
  lock: $("console-lock"),
  lockState: $("console-lock-state"),
  end: $("console-end"),
  recording: $("console-recording"),
  recordingBadge: $("console-recording-badge"),
  recordingTime: $("console-recording-time"),
  record: $("console-record"),
  recordingState: $("console-recording-state"),
  recordDialog: $("record-dialog"),
  recordWhat: $("record-what"),
  admitNext: $("console-admit-next"),
  waitingCount: $("waiting-count"),
  waitingEmpty: $("waiting-empty"),
  waitingList: $("waiting-list"),
  expectedCount: $("expected-count"),
  expectedEmpty: $("expected-empty"),
  expectedList: $("expected-list"),
  turnedAway: $("turned-away"),
  turnedAwayList: $("turned-away-list"),
  peopleHeading: $("people-heading"),
  peopleCount: $("people-count"),
  peopleEmpty: $("people-empty"),
  peopleList: $("people-list"),
  peopleNote: $("people-note"),
  myCamera: $("console-my-camera"),
  myMic: $("console-my-mic"),
  myBlur: $("console-my-blur"),
  myScreen: $("console-my-screen"),
  meWords: $("console-me-words"),
  videos: $("video-grid"),
  chatPause: $("console-chat-pause"),
  chatState: $("console-chat-state"),
  chatLog: $("chat-log"),
  chatScroll: $("chat-scroll"),
  chatForm: $("chat-form"),
  chatTo: $("chat-to"),
  chatText: $("chat-text"),
  chatSend: $("chat-send"),
  removeDialog: $("remove-dialog"),
  removeForm: $("remove-form"),
  removeName: $("remove-name"),
  removeReason: $("remove-reason"),
  endDialog: $("end-dialog"),
};
const zones = {
  bar: document.querySelector('[data-zone="bar"]'),
  waiting: document.querySelector('[data-zone="waiting"]'),
  me: document.querySelector('[data-zone="me"]'),
  chat: document.querySelector('[data-zone="chat"]'),
};

const connection = new LessonConnection({ lessonId, join: {} });
const media = new LessonMedia(connection);

let view = null; // the latest view
let blur = null; // {stream, setMode, stop} once the camera is running
// Blur is on unless the teacher turned it off in the pre-lesson check, in this browser tab.
const BLUR_CHOICE_KEY = "safeclass.staff-blur";
let blurMode = rememberedBlurChoice();
let blurProblem = null; // why blur cannot run here, in words, if it cannot
let rawStream = null; // the camera and microphone as they are (blur's input)
let ended = false;
const lastZoneFor = new Map(); // command -> the zone (element) whose control sent it last
const flaggedMessageIds = new Set(); // chat messages the chat check let through, to mark them
let removing = null; // {pid, name, zone} while the remove dialog is open
let pendingRemoval = null; // {pid, name, url, timer} from "remove" until the engine answers
let recordingTimer = null; // ticks the recording's running time once a second while it is on

// --- Small helpers ----------------------------------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

// A button whose visible words are followed by words only screen readers hear ("Mute" + " Amy
// Adams"), so every button's name says whom it is about while the row stays short to read.
function setButtonWords(button, visible, hidden) {
  button.replaceChildren(document.createTextNode(visible));
  if (hidden) {
    button.append(el("span", "visually-hidden", hidden));
  }
}

function clock(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return "";
  }
  return date.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
}

function announce(words) {
  const line = el("p", "", words);
  parts.announce.append(line);
  while (parts.announce.childElementCount > ANNOUNCEMENTS_KEPT) {
    parts.announce.firstElementChild.remove();
  }
}

function alertNow(words) {
  parts.alert.textContent = words;
}

function refusalSlot(zone) {
  return zone.querySelector(":scope > [data-refusal]");
}

function showRefusal(zone, words) {
  const slot = refusalSlot(zone);
  slot.textContent = words;
  slot.hidden = false;
}

function clearRefusal(zone) {
  const slot = refusalSlot(zone);
  slot.textContent = "";
  slot.hidden = true;
}

// Every staff command goes through here: the zone is where a refusal will be shown.
function command(type, fields, zone) {
  clearRefusal(zone);
  lastZoneFor.set(type, zone);
  if (!connection.send(type, fields)) {
    showRefusal(zone, "Not connected to the lesson just now. Try again in a moment.");
  }
}

// Keeps a list's rows in the order of `items`, reusing each row (by key) so its buttons, and the
// keyboard focus on them, survive a new view. Returns true if a removed row held the focus.
function syncList(list, items, keyOf, create, update) {
  const existing = new Map();
  for (const row of list.children) {
    existing.set(row.dataset.key, row);
  }
  const keep = new Set();
  items.forEach((item, index) => {
    const key = keyOf(item);
    keep.add(key);
    let row = existing.get(key);
    if (!row) {
      row = create(item);
      row.dataset.key = key;
    }
    update(row, item);
    if (list.children[index] !== row) {
      list.insertBefore(row, list.children[index] || null);
    }
  });
  let focusLost = false;
  for (const [key, row] of existing) {
    if (!keep.has(key)) {
      focusLost = focusLost || row.contains(document.activeElement);
      row.remove();
    }
  }
  return focusLost;
}

// --- Drawing the view -------------------------------------------------------------------------

function render(next) {
  const before = view;
  view = next;
  const lesson = next.lesson;
  const you = next.you;
  const inRoom = you.presence === "admitted";
  const live = inRoom && lesson.phase !== "ended" && connection.state === "open";

  // What holds the lesson, in words.
  if (lesson.hold_message && lesson.phase !== "ended") {
    parts.hold.textContent = lesson.hold_message;
    parts.hold.hidden = false;
  } else {
    parts.hold.textContent = "";
    parts.hold.hidden = true;
  }
  if (lesson.phase === "ended") {
    finish(ENDED_WORDS[lesson.ended_reason] || "");
  }

  // The whole lesson.
  if (lesson.suspended) {
    parts.suspend.textContent = "Resume the lesson";
    parts.suspend.className = "console-button console-button--go console-button--big";
  } else {
    parts.suspend.textContent = "Suspend everything";
    parts.suspend.className = "console-button console-button--danger console-button--big";
  }
  parts.suspendState.hidden = !lesson.suspended;
  parts.suspendState.textContent = lesson.suspended
    ? "Suspended: pupils' microphones and cameras are off, screen sharing has stopped, chat is " +
      "paused and the lesson is locked. Resume puts the lock and chat back as they were."
    : "";
  parts.lock.textContent = lesson.locked ? "Unlock the lesson" : "Lock the lesson";
  parts.lockState.textContent = lesson.locked
    ? "Locked: nobody new can come to the waiting room."
    : "Open: people on the class list can come to the waiting room.";
  root.classList.toggle("console--suspended", lesson.suspended);
  root.classList.toggle("console--locked", lesson.locked);
  for (const button of [parts.suspend, parts.muteAll, parts.lock, parts.end]) {
    button.disabled = !live;
  }

  const waiting = next.waiting || [];
  const people = (next.in_room || []).filter((person) => person.pid !== you.pid);
  renderWaiting(waiting, live);
  renderExpected(next.expected || []);
  renderTurnedAway(next.turned_away || []);
  renderPeople(people, live);
  renderMe(you, lesson, live);
  renderChatControls(lesson, live);
  renderRecording(next.recording || null, lesson, live);
  renderVideos();
  announceChanges(before, next);
  if (pendingRemoval !== null) {
    const pid = pendingRemoval.pid;
    const stillHere = [...(next.in_room || []), ...waiting].some((p) => p.pid === pid);
    if (!stillHere) {
      removalDone(true);
    }
  }
}

function renderWaiting(waiting, live) {
  parts.waitingCount.textContent = waiting.length ? `(${waiting.length})` : "";
  parts.waitingEmpty.hidden = waiting.length > 0;
  parts.admitNext.disabled = !live || !waiting.some((person) => person.can_admit);
  const focusLost = syncList(
    parts.waitingList,
    waiting,
    (person) => person.pid,
    (person) => {
      const row = el("li", "console-person console-person--waiting");
      row.dataset.zone = "person";
      const who = el("div", "console-person__who");
      who.append(el("span", "console-person__name"), el("span", "console-person__meta"));
      const flags = el("ul", "console-flags");
      const why = el("p", "console-why");
      const admit = el("button", "console-button console-button--go");
      admit.type = "button";
      admit.addEventListener("click", () => command("admit", { target: person.pid }, row));
      const refusal = el("p", "console-refusal");
      refusal.dataset.refusal = "";
      refusal.hidden = true;
      row.append(who, flags, why, admit, refusal);
      return row;
    },
    (row, person) => {
      const [who, flags, why, admit] = row.children;
      who.children[0].textContent = person.name;
      const meta = [
        ROLE_WORDS[person.role] || person.role,
        `waiting since ${clock(person.joined_at)}`,
      ];
      if (person.parent_present) {
        meta.push("a parent or carer is with them");
      }
      who.children[1].textContent = meta.join(" · ");
      flags.replaceChildren(
        ...person.flags.map((flag) =>
          el("li", "console-flag", FLAG_WORDS[flag] || `Flagged: ${flag}`),
        ),
      );
      flags.hidden = person.flags.length === 0;
      why.textContent = person.can_admit ? "" : `Cannot be let in: ${person.why_not}`;
      why.hidden = person.can_admit;
      setButtonWords(admit, "Let in", ` ${person.name}`);
      admit.hidden = !person.can_admit;
      admit.disabled = !live;
      row.classList.toggle("console-person--flagged", person.flags.length > 0 || !person.can_admit);
    },
  );
  if (focusLost) {
    (parts.admitNext.disabled ? parts.peopleHeading : parts.admitNext).focus();
  }
}

function renderExpected(expected) {
  parts.expectedCount.textContent = expected.length ? `(${expected.length})` : "";
  parts.expectedEmpty.hidden = expected.length > 0;
  parts.expectedList.replaceChildren(
    ...expected.map((pupil) => {
      const row = el("li", "console-expected");
      row.append(el("span", "console-person__name", pupil.name));
      const words = [];
      if (pupil.parent_mediated) {
        words.push("joins with a parent or carer");
      }
      words.push(pupil.can_join ? "Has permission to join" : `Cannot join: ${pupil.why_not}`);
      const meta = el(
        "span",
        pupil.can_join ? "console-person__meta" : "console-why",
        words.join(" · "),
      );
      row.append(" ", meta);
      return row;
    }),
  );
}

function renderTurnedAway(turnedAway) {
  parts.turnedAway.hidden = turnedAway.length === 0;
  parts.turnedAwayList.replaceChildren(
    ...turnedAway.map((entry) => {
      const row = el("li", "console-expected");
      row.append(
        el("span", "console-person__name", entry.name),
        " ",
        el(
          "span",
          "console-person__meta",
          `${clock(entry.at)} · ${ROLE_WORDS[entry.role] || entry.role}`,
        ),
        el("span", "console-why", entry.message),
      );
      return row;
    }),
  );
}

// One button per control; each row keeps them, changing only their words and what they send.
const PERSON_BUTTONS = ["mic", "camera", "hand", "share", "remove"];

function renderPeople(people, live) {
  const learners = people.filter((person) => person.role !== "staff");
  parts.peopleCount.textContent = people.length ? `(${people.length + 1} including you)` : "";
  parts.peopleEmpty.hidden = learners.length > 0;
  const focusLost = syncList(
    parts.peopleList,
    people,
    (person) => person.pid,
    (person) => {
      const row = el("li", "console-person");
      const who = el("div", "console-person__who");
      who.append(el("span", "console-person__name"), el("span", "console-person__meta"));
      const states = el("ul", "console-states");
      const actions = el("div", "console-person__actions");
      for (const name of PERSON_BUTTONS) {
        const button = el("button", "console-button console-button--small");
        button.type = "button";
        button.dataset.control = name;
        button.addEventListener("click", () => personAction(row, button));
        actions.append(button);
      }
      const refusal = el("p", "console-refusal");
      refusal.dataset.refusal = "";
      refusal.hidden = true;
      row.append(who, states, actions, refusal);
      row.dataset.pid = person.pid;
      return row;
    },
    (row, person) => updatePerson(row, person, live),
  );
  if (focusLost) {
    parts.peopleHeading.focus();
  }
}

function updatePerson(row, person, live) {
  const [who, states, actions] = row.children;
  const name = person.name;
  row.dataset.name = name;
  who.children[0].textContent = name;
  const meta = [ROLE_WORDS[person.role] || person.role];
  if (VIA_WORDS[person.via]) {
    meta.push(VIA_WORDS[person.via]);
  }
  if (person.parent_present) {
    meta.push("a parent or carer is with them");
  }
  who.children[1].textContent = meta.join(" · ");

  const shown = [
    [person.mic_on ? "Mic on" : "Mic off", person.mic_on ? "on" : "off"],
    [person.camera_on ? "Camera on" : "Camera off", person.camera_on ? "on" : "off"],
  ];
  if (!person.camera_allowed) {
    shown.push(["Camera stopped by staff", "stopped"]);
  }
  if (person.wants_to_speak) {
    shown.push(["Asks to speak", "hand"]);
  } else if (person.hand_raised) {
    shown.push(["Hand up", "hand"]);
  }
  if (person.sharing) {
    shown.push(["Sharing their screen", "share"]);
  } else if (person.share_granted) {
    shown.push(["May share their screen", "share"]);
  }
  states.setAttribute("aria-label", `${name} now`);
  states.replaceChildren(
    ...shown.map(([words, kind]) => el("li", `console-state console-state--${kind}`, words)),
  );
  const handUp = Boolean(person.hand_raised || person.wants_to_speak);
  row.classList.toggle("console-person--hand", handUp);

  const staff = person.role === "staff";
  for (const button of actions.children) {
    const control = button.dataset.control;
    let words = null;
    if (staff) {
      words = null; // staff run their own microphone, camera and screen
    } else if (control === "mic") {
      words =
        person.mic_on || person.mic_allowed
          ? { type: "mute", visible: "Mute", hidden: ` ${name}` }
          : {
              type: "allow_mic",
              visible: person.wants_to_speak ? "Let them speak" : "Allow mic",
              hidden: ` (${name})`,
            };
    } else if (control === "camera") {
      words = person.camera_allowed
        ? { type: "stop_camera", visible: "Stop camera", hidden: ` of ${name}` }
        : { type: "allow_camera", visible: "Allow camera", hidden: ` for ${name}` };
    } else if (control === "hand") {
      words =
        person.hand_raised || person.wants_to_speak
          ? { type: "lower_hand", visible: "Lower hand", hidden: ` of ${name}` }
          : null;
    } else if (control === "share") {
      words = person.share_granted
        ? { type: "revoke_share", visible: "Stop screen share", hidden: ` for ${name}` }
        : { type: "grant_share", visible: "Allow screen share", hidden: ` for ${name}` };
    } else if (control === "remove") {
      words = { type: "remove", visible: "Remove", hidden: ` ${name}` };
    }
    button.hidden = words === null;
    if (words !== null) {
      button.dataset.command = words.type;
      setButtonWords(button, words.visible, words.hidden);
      button.classList.toggle("console-button--danger", words.type === "remove");
      button.classList.toggle(
        "console-button--go",
        words.type === "allow_mic" && Boolean(person.wants_to_speak),
      );
    }
    button.disabled = !live;
  }
}

function personAction(row, button) {
  const pid = row.dataset.pid;
  const type = button.dataset.command;
  if (type === "remove") {
    openRemove(pid, row.dataset.name, row);
    return;
  }
  command(type, { target: pid }, row);
}

function renderMe(you, lesson, live) {
  const cameraReady = blur !== null;
  parts.myCamera.textContent = you.camera_on ? "Turn my camera off" : "Turn my camera on";
  parts.myMic.textContent = you.mic_on ? "Turn my microphone off" : "Turn my microphone on";
  parts.myScreen.textContent = you.sharing ? "Stop sharing my screen" : "Share my screen";
  parts.myCamera.disabled = !live || !cameraReady;
  parts.myMic.disabled = !live || !cameraReady;
  parts.myBlur.disabled = !live || !cameraReady || blurProblem !== null;
  const canShare = Boolean(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
  parts.myScreen.disabled = !live || !canShare;
  if (blurProblem !== null) {
    parts.myBlur.textContent = "Background blur: not available";
  } else {
    parts.myBlur.textContent = blurMode === "blur" ? "Background blur: on" : "Background blur: off";
  }
  const state = [
    you.camera_on ? "Your camera is on" : "Your camera is off",
    you.mic_on ? "your microphone is on" : "your microphone is off",
  ];
  if (you.sharing) {
    state.push("you are sharing your screen");
  }
  const problem = blurProblem !== null ? ` ${blurProblem}` : "";
  parts.meWords.textContent = `${state.join("; ")}.${problem}`;
}

function renderChatControls(lesson, live) {
  parts.chatPause.textContent = lesson.chat_paused ? "Let pupils chat again" : "Pause pupils' chat";
  parts.chatPause.disabled = !live || lesson.suspended;
  parts.chatState.textContent = lesson.chat_paused
    ? lesson.suspended
      ? "Pupils' chat is paused while the lesson is suspended."
      : "Pupils' chat is paused."
    : "Pupils can chat.";
  parts.chatSend.disabled = !live;
}

// The recording control: only where the lesson's policy allows recording at all.
function renderRecording(recording, lesson, live) {
  const allowed = Boolean(recording && recording.allowed) && lesson.phase !== "ended";
  parts.recording.hidden = !allowed;
  const on = allowed && recording.on;
  root.classList.toggle("console--recording", on);
  parts.recordingBadge.hidden = !on;
  if (!allowed) {
    stopRecordingClock();
    return;
  }
  if (on) {
    parts.record.textContent = "Stop recording";
    parts.record.className = "console-button console-button--end";
    parts.record.disabled = !live;
    parts.recordingState.textContent = lesson.recording_message || "This lesson is being recorded.";
    startRecordingClock(recording.since);
  } else {
    stopRecordingClock();
    parts.record.textContent = "Start recording";
    parts.record.className = "console-button";
    parts.record.disabled = !live || !recording.can_start;
    parts.recordingState.textContent = recording.can_start ? "" : recording.why_not || "";
  }
}

// Minutes and seconds since `since` (hours too, after the first), by this computer's clock.
function runningTime(since) {
  const seconds = Math.max(0, Math.floor((Date.now() - since.getTime()) / 1000));
  const two = (n) => String(n).padStart(2, "0");
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = seconds % 60;
  return hours > 0 ? `${hours}:${two(minutes)}:${two(rest)}` : `${minutes}:${two(rest)}`;
}

function startRecordingClock(iso) {
  const since = iso ? new Date(iso) : null;
  if (since === null || Number.isNaN(since.getTime())) {
    stopRecordingClock();
    return;
  }
  parts.recordingTime.dateTime = since.toISOString();
  parts.recordingTime.title = `Started at ${clock(iso)}`;
  const tick = () => {
    parts.recordingTime.textContent = runningTime(since);
  };
  tick();
  if (recordingTimer === null || recordingTimer.since !== iso) {
    stopRecordingClock();
    recordingTimer = { since: iso, id: setInterval(tick, 1000) };
  }
}

function stopRecordingClock() {
  if (recordingTimer !== null) {
    clearInterval(recordingTimer.id);
    recordingTimer = null;
  }
  parts.recordingTime.textContent = "";
}

// What changed since the last view, said out loud for screen-reader users.
function announceChanges(before, next) {
  const waitingBefore = new Map((before ? before.waiting || [] : []).map((p) => [p.pid, p]));
  for (const person of next.waiting || []) {
    if (!waitingBefore.has(person.pid)) {
      announce(
        person.can_admit
          ? `${person.name} is waiting to come in.`
          : `${person.name} is waiting but cannot be let in: ${person.why_not}`,
      );
    }
  }
  if (before === null) {
    return;
  }
  const roomBefore = new Map((before.in_room || []).map((p) => [p.pid, p]));
  const roomNow = new Map((next.in_room || []).map((p) => [p.pid, p]));
  const waitingNow = new Set((next.waiting || []).map((p) => p.pid));
  for (const [pid, person] of roomNow) {
    if (pid === next.you.pid) {
      continue;
    }
    const was = roomBefore.get(pid);
    if (!was) {
      announce(`${person.name} is in the lesson.`);
      continue;
    }
    if (person.wants_to_speak && !was.wants_to_speak) {
      announce(`${person.name} asks to speak.`);
    } else if (person.hand_raised && !was.hand_raised) {
      announce(`${person.name} raised their hand.`);
    }
    if (person.sharing && !was.sharing) {
      announce(`${person.name} is sharing their screen.`);
    }
  }
  for (const [pid, person] of roomBefore) {
    if (!roomNow.has(pid) && pid !== next.you.pid) {
      announce(
        waitingNow.has(pid)
          ? `${person.name} is back in the waiting room.`
          : `${person.name} has left the lesson.`,
      );
    }
  }
  if (next.lesson.locked !== before.lesson.locked) {
    announce(next.lesson.locked ? "The lesson is locked." : "The lesson is unlocked.");
  }
  if (next.lesson.suspended !== before.lesson.suspended) {
    announce(next.lesson.suspended ? "Everything is suspended." : "The lesson has resumed.");
  }
  if (Boolean(next.lesson.recording) !== Boolean(before.lesson.recording)) {
    announce(next.lesson.recording ? "Recording has started." : "The recording has stopped.");
  }
}

// --- Video ------------------------------------------------------------------------------------

let remoteStreams = new Map(); // pid -> {camera, screen}

function nameOf(pid) {
  const person = ((view && view.in_room) || []).find((p) => p.pid === pid);
  return person ? person.name : "Someone";
}

function renderVideos() {
  const tiles = [];
  for (const [pid, streams] of remoteStreams) {
    if (streams.screen) {
      tiles.push({
        key: `${pid}:screen`,
        stream: streams.screen,
        label: `${nameOf(pid)}'s screen`,
        screen: true,
      });
    }
  }
  if (media.screenStream && view && view.you.sharing) {
    tiles.push({
      key: "me:screen",
      stream: media.screenStream,
      label: "Your screen, as the class sees it",
      screen: true,
      self: true,
    });
  }
  if (blur && view && view.you.camera_on) {
    tiles.push({ key: "me:camera", stream: blur.stream, label: `You (${viewerName})`, self: true });
  }
  for (const [pid, streams] of remoteStreams) {
    if (streams.camera) {
      tiles.push({ key: `${pid}:camera`, stream: streams.camera, label: nameOf(pid) });
    }
  }
  syncList(
    parts.videos,
    tiles,
    (tile) => tile.key,
    (tile) => {
      const figure = el("figure", "console-video");
      const video = el("video");
      video.autoplay = true;
      video.playsInline = true;
      // One's own picture and a screen carry no sound worth playing back (and would echo).
      video.muted = Boolean(tile.self || tile.screen);
      const caption = el("figcaption");
      figure.append(video, caption);
      watermark(figure, viewerName);
      return figure;
    },
    (figure, tile) => {
      const video = figure.querySelector("video");
      figure.classList.toggle("console-video--screen", Boolean(tile.screen));
      figure.classList.toggle("console-video--self", Boolean(tile.self));
      figure.querySelector("figcaption").textContent = tile.label;
      video.setAttribute("aria-label", tile.label);
      if (video.srcObject !== tile.stream) {
        video.srcObject = tile.stream;
        video.play().catch((error) => {
          if (error.name === "NotAllowedError") {
            offerSound(video); // the browser would not start sound by itself
          }
        });
      }
    },
  );
}

// A browser that would not start sound by itself: the picture plays without it, and one button
// turns the sound on.
function offerSound(video) {
  const figure = video.closest("figure");
  if (!figure || figure.querySelector(".console-video__sound")) {
    return;
  }
  video.muted = true;
  video.play().catch((error) => {
    showRefusal(zones.me, `The browser would not play a video: ${error.message}`);
  });
  const button = el(
    "button",
    "console-button console-button--small console-video__sound",
    "Turn sound on",
  );
  button.type = "button";
  button.addEventListener("click", () => {
    video.muted = false;
    video.play().then(
      () => button.remove(),
      (error) => showRefusal(zones.me, `The browser would not play the sound: ${error.message}`),
    );
  });
  figure.append(button);
}

media.addEventListener("streams", (event) => {
  remoteStreams = event.detail;
  renderVideos();
});

media.addEventListener("refused", (event) => {
  showRefusal(zones.me, event.detail.message);
  alertNow(event.detail.message);
});

function stopCamera() {
  if (blur) {
    blur.stop();
    blur = null;
  }
  if (rawStream) {
    for (const track of rawStream.getTracks()) {
      track.stop();
    }
    rawStream = null;
  }
}

async function startCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    parts.meWords.textContent = "This browser cannot use a camera here.";
    return;
  }
  let raw;
  try {
    raw = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: { ideal: 640 }, height: { ideal: 480 } },
    });
  } catch (error) {
    showRefusal(
      zones.me,
      `We could not use your camera and microphone (${error.name}). You can still run the lesson.`,
    );
    return;
  }
  rawStream = raw;
  try {
    blur = await startBlur(raw, { mode: blurMode });
  } catch (error) {
    // Blur cannot run here (not installed, or this browser cannot): the camera still works, with
    // the background as it is, and the camera stays off until the teacher turns it on.
    blurProblem = error.message;
    blurMode = "off";
    try {
      blur = await startBlur(raw, { mode: "off" });
    } catch (again) {
      for (const track of raw.getTracks()) {
        track.stop();
      }
      showRefusal(
        zones.me,
        `Your camera could not start (${again.message}). You can still run the lesson.`,
      );
      return;
    }
  }
  if (ended || connection.state === "closed") {
    stopCamera();
    return;
  }
  media.setLocalStream(blur.stream);
  if (view) {
    render(view);
  }
}

parts.myCamera.addEventListener("click", () => {
  command("set_camera", { on: !view.you.camera_on }, zones.me);
});
parts.myMic.addEventListener("click", () => {
  command("set_mic", { on: !view.you.mic_on }, zones.me);
});
function rememberedBlurChoice() {
  try {
    return window.sessionStorage.getItem(BLUR_CHOICE_KEY) === "off" ? "off" : "blur";
  } catch (error) {
    console.warn("SafeClass: could not read the blur choice", error);
    return "blur";
  }
}

parts.myBlur.addEventListener("click", () => {
  const next = blurMode === "blur" ? "off" : "blur";
  parts.myBlur.disabled = true;
  blur.setMode(next).then(
    () => {
      blurMode = next;
      try {
        window.sessionStorage.setItem(BLUR_CHOICE_KEY, next);
      } catch (error) {
        console.warn("SafeClass: could not remember the blur choice", error);
      }
      announce(
        next === "blur"
          ? "Background blur is on."
          : "Background blur is off: your real background shows.",
      );
      render(view);
    },
    (error) => {
      showRefusal(zones.me, error.message);
      render(view);
    },
  );
});
parts.myScreen.addEventListener("click", () => {
  clearRefusal(zones.me);
  lastZoneFor.set("start_share", zones.me);
  if (view.you.sharing || media.screenStream) {
    media.stopScreen();
    renderVideos();
    return;
  }
  media.shareScreen().then(
    () => renderVideos(),
    (error) => {
      const why = error.name === "NotAllowedError" ? "sharing was cancelled" : error.message;
      showRefusal(zones.me, `Your screen is not being shared (${why}).`);
    },
  );
});

// --- The whole lesson -------------------------------------------------------------------------

parts.suspend.addEventListener("click", () => {
  command(view.lesson.suspended ? "resume" : "suspend", {}, zones.bar);
});
parts.muteAll.addEventListener("click", () => command("mute_all", {}, zones.bar));
parts.lock.addEventListener("click", () => {
  command(view.lesson.locked ? "unlock" : "lock", {}, zones.bar);
});
parts.record.addEventListener("click", () => {
  if (view.recording && view.recording.on) {
    command("stop_recording", {}, zones.bar);
    return;
  }
  parts.recordWhat.textContent =
    view.recording && view.recording.excludes_pupils
      ? "The recording keeps staff video and sound and shared screens. Pupils' cameras and " +
        "sound are not recorded."
      : "The recording keeps the video and sound of staff and pupils, and shared screens. " +
        "Guests are not recorded.";
  parts.recordDialog.showModal();
});
parts.recordDialog.addEventListener("close", () => {
  if (parts.recordDialog.returnValue === "record") {
    command("start_recording", {}, zones.bar);
  }
  parts.recordDialog.returnValue = "";
});
parts.end.addEventListener("click", () => parts.endDialog.showModal());
parts.endDialog.addEventListener("close", () => {
  if (parts.endDialog.returnValue === "end") {
    command("end_lesson", {}, zones.bar);
  }
  parts.endDialog.returnValue = "";
});
parts.admitNext.addEventListener("click", () => command("admit_next", {}, zones.waiting));

// --- Removing someone -------------------------------------------------------------------------

function openRemove(pid, name, zone) {
  removing = { pid, name, zone };
  parts.removeName.textContent = name;
  parts.removeReason.value = "";
  parts.removeDialog.showModal();
}

parts.removeForm.addEventListener("submit", (event) => {
  const choice = event.submitter ? event.submitter.value : "cancel";
  const target = removing;
  removing = null;
  if (choice !== "remove" || target === null) {
    return;
  }
  command("remove", { target: target.pid, reason: parts.removeReason.value.trim() }, target.zone);
  const url = `${incidentUrl}?about=${encodeURIComponent(target.pid)}`;
  // The form opens once the engine has taken them out (a refusal opens nothing). The click's
  // permission to open a tab lasts a few seconds; should the answer come later than that, the
  // link below the list is the same form, one click away.
  pendingRemoval = {
    ...target,
    url,
    timer: setTimeout(() => removalDone(false), REMOVAL_TAB_WITHIN_MS),
  };
  const link = el("a", "", "open the incident form");
  link.href = url;
  link.target = "_blank";
  link.rel = "noopener";
  parts.peopleNote.replaceChildren(
    `Removing ${target.name}. The incident form opens in a new tab; if it does not, `,
    link,
    ".",
  );
  parts.peopleNote.hidden = false;
});

// Called when the engine has removed them (opened: open the form now) or did not say in time.
function removalDone(open) {
  const removal = pendingRemoval;
  if (removal === null) {
    return;
  }
  pendingRemoval = null;
  clearTimeout(removal.timer);
  if (open) {
    window.open(removal.url, "_blank", "noopener");
    announce(`${removal.name} has been removed. The incident form is open in a new tab.`);
  }
}

function removalRefused() {
  const removal = pendingRemoval;
  if (removal !== null) {
    pendingRemoval = null;
    clearTimeout(removal.timer);
    parts.peopleNote.hidden = true;
  }
}

parts.removeDialog.addEventListener("close", () => {
  removing = null;
});

// --- Chat -------------------------------------------------------------------------------------

function appendToChat(item) {
  const scroller = parts.chatScroll;
  const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
  parts.chatLog.append(item);
  if (atBottom) {
    scroller.scrollTop = scroller.scrollHeight;
  }
}

connection.addEventListener("chat", (event) => {
  const message = event.detail.message;
  const mine = view && message.from === view.you.pid;
  const item = el("li", "console-chat__message");
  item.dataset.messageId = String(message.id);
  item.classList.toggle("console-chat__message--staff-only", message.to === "staff");
  item.classList.toggle("console-chat__message--mine", Boolean(mine));
  if (flaggedMessageIds.has(message.id)) {
    item.classList.add("console-chat__message--flagged");
  }
  const head = el("p", "console-chat__head");
  head.append(el("strong", "", mine ? "You" : message.name));
  const where = message.to === "staff" ? "to staff only" : "to the class";
  head.append(` ${where} · ${clock(message.at)}`);
  item.append(head, el("p", "console-chat__text", message.text));
  appendToChat(item);
  if (!mine && message.to === "staff" && message.role !== "staff") {
    announce(`${message.name} wrote to staff: ${message.text}`);
  }
});

// The found parts of a message, marked (positions count Unicode code points).
function markedText(text, found) {
  const chars = Array.from(text);
  const paragraph = el("p", "console-chat__text");
  const spans = [...found].sort((a, b) => a.start - b.start);
  let at = 0;
  for (const span of spans) {
    if (span.start < at) {
      continue;
    }
    paragraph.append(chars.slice(at, span.start).join(""));
    paragraph.append(el("mark", "", chars.slice(span.start, span.end).join("")));
    at = span.end;
  }
  paragraph.append(chars.slice(at).join(""));
  return paragraph;
}

connection.addEventListener("chat_alert", (event) => {
  const alert = event.detail.alert;
  const found = alert.kinds.map((kind) => KIND_WORDS[kind] || kind);
  const foundWords = found.join(" and ");
  const where = alert.to === "staff" ? "to staff only" : "to the class";
  let outcome;
  if (alert.blocked) {
    outcome = "Stopped: nobody else saw it. They were reminded kindly what not to share.";
  } else if (alert.to === "staff") {
    outcome = "Sent to staff only, as messages to staff always are.";
  } else {
    outcome = "Let through: the class saw it.";
  }
  const item = el("li", "console-chat__alert");
  item.setAttribute("aria-label", `Chat check alert about ${alert.name}`);
  const head = el("p", "console-chat__head");
  head.append(
    el("strong", "", `Chat check: ${alert.name}`),
    ` wrote ${where} · ${clock(alert.at)}`,
  );
  item.append(
    head,
    markedText(alert.text, alert.found || []),
    el("p", "console-chat__found", `Found ${foundWords}. ${outcome}`),
  );
  if (!alert.blocked && alert.message_id !== null && alert.message_id !== undefined) {
    flaggedMessageIds.add(alert.message_id);
    const shown = parts.chatLog.querySelector(`[data-message-id="${alert.message_id}"]`);
    if (shown) {
      shown.classList.add("console-chat__message--flagged");
    }
  }
  appendToChat(item);
  const fate = alert.blocked ? "It was stopped." : "It was let through.";
  alertNow(`Chat check: ${alert.name}'s message had ${foundWords}. ${fate}`);
});

parts.chatPause.addEventListener("click", () => {
  command(view.lesson.chat_paused ? "resume_chat" : "pause_chat", {}, zones.chat);
});

parts.chatForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = parts.chatText.value.trim();
  if (!text) {
    showRefusal(zones.chat, "Write a message first.");
    return;
  }
  command("chat", { to: parts.chatTo.value, text }, zones.chat);
  parts.chatText.value = "";
});

parts.chatText.addEventListener("keydown", (event) => {
  // Enter sends, as in every chat; Shift+Enter starts a new line.
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    parts.chatForm.requestSubmit();
  }
});

// --- The connection ---------------------------------------------------------------------------

connection.addEventListener("view", (event) => render(event.detail.view));

connection.addEventListener("refused", (event) => {
  const refusal = event.detail;
  if (refusal.command === "join") {
    parts.connection.textContent = `You cannot join this lesson: ${refusal.message}`;
    return;
  }
  if (refusal.command === "remove") {
    removalRefused();
  }
  const zone = lastZoneFor.get(refusal.command) || zones.bar;
  showRefusal(zone, refusal.message);
  alertNow(refusal.message);
});

connection.addEventListener("error", (event) => {
  const error = event.detail;
  if (error.code === "rejoin_failed") {
    return; // joined afresh at once: the next view says where we are
  }
  if (connection.state !== "open") {
    return; // at the door (not signed in, lesson not open): the connection line says why
  }
  showRefusal(zones.bar, error.message);
});

connection.addEventListener("status", (event) => {
  const status = event.detail;
  const words = {
    connecting: "Connecting to the lesson…",
    open: "Connected to the lesson.",
    reconnecting: "The connection dropped. Reconnecting… everyone stays where they are.",
  };
  if (status.state === "closed") {
    stopCamera(); // not in the lesson any more: the camera light goes off
    parts.connection.textContent = ended
      ? "You have left the lesson."
      : `Not connected to the lesson${status.message ? `: ${status.message}` : "."} ` +
        "Reload the page to join again.";
  } else {
    parts.connection.textContent = words[status.state];
  }
  root.classList.toggle("console--offline", status.state !== "open");
  if (view) {
    render(view);
  }
});

function finish(words) {
  if (ended) {
    return;
  }
  ended = true;
  parts.endedWords.textContent = words;
  parts.ended.hidden = false;
  root.classList.add("console--ended");
  media.stopScreen();
  stopCamera();
  stopRecordingClock();
  remoteStreams = new Map();
  connection.leave();
  announce("The lesson has ended.");
}

connection.connect();
startCamera();
