// The clock that paces blur.js. Browsers slow a page's own timers down to once a second (or
// less) while its tab is in the background, which would freeze a teacher's camera whenever they
// look at another tab; a worker's timers keep their pace. Each message is the delay in
// milliseconds before the next "tick"; null stops it.
let timer = null;

self.onmessage = (event) => {
  clearTimeout(timer);
  if (event.data !== null) {
    timer = setTimeout(() => self.postMessage("tick"), event.data);
  }
};
