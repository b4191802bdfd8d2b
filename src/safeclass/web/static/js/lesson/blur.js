// Background blur in the browser, with MediaPipe's selfie segmentation served from our own origin
// (scripts/install puts it in assets/; the server says where in /static/vendor/index.json). No
// video frame leaves the browser for this: the segmentation runs here, in WebAssembly and WebGL.
//
//   const blur = await startBlur(rawStream, { mode: "blur" });
//   blur.stream          // the processed camera track and the raw microphone tracks
//   await blur.setMode("off" | "blur")
//   blur.stop()          // ends the processing and the processed track (the raw tracks are yours)
//
// startBlur rejects with a BlurUnavailableError, whose message says why in plain words, when this
// server or this browser cannot blur (the files are not installed; no WebAssembly or WebGL).
// In "off" mode frames are copied as they are, so switching never changes the stream's tracks,
// and MediaPipe is loaded only when blur is first asked for.

const INDEX_URL = "/static/vendor/index.json";
const LOADER = "selfie_segmentation.js";
// Segmentation costs a lot of CPU where there is no GPU (about 6 to 9 frames a second at 640x480
// on a small server): never more than this many frames a second, one at a time.
const MAX_FPS = 15;
const BLUR_PX = 12;

export class BlurUnavailableError extends Error {
  constructor(message) {
    super(message);
    this.name = "BlurUnavailableError";
  }
}

const NOT_INSTALLED =
  "Background blur is not set up on this SafeClass server. Your background shows as it is.";
const NOT_SUPPORTED =
  "This browser cannot blur your background (it needs WebAssembly and WebGL). Your background " +
  "shows as it is.";
const FAILED = "Background blur could not start on this device. Your background shows as it is.";

let loaderPromise = null; // the folder MediaPipe's files are in, once its loader script has run

function browserCanSegment() {
  if (typeof WebAssembly !== "object") {
    return false;
  }
  const probe = document.createElement("canvas");
  return probe.getContext("webgl2") !== null || probe.getContext("webgl") !== null;
}

function loadSegmentation() {
  if (loaderPromise === null) {
    loaderPromise = (async () => {
      if (!browserCanSegment()) {
        throw new BlurUnavailableError(NOT_SUPPORTED);
      }
      const response = await fetch(INDEX_URL, { credentials: "same-origin" });
      if (!response.ok) {
        throw new Error(`${INDEX_URL} answered ${response.status}`);
      }
      const folder = (await response.json()).selfie_segmentation;
      if (typeof folder !== "string" || !folder.startsWith("/")) {
        throw new BlurUnavailableError(NOT_INSTALLED);
      }
      if (typeof window.SelfieSegmentation !== "function") {
        await new Promise((resolve, reject) => {
          const script = document.createElement("script");
          script.src = folder + LOADER;
          script.onload = resolve;
          script.onerror = () => reject(new BlurUnavailableError(FAILED));
          document.head.append(script);
        });
      }
      return folder;
    })();
    // A failure is not kept: a later try (the server's files installed meanwhile) starts afresh.
    loaderPromise.catch(() => {
      loaderPromise = null;
    });
  }
  return loaderPromise;
}

async function newSegmenter(onResults) {
  const folder = await loadSegmentation();
  const segmenter = new window.SelfieSegmentation({ locateFile: (file) => folder + file });
  segmenter.setOptions({ modelSelection: 1, selfieMode: false }); // 1: the faster, landscape model
  segmenter.onResults(onResults);
  try {
    await segmenter.initialize();
  } catch (error) {
    console.warn("SafeClass: MediaPipe did not start", error);
    segmenter.close().catch(() => {});
    throw new BlurUnavailableError(FAILED);
  }
  return segmenter;
}

// A worker's timer, whose pace a background tab does not slow; null where workers cannot start
// (the pipeline then falls back to the page's own timers).
function startClock(onTick) {
  try {
    const clock = new Worker(new URL("./blur-clock.js", import.meta.url));
    clock.onmessage = onTick;
    return clock;
  } catch (error) {
    console.warn("SafeClass: blur runs on the page's timers", error);
    return null;
  }
}

export async function startBlur(rawStream, { mode = "blur" } = {}) {
  const pipeline = new BlurPipeline(rawStream);
  try {
    await pipeline.start();
    await pipeline.setMode(mode);
  } catch (error) {
    pipeline.stop();
    throw error;
  }
  return {
    stream: pipeline.stream,
    setMode: (next) => pipeline.setMode(next),
    stop: () => pipeline.stop(),
    // For checks (the browser tests): the next processed frame with the frame it came from and,
    // while blurring, the segmentation mask, each as ImageData.
    snapshot: () => pipeline.snapshot(),
    get mode() {
      return pipeline.mode;
    },
  };
}

