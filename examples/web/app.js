// The page's logic: open the chosen model once (HTTP Range source, blocks kept in the Cache API),
// then generate per click with the density from the slider, streaming the text and the stats.
import * as ifprune from 'ifprune';

const { open, httpSource, loadRuntime } = ifprune;

const $ = (id) => document.getElementById(id);
const ui = {
  model: $('model'), prompt: $('prompt'), density: $('density'), densityValue: $('density-value'), densityNote: $('density-note'),
  maxTokens: $('max-tokens'), generate: $('generate'), status: $('status'), output: $('output'),
  bytes: $('s-bytes'), requests: $('s-requests'), cache: $('s-cache'), neurons: $('s-neurons'), tps: $('s-tps'), ttft: $('s-ttft'),
};

const params = new URLSearchParams(location.search);
if (params.get('model')) {
  const o = new Option(params.get('model'), params.get('model'), true, true);
  ui.model.add(o);
}

/** url → { model, http, cached } (opened once per page). */
const opened = new Map();

async function getModel(url) {
  let m = opened.get(url);
  if (!m) {
    m = (async () => {
      const http = await httpSource(new URL(url, location.href));
      let src = http;
      let cached = null;
      try {
        if (globalThis.caches && ifprune.cachedSource) src = cached = ifprune.cachedSource(http, await caches.open('ifprune-models'));
      } catch {
        // no Cache API here (an insecure origin, some webviews): read from the network only
      }
      const model = await open(src, { module: await loadRuntime(), ffn: 'auto' });
      return { model, http, cached, neurons: 0 }; // neurons: FFN rows read so far, all in the neuron cache
    })();
    opened.set(url, m);
    m.catch(() => opened.delete(url));
  }
  return m;
}

const fmtBytes = (n) => (n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(2)} MiB`);

/** FFN neurons (bundle rows) the last generation read: each joins the runtime's neuron cache. */
function rowsRead(m, s) {
  const { nLayers, hiddenDim } = m.model.config;
  return s.ffnBytesTotal > 0 ? Math.round(s.neuronBytesRead / (s.ffnBytesTotal / (nLayers * hiddenDim))) : 0;
}

function showStats(m, tokens, t0, neuronsBefore) {
  const h = m.http.stats();
  const c = m.cached?.stats();
  ui.bytes.textContent = fmtBytes(h.bytes);
  ui.requests.textContent = String(h.requests);
  ui.cache.textContent = c ? fmtBytes(c.bytesFromCache) : 'off';
  const s = m.model.stats();
  m.neurons = neuronsBefore + rowsRead(m, s);
  ui.neurons.textContent = String(m.neurons);
  if (tokens > 0) {
    ui.tps.textContent = (tokens / ((performance.now() - t0) / 1000)).toFixed(0);
    ui.ttft.textContent = `${s.ttftMs.toFixed(0)} ms`;
  }
}

function updateDensity() {
  const d = Number(ui.density.value);
  ui.densityValue.textContent = d.toFixed(2);
  ui.densityNote.textContent = d >= 1 ? '(dense)' : '';
}
ui.density.addEventListener('input', updateDensity);
updateDensity();

ui.generate.addEventListener('click', async () => {
  ui.generate.disabled = true;
  document.body.dataset.state = 'running';
  ui.status.className = '';
  ui.output.textContent = '';
  try {
    ui.status.textContent = 'opening the model…';
    const m = await getModel(ui.model.value);
    ui.status.textContent = 'generating…';
    const density = Number(ui.density.value);
    let tokens = 0;
    const t0 = performance.now();
    const neuronsBefore = m.neurons;
    for await (const t of m.model.generate(ui.prompt.value, { maxTokens: Number(ui.maxTokens.value) || 40, temperature: 0, density })) {
      ui.output.textContent += t.text;
      tokens++;
      showStats(m, tokens, t0, neuronsBefore);
    }
    const s = m.model.stats();
    showStats(m, tokens, t0, neuronsBefore);
    ui.tps.textContent = s.decodeTokPerS.toFixed(0);
    ui.status.textContent = `${tokens} tokens · density ${s.density.toFixed(2)} (${s.policy}) · ${s.kernels} · ${fmtBytes(s.memoryBytes)} wasm memory`;
    document.body.dataset.state = 'done';
  } catch (e) {
    ui.status.className = 'error';
    ui.status.textContent = `${e.code ? e.code + ': ' : ''}${e.message}`;
    document.body.dataset.state = 'error';
  } finally {
    ui.generate.disabled = false;
  }
});
