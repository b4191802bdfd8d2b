// The staff pre-lesson check (/admin/lessons/<id>/check): the camera as pupils will see it, with
// background blur on unless the teacher turns it off, and a microphone level bar. The choice of
// blur is remembered for this browser tab (sessionStorage "safeclass.staff-blur": "blur" | "off")
// so that the lesson console can start the same way.

import { BlurUnavailableError, startBlur } from "./blur.js";

const BLUR_CHOICE_KEY = "safeclass.staff-blur";

const root = document.getElementById("lesson-check");
const $ = (id) => document.getElementById(id);
const video = $("check-video");
const blurBox = $("check-blur");

let rawStream = null;
let blur = null; // from startBlur, once blur has been asked for and works

function say(text) {
  $("check-status").textContent = text;
}

function problem(text) {
  const element = $("check-problem");
  element.textContent = text;
  element.hidden = text === "";
}

function rememberChoice() {
  try {
    window.sessionStorage.setItem(BLUR_CHOICE_KEY, blurBox.checked ? "blur" : "off");
  } catch (error) {
    console.warn("SafeClass: could not remember the blur choice", error);
  }
}

function show(stream) {
  video.srcObject = stream;
  $("check-placeholder").hidden = stream !== null;
}

async function applyBlurChoice() {
  rememberChoice();
  if (rawStream === null || rawStream.getVideoTracks().length === 0) {
    return;
  }
  const mode = blurBox.checked ? "blur" : "off";
  try {
    if (blur === null && mode === "blur") {
      say("Starting background blur…");
      blur = await startBlur(rawStream, { mode });
    } else if (blur !== null) {
      await blur.setMode(mode);
    }
  } catch (error) {
    if (!(error instanceof BlurUnavailableError)) {
      throw error;
    }
    blurBox.checked = false;
    blurBox.disabled = true;
    rememberChoice();
    show(rawStream);
    problem(error.message);
    say("Your camera is on. Your background is not blurred.");
    return;
  }
  show(blur !== null ? blur.stream : rawStream);
  say(
    mode === "blur"
      ? "Your camera is on. Your background is blurred."
      : "Your camera is on. Your background is not blurred.",
  );
}

function startMeter(stream) {
  if (stream.getAudioTracks().length === 0 || typeof AudioContext === "undefined") {
    return;
  }
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Uint8Array(analyser.fftSize);
  const level = $("check-mic");
  const tick = () => {
    analyser.getByteTimeDomainData(samples);
    let peak = 0;
    for (const sample of samples) {
      peak = Math.max(peak, Math.abs(sample - 128) / 128);
    }
    level.value = peak;
    window.requestAnimationFrame(tick);
  };
  window.requestAnimationFrame(tick);
}

$("check-start").addEventListener("click", async () => {
  problem("");
  try {
    rawStream = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: { ideal: 640 }, height: { ideal: 480 } },
    });
  } catch (error) {
    console.warn("SafeClass: no camera or microphone", error);
    problem(
      "Your camera or microphone did not turn on. Allow this page to use them in your " +
        "browser's settings, then press the button again.",
    );
    return;
  }
  $("check-start").hidden = true;
  startMeter(rawStream);
  await applyBlurChoice();
});

blurBox.addEventListener("change", () => {
  applyBlurChoice().catch((error) => {
    console.error("SafeClass: changing the blur failed", error);
    problem("Something went wrong changing the blur. Reload the page to try again.");
  });
});

if (root.dataset.blurInstalled !== "yes") {
  blurBox.checked = false;
}
rememberChoice();
