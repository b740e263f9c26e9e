// The cam-keras gallery: a virtualized grid over window.CAM_KERAS_GALLERY (gallery-data.js).
// Every name comes from users or model files: the DOM is built with textContent and
// setAttribute only, never from HTML text.
// A module script: its names stay its own, and it runs once gallery-data.js has.
const started = performance.now();
const data = window.CAM_KERAS_GALLERY || { title: "cam-keras gallery", classes: [], items: [] };
const $ = (id) => document.getElementById(id);
// The columns of an item, as cam_keras/gallery/page.py _record writes them.
const NAME = 0, PATH = 1, THUMB = 2, OVERLAY = 3, ORIGINAL = 4, TRUE = 5, CLASSES = 6, PROBS = 7, IOU = 8;
const PRED_BOX = 9, TRUE_BOXES = 10, SIZE = 11;
const items = data.items, classes = data.classes, count = items.length;
const top1 = new Float64Array(count), margin = new Float64Array(count), iou = new Float64Array(count);
const predicted = new Int32Array(count), truth = new Int32Array(count), lowerNames = new Array(count);
let anyTruth = false, anyIou = false;
items.forEach((item, i) => {
  const probs = item[PROBS];
  top1[i] = probs.length ? probs[0] : 0;
  margin[i] = probs.length > 1 ? probs[0] - probs[1] : top1[i];
  predicted[i] = item[CLASSES].length ? item[CLASSES][0] : -1;
  truth[i] = item[TRUE];
  iou[i] = item[IOU] === null ? -1 : item[IOU];
  lowerNames[i] = item[NAME].toLowerCase();
  anyTruth = anyTruth || item[TRUE] >= 0;
  anyIou = anyIou || item[IOU] !== null;
});
const classIndex = new Map(classes.map((name, i) => [name, i]));
const DEFAULTS = { sort: "confidence", order: "desc", pred: "", true: "", result: "", min: "0", max: "1", q: "", open: "" };
const state = Object.assign({}, DEFAULTS);
let shown = new Int32Array(0), cursor = 0, drawn = "";
const grid = $("grid"), spacer = $("spacer");
const tileWidth = 176, tileHeight = 254;

function element(tag, attributes, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function percent(p) { return (100 * p).toFixed(1) + "%"; }

// --- state <-> URL hash --------------------------------------------------------------
function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  for (const key of Object.keys(DEFAULTS)) state[key] = params.has(key) ? params.get(key) : DEFAULTS[key];
}
function writeHash() {
  const params = new URLSearchParams();
  for (const key of Object.keys(DEFAULTS)) if (state[key] !== DEFAULTS[key]) params.set(key, state[key]);
  const hash = params.toString();
  if (location.hash.slice(1) !== hash) history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
}
const CONTROLS = ["sort", "order", "pred", "true", "result", "min", "max", "q"];
function stateToControls() { for (const key of CONTROLS) $(key).value = state[key]; }

// --- filter and sort -----------------------------------------------------------------
function selection() {
  const pred = state.pred === "" ? -2 : (classIndex.has(state.pred) ? classIndex.get(state.pred) : -3);
  const wanted = state.true === "" ? -2 : (classIndex.has(state.true) ? classIndex.get(state.true) : -3);
  const low = parseFloat(state.min), high = parseFloat(state.max), text = state.q.toLowerCase();
  const lowest = isNaN(low) ? 0 : low, highest = isNaN(high) ? 1 : high;
  const kept = [];
  for (let i = 0; i < count; i++) {
    if (pred !== -2 && predicted[i] !== pred) continue;
    if (wanted !== -2 && truth[i] !== wanted) continue;
    if (state.result && (truth[i] < 0 || (state.result === "right") !== (truth[i] === predicted[i]))) continue;
    if (top1[i] < lowest || top1[i] > highest) continue;
    if (text && !lowerNames[i].includes(text)) continue;
    kept.push(i);
  }
  return kept;
}
const KEYS = { confidence: top1, margin: margin, iou: iou };
function sorted(kept) {
  const sign = state.order === "asc" ? 1 : -1;
  let compare;
  if (state.sort === "name") {
    compare = (a, b) => sign * (lowerNames[a] < lowerNames[b] ? -1 : lowerNames[a] > lowerNames[b] ? 1 : a - b);
  } else if (state.sort === "class") {
    compare = (a, b) => {
      const x = predicted[a] < 0 ? "" : classes[predicted[a]], y = predicted[b] < 0 ? "" : classes[predicted[b]];
      return sign * (x < y ? -1 : x > y ? 1 : 0) || top1[b] - top1[a] || a - b;
    };
  } else {
    const key = KEYS[state.sort] || top1;
    compare = (a, b) => sign * (key[a] - key[b]) || a - b;
  }
  return Int32Array.from(kept.sort(compare));
}
function describe() {
  let right = 0, known = 0;
  for (const i of shown) if (truth[i] >= 0) { known++; if (truth[i] === predicted[i]) right++; }
  let text = `${shown.length} of ${count} images shown`;
  if (known) text += ` · ${right} right · ${known - right} wrong`;
  $("count").textContent = text;
}

