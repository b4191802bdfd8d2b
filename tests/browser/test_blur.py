"""Background blur (static/js/lesson/blur.js) on Chromium's fake camera: MediaPipe's selfie
segmentation, served from our origin, runs in the page, and the frames that leave it differ from
the camera's in the background and nowhere else."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveServer, PageFactory
from tests.web.conftest import OAK_TEACHER

# In the page: blur the fake camera, then compare one processed frame with the frame it came from,
# over the pixels the segmentation calls background (mask alpha below a quarter), and once more
# with blur off. Differences are mean absolute differences of the colour channels, 0 to 255.
MEASURE = """
async () => {
  const { startBlur } = await import("/static/js/lesson/blur.js");
  const camera = await navigator.mediaDevices.getUserMedia({
    video: { width: 640, height: 480 }, audio: false,
  });
  const blur = await startBlur(camera, { mode: "blur" });
  const compare = (frame) => {
    const { raw, mask, output } = frame;
    let background = 0, backgroundDiff = 0, rawDetail = 0, outputDetail = 0;
    for (let i = 0; i < raw.data.length; i += 4) {
      if (mask !== null && mask.data[i + 3] >= 64) {
        continue;
      }
      background += 1;
      for (let c = 0; c < 3; c += 1) {
        backgroundDiff += Math.abs(raw.data[i + c] - output.data[i + c]);
        if (i >= 4) {  // detail: how far each pixel is from its left-hand neighbour
          rawDetail += Math.abs(raw.data[i + c] - raw.data[i - 4 + c]);
          outputDetail += Math.abs(output.data[i + c] - output.data[i - 4 + c]);
        }
      }
    }
    return {
      mode: frame.mode,
      pixels: raw.width * raw.height,
      background,
      meanDiff: backgroundDiff / Math.max(1, background * 3),
      rawDetail: rawDetail / Math.max(1, background * 3),
      outputDetail: outputDetail / Math.max(1, background * 3),
    };
  };
  await blur.snapshot();  // the first frames warm the model up
  await blur.snapshot();
  const blurred = compare(await blur.snapshot());
  await blur.setMode("off");
  const plain = compare(await blur.snapshot());
  blur.stop();
  camera.getTracks().forEach((track) => track.stop());
  return { blurred, plain };
}
"""


@pytest.mark.browser
def test_blur_changes_the_background_of_the_fake_cameras_frames(
    live_server: LiveServer, new_page: PageFactory
) -> None:
    page = new_page(staff=OAK_TEACHER)
    # A page whose policy lets MediaPipe's WebAssembly compile (and blur.js is loaded there).
    page.goto(f"/admin/lessons/{live_server.lesson_id}/check")
    result: dict[str, Any] = page.evaluate(MEASURE)
    blurred, plain = result["blurred"], result["plain"]

    # The fake camera shows no person: nearly all of the frame is background, and it has detail
    # (a moving shape, a frame counter) for a blur to take away.
    assert (blurred["mode"], plain["mode"]) == ("blur", "off")
    assert blurred["background"] > 0.5 * blurred["pixels"], blurred
    assert blurred["rawDetail"] > 0.1, blurred
    # Blurred: the background differs from the camera's and has lost most of its detail.
    assert blurred["meanDiff"] > 1.0, blurred
    assert blurred["outputDetail"] < 0.5 * blurred["rawDetail"], blurred
    # Off: the same pipeline passes the camera's frames on as they are.
    assert plain["meanDiff"] < 0.1, plain

    # MediaPipe's program and model came from our origin (the harness checks every request).
    requests = new_page.recorder(page).requests
    vendor = live_server.url("/static/vendor/selfie_segmentation/")
    assert any(url.startswith(vendor) and url.endswith(".wasm") for url in requests), requests
    assert any(url.startswith(vendor) and url.endswith(".tflite") for url in requests), requests
