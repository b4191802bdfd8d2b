// The page that plays a recording (recording_watch.html): the viewer's name over the video, as in
// a live lesson (lesson/watermark.js), and only then the video itself.
//
// The browser's own full-screen and picture-in-picture would show the video without the name
// over it, so the page turns them off and offers its own full screen: the player, name and all.

import { watermark } from "./lesson/watermark.js";

const player = document.getElementById("recording-player");
const video = document.getElementById("recording-video");
const fullscreen = document.getElementById("recording-fullscreen");
const problem = document.getElementById("recording-problem");

const PROBLEM =
  "The video stopped loading. Reload the page to try again. If it still does not play, tell your school's SafeClass admin.";

watermark(player, player.dataset.viewerName);

video.addEventListener("error", () => {
  problem.textContent = PROBLEM;
  problem.hidden = false;
});
// No "Save video as..." menu: a courtesy, not a protection (the Download link is on the page).
video.addEventListener("contextmenu", (event) => event.preventDefault());
video.src = player.dataset.videoUrl;

function showFullscreenState() {
  fullscreen.textContent =
    document.fullscreenElement === player ? "Leave full screen" : "Full screen";
}

if (document.fullscreenEnabled) {
  fullscreen.hidden = false;
  fullscreen.addEventListener("click", () => {
    const change =
      document.fullscreenElement === player
        ? document.exitFullscreen()
        : player.requestFullscreen();
    change.catch(() => {
      problem.textContent = "This browser could not show the video full screen.";
      problem.hidden = false;
    });
  });
  document.addEventListener("fullscreenchange", showFullscreenState);
}
