// @ts-check
// The web page of `polyhead serve`: no build step, plain DOM. It calls the same
// HTTP API as any client, or runs the served model in this browser with
// TensorFlow.js.

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const state = {
  /** `GET /v1/model`, once loaded. @type {any} */
  info: null,
  /** The model in this browser, and the `createdAt` it was fetched for. @type {any} */
  browserModel: null,
  browserModelOf: '',
  /** @type {File | null} */
  file: null,
};

function authHeaders() {
  const key = /** @type {HTMLInputElement} */ ($('key')).value.trim();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/**
 * Fetches JSON from the API; an error answer becomes an Error with its message.
 * @param {string} path
 * @param {RequestInit} [init]
 */
async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { ...authHeaders(), ...init.headers } });
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const error = new Error(body?.error?.message ?? `HTTP ${res.status}`);
    Object.assign(error, { status: res.status });
    throw error;
  }
  return body;
}

async function loadInfo() {
  try {
    state.info = await api('/v1/model');
    const heads = state.info.heads.map((h) => `${h.name} (${h.labels.length} labels)`).join(', ');
    $('model').textContent =
      `Heads: ${heads} · input ${state.info.inputSize}×${state.info.inputSize} · ` +
      `${state.info.backbone.kind}`;
  } catch (error) {
    const status = /** @type {any} */ (error).status;
    $('model').textContent =
      status === 401 ? 'This server needs an API key: enter it below.' : String(error.message);
  }
}

/** @param {File} file */
async function predictOnServer(file) {
  const form = new FormData();
  form.append('image', file, file.name);
  // Ask for every label of every head, so each gets a bar.
  const top = Math.max(...state.info.heads.map((h) => h.labels.length));
  const body = await api(`/v1/predict?top=${top}`, { method: 'POST', body: form });
  return body.heads;
}

/** @type {Promise<any> | undefined} */
let tfLoading;

/** Loads the TensorFlow.js browser bundle the server ships, once. */
function loadTf() {
  tfLoading ??= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = '/static/tf.min.js';
    script.onload = () => resolve(/** @type {any} */ (window).tf);
    script.onerror = () => reject(new Error('Cannot load TensorFlow.js from the server'));
    document.head.append(script);
  });
  return tfLoading;
}

/** @param {File} file */
async function predictInBrowser(file) {
  const tf = await loadTf();
  await tf.ready();
  // A reload on the server changes createdAt; fetch that model instead.
  if (!state.browserModel || state.browserModelOf !== state.info.createdAt) {
    state.browserModel?.dispose();
    state.browserModel = await tf.loadLayersModel('/v1/model/files/model.json', {
      requestInit: { headers: authHeaders() },
    });
    state.browserModelOf = state.info.createdAt;
  }
  const { size } = state.info.preprocessing;
  const pixels = await toPixels(file, state.info.preprocessing);
  const outputs = tf.tidy(() => {
    const out = state.browserModel.predict(tf.tensor4d(pixels, [1, size, size, 3]));
    return (Array.isArray(out) ? out : [out]).map((t) => Array.from(t.dataSync()));
  });
  /** @type {Record<string, any>} */
  const heads = {};
  state.info.heads.forEach((head, h) => {
    const row = outputs[h];
    const top = row
      .map((score, i) => ({ label: head.labels[i], score }))
      .sort((a, b) => b.score - a.score);
    heads[head.name] = { label: top[0].label, score: top[0].score, top };
    if (head.kind === 'multilabel') {
      const chosen = new Set(head.labels.filter((_, i) => row[i] >= head.thresholds[i]));
      heads[head.name].labels = top.filter((t) => chosen.has(t.label)).map((t) => t.label);
    }
  });
  return { heads, backend: tf.getBackend() };
}

/**
 * The model's input for an image, as the server's decode step makes it: oriented,
 * flattened onto the background, resized to size × size, scaled. The browser's
 * resampling differs slightly from the server's, so scores may differ a little.
 * @param {File} file
 * @param {any} pre The model's preprocessing.
 */