// --- the virtualized grid ------------------------------------------------------------
function columns() { return Math.max(1, Math.floor(grid.clientWidth / tileWidth)); }
function boxes(item, holder) {
  const size = item[SIZE];
  if (!size || (!item[PRED_BOX] && !(item[TRUE_BOXES] || []).length)) return;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${size[0]} ${size[1]}`);
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  const add = (box, kind) => {
    const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    rect.setAttribute("class", kind);
    rect.setAttribute("x", box[0]); rect.setAttribute("y", box[1]);
    rect.setAttribute("width", Math.max(0, box[2] - box[0])); rect.setAttribute("height", Math.max(0, box[3] - box[1]));
    svg.appendChild(rect);
  };
  for (const box of item[TRUE_BOXES] || []) add(box, "true");
  if (item[PRED_BOX]) add(item[PRED_BOX], "predicted");
  holder.appendChild(svg);  // as large as the picture's box, letterboxed like it (object-fit: contain)
}
function picture(url, alt, missing, kind) {
  const holder = element("div", { class: "boxed " + kind });
  if (!url) { holder.appendChild(element("p", { class: "missing" }, missing)); return holder; }
  const image = element("img", { alt: alt, src: url });
  image.addEventListener("error", () => holder.replaceChildren(element("p", { class: "missing" }, missing)));
  holder.appendChild(image);
  return holder;
}
function verdict(i) {
  if (truth[i] < 0) return null;
  const ok = truth[i] === predicted[i];
  return element("div", { class: "line truth " + (ok ? "right" : "wrong") }, `true: ${classes[truth[i]]} ${ok ? "✓" : "✗"}`);
}
function tile(position) {
  const i = shown[position], item = items[i];
  const node = element("div", { class: "tile" + (position === cursor ? " cursor" : ""), "data-index": i, "data-position": position, title: item[NAME] });
  const holder = picture(item[THUMB], item[NAME], "thumbnail missing", "thumbnail");
  boxes(item, holder);
  node.appendChild(holder);
  node.appendChild(element("div", { class: "name" }, item[NAME]));
  item[CLASSES].slice(0, 2).forEach((c, rank) => {
    node.appendChild(element("div", { class: "line prediction" }, `${rank + 1}. ${classes[c]} ${percent(item[PROBS][rank])}`));
  });
  const mark = verdict(i);
  if (mark) node.appendChild(mark);
  if (item[IOU] !== null) node.appendChild(element("div", { class: "line iou" }, `IoU ${item[IOU].toFixed(2)}`));
  const across = columns();
  node.style.left = (position % across) * tileWidth + 6 + "px";
  node.style.top = Math.floor(position / across) * tileHeight + 6 + "px";
  node.addEventListener("click", () => { cursor = position; open(i); });
  return node;
}
function draw(force) {
  const across = columns(), rows = Math.ceil(shown.length / across);
  spacer.style.height = rows * tileHeight + "px";
  const first = Math.max(0, Math.floor(grid.scrollTop / tileHeight) - 1);
  const last = Math.min(rows, Math.ceil((grid.scrollTop + grid.clientHeight) / tileHeight) + 1);
  const key = `${first}:${last}:${across}:${cursor}`;
  if (!force && key === drawn) return;
  drawn = key;
  const tiles = [spacer];
  for (let p = first * across; p < Math.min(shown.length, last * across); p++) tiles.push(tile(p));
  grid.replaceChildren(...tiles);
}
function update() {
  const begun = performance.now();
  shown = sorted(selection());
  cursor = Math.min(cursor, Math.max(0, shown.length - 1));
  describe();
  draw(true);
  writeHash();
  api.updateMs = performance.now() - begun;
}

// --- the detail view -----------------------------------------------------------------
function open(i) {
  state.open = String(i);
  writeHash();
  showDetail();
}
function close() {
  state.open = "";
  writeHash();
  $("detail").hidden = true;
  grid.focus();
}
function showDetail() {
  const i = parseInt(state.open, 10);
  if (!(i >= 0 && i < count)) { $("detail").hidden = true; return; }
  const item = items[i], at = shown.indexOf(i);
  if (at >= 0) cursor = at;
  $("detail-name").textContent = item[NAME];
  $("detail-path").textContent = item[PATH];
  $("position").textContent = at >= 0 ? `${at + 1} of ${shown.length}` : "not among the images shown";
  const facts = [];
  if (truth[i] >= 0) facts.push(verdict(i));
  if (item[IOU] !== null) facts.push(element("div", { class: "iou" }, `IoU ${item[IOU].toFixed(3)} (predicted box green, true boxes red)`));
  $("detail-facts").replaceChildren(...facts);
  const original = picture(item[ORIGINAL], "original", `the original is not reachable from this page: ${item[PATH]}`, "original");
  boxes(item, original);
  $("original-box").replaceChildren(original);
  $("overlay-box").replaceChildren(picture(item[OVERLAY], "overlay", "overlay missing", "overlay"));
  const rows = item[CLASSES].map((c, rank) => {
    const row = element("tr");
    [String(rank + 1), classes[c], item[PROBS][rank].toFixed(4)].forEach((text) => row.appendChild(element("td", {}, text)));
    return row;
  });
  $("probabilities").tBodies[0].replaceChildren(...rows);
  $("detail").hidden = false;
}
function step(by) {
  if (!shown.length) return;
  cursor = Math.max(0, Math.min(shown.length - 1, cursor + by));
  if ($("detail").hidden) { reveal(); draw(); } else open(shown[cursor]);
}
function reveal() {
  const row = Math.floor(cursor / columns());
  if (row * tileHeight < grid.scrollTop) grid.scrollTop = row * tileHeight;
  else if ((row + 1) * tileHeight > grid.scrollTop + grid.clientHeight) grid.scrollTop = (row + 1) * tileHeight - grid.clientHeight;
}

// --- wiring --------------------------------------------------------------------------
function fillClassChoices() {
  const predictedCount = new Array(classes.length).fill(0), trueCount = new Array(classes.length).fill(0);
  for (let i = 0; i < count; i++) { if (predicted[i] >= 0) predictedCount[predicted[i]]++; if (truth[i] >= 0) trueCount[truth[i]]++; }
  classes.forEach((name, c) => {
    if (predictedCount[c]) $("pred").appendChild(element("option", { value: name }, `${name} (${predictedCount[c]})`));
    if (trueCount[c]) $("true").appendChild(element("option", { value: name }, `${name} (${trueCount[c]})`));
  });
}
function onKey(event) {
  if (event.target.closest && event.target.closest("#controls")) return;
  const detailOpen = !$("detail").hidden;
  if (event.key === "Escape" && detailOpen) close();
  else if (event.key === "ArrowRight") step(1);
  else if (event.key === "ArrowLeft") step(-1);
  else if (event.key === "ArrowDown" && !detailOpen) step(columns());
  else if (event.key === "ArrowUp" && !detailOpen) step(-columns());
  else if (event.key === "Enter" && !detailOpen && shown.length) open(shown[cursor]);
  else return;
  event.preventDefault();
}
const api = {  // for tests and scripts/bench_gallery.py
  ready: false, loadMs: null, readyMs: null, updateMs: null,
  order: () => Array.from(shown),
  state: () => Object.assign({}, state),
};
window.camGallery = api;

function listen() {
  for (const key of CONTROLS) {
    const changed = () => { if (state[key] !== $(key).value) { state[key] = $(key).value; update(); } };
    $(key).addEventListener("input", changed);
    $(key).addEventListener("change", changed);  // a choice made by script or driver may fire this one only
  }
  grid.addEventListener("scroll", () => draw(false), { passive: true });
  window.addEventListener("resize", () => draw(true));
  window.addEventListener("hashchange", () => { readHash(); stateToControls(); update(); showDetail(); });
  document.addEventListener("keydown", onKey);
  $("close").addEventListener("click", close);
  $("prev").addEventListener("click", () => step(-1));
  $("next").addEventListener("click", () => step(1));
}
function start() {
  document.title = data.title;
  $("title").textContent = data.title;
  if (!anyTruth) document.body.classList.add("no-truth");
  if (!anyIou) $("sort").querySelector('option[value="iou"]').remove();
  fillClassChoices();
  readHash();
  stateToControls();
  listen();
  update();
  showDetail();
  api.loadMs = performance.now() - started;
  api.readyMs = performance.now();  // since navigation started: reading the data file included
  api.ready = true;
}

if (window.CAM_KERAS_GALLERY) start();
else $("count").textContent = "gallery-data.js is missing or unreadable: write it again with `cam-keras gallery DIR`";