class BlurPipeline {
  constructor(rawStream) {
    const [videoTrack] = rawStream.getVideoTracks();
    if (videoTrack === undefined) {
      throw new TypeError("startBlur needs a stream with a camera track");
    }
    this.mode = "off";
    this.video = document.createElement("video");
    this.video.muted = true;
    this.video.playsInline = true;
    this.video.srcObject = new MediaStream([videoTrack]);
    this.canvas = document.createElement("canvas");
    this.context = this.canvas.getContext("2d");
    this.segmenter = null;
    this.timer = null;
    this.clock = startClock(() => this._frame());
    this.stopped = false;
    this.waiting = []; // snapshot() calls waiting for the next frame
    // Frames are captured when drawn (requestFrame), not by the page's rendering, which stops
    // while the tab is in the background.
    this.output = this.canvas.captureStream(0).getVideoTracks()[0];
    this.stream = new MediaStream([this.output, ...rawStream.getAudioTracks()]);
  }

  async start() {
    await this.video.play();
    if (this.video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA) {
      await new Promise((resolve) => this.video.addEventListener("loadeddata", resolve, { once: true }));
    }
    this._sizeCanvas();
    this._schedule(0);
  }

  async setMode(mode) {
    if (mode !== "blur" && mode !== "off") {
      throw new TypeError(`unknown blur mode ${JSON.stringify(mode)}`);
    }
    if (mode === "blur" && this.segmenter === null) {
      this.segmenter = await newSegmenter((results) => this._drawBlurred(results));
      if (this.stopped) {
        this._closeSegmenter();
        return this.mode;
      }
    }
    this.mode = mode;
    return this.mode;
  }

  snapshot() {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  stop() {
    this.stopped = true;
    window.clearTimeout(this.timer);
    if (this.clock !== null) {
      this.clock.terminate();
    }
    this.stream.getVideoTracks().forEach((track) => track.stop());
    this.video.srcObject = null;
    this._closeSegmenter();
  }

  _closeSegmenter() {
    if (this.segmenter !== null) {
      this.segmenter.close().catch((error) => console.warn("SafeClass: closing MediaPipe", error));
      this.segmenter = null;
    }
  }

  _schedule(delay) {
    if (this.stopped) {
      return;
    }
    if (this.clock !== null) {
      this.clock.postMessage(delay);
    } else {
      this.timer = window.setTimeout(() => this._frame(), delay);
    }
  }

  async _frame() {
    const started = performance.now();
    this._sizeCanvas();
    try {
      if (this.mode === "blur" && this.segmenter !== null) {
        await this.segmenter.send({ image: this.video }); // draws through _drawBlurred
      } else {
        this._drawPlain();
      }
    } catch (error) {
      // One frame lost (a camera that paused, a lost WebGL context): show frames as they are.
      console.warn("SafeClass: a frame could not be blurred", error);
      this._drawPlain();
    }
    const spent = performance.now() - started;
    this._schedule(Math.max(0, 1000 / MAX_FPS - spent));
  }

  _sizeCanvas() {
    const { videoWidth, videoHeight } = this.video;
    if (videoWidth > 0 && (this.canvas.width !== videoWidth || this.canvas.height !== videoHeight)) {
      this.canvas.width = videoWidth;
      this.canvas.height = videoHeight;
    }
  }

  _drawPlain() {
    const { context, canvas } = this;
    // A video element can move on to a new frame between two reads: a snapshot compares the
    // output with one copy of the frame.
    const source = this.waiting.length > 0 ? this._copy(this.video) : this.video;
    context.drawImage(source, 0, 0, canvas.width, canvas.height);
    this.output.requestFrame();
    this._answerSnapshots(source, null);
  }

  _drawBlurred({ image, segmentationMask }) {
    if (this.stopped) {
      return;
    }
    const { context, canvas } = this;
    const { width, height } = canvas;
    context.save();
    context.clearRect(0, 0, width, height);
    // The person, sharp: the mask, then the frame where the mask is.
    context.drawImage(segmentationMask, 0, 0, width, height);
    context.globalCompositeOperation = "source-in";
    context.drawImage(image, 0, 0, width, height);
    // Everything else, blurred, behind them.
    context.globalCompositeOperation = "destination-over";
    context.filter = `blur(${BLUR_PX}px)`;
    context.drawImage(image, 0, 0, width, height);
    context.restore();
    this.output.requestFrame();
    this._answerSnapshots(image, segmentationMask);
  }

  _copy(drawable) {
    const { width, height } = this.canvas;
    const scratch = document.createElement("canvas");
    scratch.width = width;
    scratch.height = height;
    scratch.getContext("2d", { willReadFrequently: true }).drawImage(drawable, 0, 0, width, height);
    return scratch;
  }

  _answerSnapshots(source, mask) {
    if (this.waiting.length === 0) {
      return;
    }
    const { width, height } = this.canvas;
    const read = (drawable) =>
      this._copy(drawable).getContext("2d").getImageData(0, 0, width, height);
    const frame = {
      mode: mask === null ? "off" : "blur",
      raw: read(source),
      mask: mask === null ? null : read(mask),
      output: this.context.getImageData(0, 0, width, height),
    };
    for (const resolve of this.waiting.splice(0)) {
      resolve(frame);
    }
  }
}
