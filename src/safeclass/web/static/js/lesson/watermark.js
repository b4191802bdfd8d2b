// The viewer's own name over the lesson's video, to put people off taking screenshots of it.
//
// A layer over `container` (which must be positioned: lesson.css gives .video-frame and .tile
// `position: relative`) with the name repeated in rows, semi-transparent, slightly turned. It
// cannot be selected or clicked, and screen readers skip it: it is a deterrent, not content.
// Calling it again on the same container replaces the name.

const ROWS = 6;
const PER_ROW = 4;

export function watermark(container, name) {
  if (!(container instanceof HTMLElement)) {
    throw new TypeError("watermark needs an element to draw over");
  }
  const text = String(name || "").trim();
  let layer = container.querySelector(":scope > .watermark");
  if (layer === null) {
    layer = document.createElement("div");
    layer.className = "watermark";
    layer.setAttribute("aria-hidden", "true");
    container.append(layer);
  }
  layer.replaceChildren();
  if (text === "") {
    return layer;
  }
  for (let row = 0; row < ROWS; row += 1) {
    const line = document.createElement("div");
    line.className = "watermark__row";
    for (let i = 0; i < PER_ROW; i += 1) {
      const span = document.createElement("span");
      // Drawn by CSS from the attribute (never parsed as HTML): the name is a picture over the
      // video, not text of the page, so it cannot be selected or copied, nor read out.
      span.dataset.name = text;
      line.append(span);
    }
    layer.append(line);
  }
  return layer;
}