async function toPixels(file, pre) {
  const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  const { size, resize, background, scaling } = pre;
  const canvas = document.createElement('canvas');
  canvas.width = size;
  canvas.height = size;
  const ctx = /** @type {CanvasRenderingContext2D} */ (
    canvas.getContext('2d', { willReadFrequently: true })
  );
  ctx.fillStyle = `rgb(${background.join(',')})`;
  ctx.fillRect(0, 0, size, size);
  ctx.imageSmoothingQuality = 'high';
  const { width: w, height: h } = bitmap;
  if (resize === 'cover') {
    const side = Math.min(w, h);
    ctx.drawImage(bitmap, (w - side) / 2, (h - side) / 2, side, side, 0, 0, size, size);
  } else if (resize === 'contain') {
    const s = Math.min(size / w, size / h);
    ctx.drawImage(bitmap, (size - w * s) / 2, (size - h * s) / 2, w * s, h * s);
  } else {
    ctx.drawImage(bitmap, 0, 0, size, size);
  }
  const { data } = ctx.getImageData(0, 0, size, size);
  const out = new Float32Array(size * size * 3);
  for (let i = 0, j = 0; i < data.length; i += 4, j += 3) {
    for (let c = 0; c < 3; c++) out[j + c] = scale(data[i + c], c, scaling);
  }
  return out;
}

/**
 * @param {number} value 0..255
 * @param {number} channel
 * @param {any} scaling
 */
function scale(value, channel, scaling) {
  if (scaling === 'unit') return value / 255;
  if (scaling === 'symmetric') return value / 127.5 - 1;
  return (value / 255 - scaling.mean[channel]) / scaling.std[channel];
}

/**
 * One block per head: its label and a bar per label.
 * @param {Record<string, any>} heads
 */
function render(heads) {
  const results = $('results');
  results.replaceChildren();
  for (const [name, head] of Object.entries(heads)) {
    const block = el('div', 'head');
    block.dataset.head = name;
    const title = el('h2');
    if (head.labels) {
      // A multi-label head names every label over its threshold, possibly none.
      title.append(`${name}: `, el('span', 'label', head.labels.join(', ') || '(none)'));
    } else {
      title.append(`${name}: `, el('span', 'label', head.label), ` (${percent(head.score)})`);
    }
    block.append(title);
    for (const { label, score } of head.top ?? [head]) {
      const bar = el('div', 'bar');
      bar.dataset.label = label;
      const track = el('div', 'track');
      const fill = el('div', 'fill');
      fill.style.width = percent(score);
      track.append(fill);
      bar.append(el('span', 'name', label), track, el('span', 'score', percent(score)));
      block.append(bar);
    }
    results.append(block);
  }
}

/**
 * @param {string} tag
 * @param {string} [className]
 * @param {string} [text]
 */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** @param {number} p */
const percent = (p) => `${(p * 100).toFixed(1)}%`;

/** @param {string} text @param {boolean} [error] */
function status(text, error = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', error);
}

async function run() {
  const file = state.file;
  if (!file) return;
  const mode = /** @type {HTMLInputElement} */ (document.querySelector('input[name=mode]:checked'))
    .value;
  status(mode === 'browser' ? 'Running in this browser…' : 'Asking the server…');
  $('results').dataset.state = 'busy';
  try {
    await loadInfo();
    if (!state.info) throw new Error($('model').textContent ?? 'The model is not available');
    const started = performance.now();
    let heads;
    let where;
    if (mode === 'browser') {
      const answer = await predictInBrowser(file);
      heads = answer.heads;
      where = `this browser (TensorFlow.js, ${answer.backend})`;
    } else {
      heads = await predictOnServer(file);
      where = 'the server';
    }
    render(heads);
    status(`${file.name}: answered by ${where} in ${Math.round(performance.now() - started)} ms`);
    $('results').dataset.state = mode;
  } catch (error) {
    $('results').replaceChildren();
    $('results').dataset.state = 'error';
    status(String(/** @type {Error} */ (error).message), true);
  }
}

/** @param {File | undefined} file */
function choose(file) {
  if (!file) return;
  state.file = file;
  const preview = /** @type {HTMLImageElement} */ ($('preview'));
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  void run();
}

const drop = $('drop');
const input = /** @type {HTMLInputElement} */ ($('file'));
input.addEventListener('change', () => choose(input.files?.[0]));
drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  choose(event.dataTransfer?.files[0]);
});
for (const radio of document.querySelectorAll('input[name=mode]')) {
  radio.addEventListener('change', () => void run());
}
$('key').addEventListener('change', () => void loadInfo());
void loadInfo();
