// cruxlab attempt player: a Streamlit custom component (components v2, no iframe, no build step).
//
// Python sends, per attempt ("track"), the URL of its playback WebM (or of a rendered wall still) and the URL
// of one JSON file with every frame's 2D and 3D joints; then only the moves (small) when they change. From
// then on everything that follows the playhead happens here, on the browser's own clock: the <video> (or a
// free-running clock for attempts without video), the skeleton overlay, the 3D view and the timeline cursor.
// Python hears only discrete actions (select a move, retime, relabel, confirm, add), as one trigger value
// "event" = {kind, ..., frame}.
//
// Test/benchmark hooks: the root element carries data-ready, data-frame (frame of track 0 on screen),
// data-playing, data-selected; window.__cruxlabPlayers lists the live players (state(), timings).

const INSTANCES = new WeakMap();
const SIDE_COLORS = { l: "#4287f5", r: "#f58c28", c: "#d8d8d8" };
const TRAIL_S = 1.0;
const SPEEDS = [0.25, 0.5, 0.75, 1, 1.5, 2];

const ICONS = {  // Material icon paths (24 x 24): no icon font or emoji needed
  first: "M6 6h2v12H6zm3.5 6 8.5 6V6z",
  prevMove: "M11 18V6l-8.5 6 8.5 6zm.5-6 8.5 6V6l-8.5 6z",
  prev: "M15.41 7.41 14 6l-6 6 6 6 1.41-1.41L10.83 12z",
  play: "M8 5v14l11-7z",
  pause: "M6 19h4V5H6v14zm8-14v14h4V5h-4z",
  next: "M10 6 8.59 7.41 13.17 12l-4.58 4.59L10 18l6-6z",
  nextMove: "M4 18l8.5-6L4 6v12zm9-12v12l8.5-6L13 6z",
};

function icon(name) {
  return `<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path fill="currentColor" d="${ICONS[name]}"/></svg>`;
}

function el(tag, cls, parent, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function b64ToBytes(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function int16(s) {
  const b = b64ToBytes(s);
  return new Int16Array(b.buffer, b.byteOffset, b.byteLength >> 1);
}

const MISSING = -32768;

function clamp(v, lo, hi) { return Math.max(lo, Math.min(hi, v)); }

function hexToRgb(hex) {
  const h = (hex || "#888888").replace("#", "");
  return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
}

function rgba(hex, a) {
  const [r, g, b] = hexToRgb(hex);
  return `rgba(${r},${g},${b},${a})`;
}

function textColorFor(hex) {
  const [r, g, b] = hexToRgb(hex);
  return (0.299 * r + 0.587 * g + 0.114 * b) > 165 ? "#1d1d1d" : "#ffffff";
}

function fmtTime(t) {
  return `${t.toFixed(2)} s`;
}

function isTypingTarget(e) {
  const t = (e.composedPath && e.composedPath()[0]) || e.target;
  if (!t || !t.tagName) return false;
  const tag = t.tagName.toUpperCase();
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || t.isContentEditable;
}

// ------------------------------------------------------------------------------------------------ clocks
// The master clock: the first track's <video> when it has one (smoothest), else a free-running clock.
class FreeClock {
  constructor(duration) { this.t = 0; this.rate = 1; this.playing = false; this.duration = duration; this.last = 0; }
  get time() {
    if (this.playing) {
      const now = performance.now();
      this.t = Math.min(this.duration, this.t + (now - this.last) / 1000 * this.rate);
      this.last = now;
      if (this.t >= this.duration) this.playing = false;
    }
    return this.t;
  }
  set time(v) { this.t = clamp(v, 0, this.duration); this.last = performance.now(); }
  play() { if (this.t >= this.duration) this.t = 0; this.last = performance.now(); this.playing = true; }
  pause() { this.time; this.playing = false; }
}

// ------------------------------------------------------------------------------------------------ player
class Player {
  constructor(host, trigger) {
    this.host = host;
    this.trigger = trigger;
    this.tracks = [];           // [{meta, data, view elements, frame}]
    this.moves = [];            // per track: [{id, label, limb, s, e, conf, status}]
    this.labels = [];
    this.limbs = [];
    this.selected = null;       // move id (track 0)
    this.editable = false;
    this.lowConf = 0.5;
    this.playing = false;
    this.rate = 1;
    this.frame = 0;             // track 0 frame on screen
    this.timings = { step: [], move: [], ready: null, created: performance.now() };
    this.pending = null;        // {frame, t0, kind}: a key press waiting for its frame on screen
    this.seekTarget = null;     // frame the video was last asked to show
    this.view = { v0: 0, v1: 1 };
    this.cam = { yaw: -0.45, pitch: 0.22, zoom: 1 };
    this.drag = null;
    this.sessionKey = "";
    this.build();
    this.onKey = (e) => this.handleKey(e);
    document.addEventListener("keydown", this.onKey);
    this.resizeObs = new ResizeObserver(() => this.layout());
    this.resizeObs.observe(this.root);
    window.__cruxlabPlayers = (window.__cruxlabPlayers || []).filter((p) => p.root.isConnected);
    window.__cruxlabPlayers.push(this);
    window.__cruxlabActive = this;
  }

  destroy() {
    clearTimeout(this.readyTimer);
    this.pageStyle?.remove();
    document.removeEventListener("keydown", this.onKey);
    this.resizeObs.disconnect();
    this.stopLoops();
    window.__cruxlabPlayers = (window.__cruxlabPlayers || []).filter((p) => p !== this);
  }

  // --------------------------------------------------------------------------------------------- DOM
  build() {
    const root = el("div", "cx-root", null);
    root.tabIndex = 0;
    root.dataset.ready = "0";
    root.dataset.frame = "0";
    root.dataset.playing = "0";
    this.host.appendChild(root);
    this.root = root;
    root.addEventListener("pointerdown", () => { window.__cruxlabActive = this; });
    this.stage = el("div", "cx-stage", root);
    this.viewsEl = el("div", "cx-views", this.stage);
    this.view3d = el("div", "cx-3d", this.stage);
    this.canvas3d = el("canvas", "", this.view3d);
    el("div", "cx-tag", this.view3d, "3D, wall frame · drag to orbit, wheel to zoom, double-click to reset");
    this.bind3d();

    const c = el("div", "cx-controls", root);
    const btn = (label, title, fn, cls) => {
      const b = el("button", cls || "", c);
      if (label.startsWith("@")) { b.innerHTML = icon(label.slice(1)); b.setAttribute("aria-label", title); }
      else b.textContent = label;
      b.title = title;
      b.type = "button";
      b.addEventListener("click", (e) => { e.preventDefault(); window.__cruxlabActive = this; fn(e); b.blur(); });
      return b;
    };
    this.bFirst = btn("@first", "First frame (Home)", () => this.seekFrame(0));
    this.bPrevMove = btn("@prevMove", "Previous move (Shift+←)", () => this.neighbourMove(-1));
    this.bPrev = btn("@prev", "Previous frame (←)", () => this.step(-1));
    this.bPlay = btn("@play", "Play / pause (Space)", () => this.togglePlay(), "cx-play");
    this.bNext = btn("@next", "Next frame (→)", () => this.step(1));
    this.bNextMove = btn("@nextMove", "Next move (Shift+→)", () => this.neighbourMove(1));
    this.timeEl = el("span", "cx-time", c, "");
    this.speedSel = el("select", "", c);
    this.speedSel.title = "Playback speed";
    for (const s of SPEEDS) {
      const o = el("option", "", this.speedSel, `${s}×`);
      o.value = String(s);
      if (s === 1) o.selected = true;
    }
    this.speedSel.addEventListener("change", () => { this.setRate(parseFloat(this.speedSel.value)); this.speedSel.blur(); });
    el("span", "cx-sep", c);
    this.bStart = btn("⇤ Start here", "Set the selected move's first frame to this frame (I or [)", () => this.setEdge("start"));
    this.bEnd = btn("End here ⇥", "Set the selected move's last frame to this frame (O or ])", () => this.setEdge("end"));
    this.bConfirm = btn("✓ Confirm", "The selected move is right as it is (Enter)", () => this.confirm());
    this.bAdd = btn("+ Add here", "Add a move starting at this frame (A)", () => this.emit("add", {}));
    this.selEl = el("span", "cx-sel", c, "");

    const tlbar = el("div", "cx-tlbar", root);
    this.tlInfo = el("span", "", tlbar, "");
    el("span", "cx-grow", tlbar);
    this.reviewEl = el("span", "cx-review", tlbar, "");
    this.bReview = el("button", "cx-review-btn", tlbar, "");
    this.bReview.type = "button";
    this.bReview.addEventListener("click", (e) => {
      e.preventDefault();
      this.bReview.blur();
      if (this.review) this.emit("review", { reviewed: !this.review.reviewed || !this.review.complete });
    });
    const zb = (label, title, fn) => {
      const b = el("button", "", tlbar, label);
      b.type = "button";
      b.title = title;
      b.addEventListener("click", (e) => { e.preventDefault(); fn(); b.blur(); });
    };
    zb("−", "Zoom the timeline out (-)", () => this.zoom(1.6));
    zb("+", "Zoom the timeline in (+)", () => this.zoom(1 / 1.6));
    zb("Fit", "Whole attempt (0)", () => this.fit());
    this.tl = el("div", "cx-tl", root);
    this.tlCanvas = el("canvas", "", this.tl);
    this.tip = el("div", "cx-tip", this.tl);
    this.bindTimeline();
    this.keysEl = el("div", "cx-keys", root);
  }

  keysHelp() {
    const chip = (l) => `<span class="cx-chip" style="background:${l.color}"></span>${l.name}`;
    const lab = this.labels.slice(0, 9).map((l, i) => (this.editable ? `<kbd>${i + 1}</kbd>` : "") + chip(l)).join(" ");
    const more = this.labels.slice(9).map(chip).join(" ");
    const edit = this.editable
      ? ` · <kbd>I</kbd>/<kbd>O</kbd> start/end here · <kbd>Enter</kbd> confirm · <kbd>A</kbd> add` : "";
    this.keysEl.innerHTML = `<kbd>Space</kbd> play/pause · <kbd>←</kbd>/<kbd>→</kbd> frame · ` +
      `<kbd>Shift</kbd>+<kbd>←</kbd>/<kbd>→</kbd> move · <kbd>Ctrl</kbd>+wheel or <kbd>+</kbd>/<kbd>-</kbd> zoom timeline` + edit +
      `<br>${this.editable ? "label keys: " : ""}${lab} ${more} · hatched <b>?</b> = the model is unsure`;
  }

  // ------------------------------------------------------------------------------------------- data
  update(data) {
    this.labels = data.labels || [];
    this.labelColor = Object.fromEntries(this.labels.map((l) => [l.name, l.color]));
    this.limbs = data.limbs || [];
    this.editable = !!data.editable;
    this.lowConf = data.low_confidence ?? 0.5;
    this.sessionKey = data.session_key || "";
    // notify_ready: the page drew only the player and draws the rest when told (a "ready" event, once per mount;
    // also after a failed load, or after 4 s whatever happened, so the page always completes)
    if (data.notify_ready && !this.readyTimer && !this.readyNotified) {
      this.readyTimer = setTimeout(() => this.notifyReady(), 4000);
      if (this.root.dataset.ready === "1") this.notifyReady();
    }
    if (data.stage_height) this.root.style.setProperty("--cx-stage-h", data.stage_height);
    // page_css: CSS for the page around the player (not the player's own shadow root), while it is mounted
    if ((data.page_css || "") !== (this.pageStyle?.textContent || "")) {
      this.pageStyle?.remove();
      this.pageStyle = null;
      if (data.page_css) {
        this.pageStyle = el("style", "", document.head, data.page_css);
        this.pageStyle.dataset.cruxlabPlayer = "1";
      }
    }
    const sig = JSON.stringify((data.tracks || []).map((t) => [t.payload_url, t.media_url, t.image_url, t.offset_s]));
    this.moves = (data.tracks || []).map((t) => (t.moves || []).map((m) => ({
      id: m[0], label: m[1], limb: m[2], s: m[3], e: m[4], conf: m[5], status: m[6],
    })));
    this.onWall = (data.tracks || []).map((t) => t.on_wall || null);
    if (sig !== this.trackSig) {
      this.trackSig = sig;
      this.loadTracks(data.tracks || [], data);
    } else {
      this.applySelection(data);
    }
    for (const b of [this.bStart, this.bEnd, this.bConfirm, this.bAdd]) b.style.display = this.editable ? "" : "none";
    this.review = this.editable ? data.review || null : null;
    this.refreshReview();
    this.keysHelp();
    this.tlStatic = null;
    this.layout();
    this.refreshControls();
  }

  refreshReview() {
    const r = this.review;
    this.bReview.style.display = r ? "" : "none";
    this.reviewEl.style.display = r ? "" : "none";
    if (!r) return;
    if (r.reviewed && r.complete) {
      this.reviewEl.textContent = `✓ reviewed by ${r.by}: all ${r.n_moves} moves are training labels`;
      this.reviewEl.className = "cx-review cx-done";
      this.bReview.textContent = "Reopen review";
      this.bReview.title = "Withdraw the review: only confirmed and corrected moves count as training labels";
    } else {
      const stale = r.reviewed ? " (moves changed since the review)" : "";
      this.reviewEl.textContent = `not reviewed${stale}: ${r.n_labelled} of ${r.n_moves} moves are training labels`;
      this.reviewEl.className = "cx-review";
      this.bReview.textContent = "✓ Mark attempt reviewed";
      this.bReview.title = "Every move is right and none is missing: they all count as training labels";
    }
  }

  applySelection(data) {
    if (data.selected !== this.lastDataSelected) {
      this.lastDataSelected = data.selected;
      this.selected = data.selected ?? null;
    }
    if (this.selected !== null && !this.moves[0]?.some((m) => m.id === this.selected)) this.selected = null;
    if (data.seek && data.seek.nonce !== this.lastSeekNonce) {
      this.lastSeekNonce = data.seek.nonce;
      if (this.ready) this.seekFrame(data.seek.frame);
      else this.initialFrame = data.seek.frame;
    }
  }

  async loadTracks(specs, data) {
    this.stopLoops();
    this.ready = false;
    this.root.dataset.ready = "0";
    this.viewsEl.replaceChildren();
    const t0 = performance.now();
    const saved = this.restoreFrame(specs);
    this.initialFrame = saved;
    this.applySelection(data);
    this.tracks = specs.map((spec, i) => {
      const box = el("div", "cx-view", this.viewsEl);
      let media;
      if (spec.media_url) {
        media = el("video", "", box);
        media.muted = true;
        media.playsInline = true;
        media.preload = "auto";
        media.disablePictureInPicture = true;
        media.src = spec.media_url;
        media.addEventListener("loadeddata", () => {
          this.timings.video = Math.max(this.timings.video || 0, performance.now());
        }, { once: true });
        // the video's first frame on screen (a paused video presents frame 0 once it has loaded it)
        media.firstFrame = new Promise((resolve) => {
          if (media.requestVideoFrameCallback) media.requestVideoFrameCallback((now, meta) => resolve(meta.mediaTime));
        });
      } else {
        media = el("img", "", box);
        media.src = spec.image_url;
        media.alt = "rendered wall";
      }
      const canvas = el("canvas", "", box);
      el("div", "cx-tag", box, spec.title || spec.name);
      const wait = el("div", "cx-wait", box, "loading…");
      return { spec, i, box, media, canvas, wait, isVideo: !!spec.media_url, fps: spec.fps, n: spec.n_frames,
               offset: spec.offset_s || 0, duration: spec.n_frames / spec.fps, frame: 0, data: null };
    });
    const loads = this.tracks.map(async (tr) => {
      const resp = await fetch(tr.spec.payload_url);
      if (!resp.ok) throw new Error(`payload ${resp.status}`);
      const doc = await resp.json();
      this.timings.payload = Math.max(this.timings.payload || 0, performance.now());
      tr.data = {
        ...doc, p2: int16(doc.p2), p3: int16(doc.p3), wall: int16(doc.wall), wallRgb: b64ToBytes(doc.wall_rgb),
      };
      await new Promise((resolve) => {
        if (tr.isVideo) {
          if (tr.media.readyState >= 2) resolve();
          else tr.media.addEventListener("loadeddata", resolve, { once: true });
          tr.media.addEventListener("error", resolve, { once: true });
        } else if (tr.media.complete) resolve();
        else { tr.media.onload = resolve; tr.media.onerror = resolve; }
      });
      tr.wait.remove();
    });
    try {
      await Promise.all(loads);
      this.timings.loaded = performance.now();
    } catch (err) {
      for (const tr of this.tracks) tr.wait.textContent = `could not load the attempt (${err}); reload the page`;
      this.notifyReady();
      return;
    }
    this.computeBounds();
    this.masterVideo = this.tracks.length === 1 && this.tracks[0].isVideo ? this.tracks[0].media : null;
    const end = Math.max(...this.tracks.map((t) => t.offset + t.duration));
    this.clock = this.masterVideo ? null : new FreeClock(end);
    this.view = { v0: 0, v1: this.duration0() };
    this.ready = true;
    this.bindMedia();
    this.setRate(this.rate);
    const start = this.initialFrame || 0;
    if (start === 0 && this.masterVideo) {
      // Frame 0 is what a loaded video shows: wait for it to be presented rather than seeking to where it
      // already is (a seek decodes the frame again, ~0.1 s of a cold page). No frame within 0.3 s: seek.
      const v = this.masterVideo, tracks = this.tracks;
      const shown = await Promise.race([v.firstFrame, new Promise((r) => setTimeout(() => r(null), 300))]);
      if (this.tracks !== tracks) return;  // new tracks arrived meanwhile
      // nothing asked for another frame meanwhile (a seek, or play: the video would have left frame 0)
      if (this.seekTarget === null && !this.playing && v.currentTime * tracks[0].fps < 1) {
        if (shown !== null && Math.round(shown * tracks[0].fps) === 0) {
          this.root.dataset.videoFrame = "0";
          this.show(0.5 / tracks[0].fps, performance.now(), 0);
          this.settle(0, performance.now());
        } else this.seekFrame(0, true);
      }
    } else this.seekFrame(start, true);
    this.timings.ready = performance.now() - t0;
    this.layout();
  }

  duration0() { return this.tracks.length ? this.tracks[0].duration : 1; }

  storageKey(specs) {
    return `cruxlab-player:${this.sessionKey}:${(specs || []).map((s) => s.payload_url).join("|")}`;
  }

  saveFrame() {
    try { sessionStorage.setItem(this.storageKey(this.tracks.map((t) => t.spec)), String(this.frame)); } catch (e) { /* private mode */ }
  }

  restoreFrame(specs) {
    try { return parseInt(sessionStorage.getItem(this.storageKey(specs)) || "0", 10) || 0; } catch (e) { return 0; }
  }

  computeBounds() {
    // 3D view centre and extent: the climber's joints over the whole attempt (robust percentiles).
    const xs = [], ys = [], zs = [];
    for (const tr of this.tracks) {
      const p = tr.data.p3;
      const stride = Math.max(1, Math.floor(p.length / 3 / 6000));
      for (let k = 0; k < p.length / 3; k += stride) {
        if (p[3 * k] === MISSING) continue;
        xs.push(p[3 * k] / 1000); ys.push(p[3 * k + 1] / 1000); zs.push(p[3 * k + 2] / 1000);
      }
    }
    const pct = (a, q) => { if (!a.length) return 0; const s = [...a].sort((x, y) => x - y); return s[Math.floor(q * (s.length - 1))]; };
    const lo = [pct(xs, 0.02), pct(ys, 0.02), pct(zs, 0.02)], hi = [pct(xs, 0.98), pct(ys, 0.98), pct(zs, 0.98)];
    this.center = [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2];
    this.extent = Math.max(1.2, hi[0] - lo[0] + 0.8, hi[1] - lo[1] + 0.8);
  }

  // ----------------------------------------------------------------------------------------- clock
  bindMedia() {
    for (const tr of this.tracks) {
      if (!tr.isVideo) continue;
      const v = tr.media;
      if (v === this.masterVideo) {
        const onFrame = (now, meta) => {
          if (!this.ready || this.masterVideo !== v) return;
          this.presented(meta.mediaTime, now);
          v.requestVideoFrameCallback(onFrame);
        };
        if (v.requestVideoFrameCallback) v.requestVideoFrameCallback(onFrame);
        else v.addEventListener("seeked", () => this.presented(v.currentTime, performance.now()));
        v.addEventListener("ended", () => { this.playing = false; this.refreshControls(); this.saveFrame(); });
        v.addEventListener("pause", () => { if (this.playing && v.ended) { this.playing = false; this.refreshControls(); } });
      }
    }
    this.loop();
  }

  stopLoops() { if (this.raf) cancelAnimationFrame(this.raf); this.raf = null; }

  loop() {
    // Runs every animation frame: the free clock (and the slaved videos), and the video clock's fallback.
    const tick = () => {
      this.raf = requestAnimationFrame(tick);
      if (!this.ready) return;
      if (this.clock) {
        const t = this.clock.time;
        if (this.playing && !this.clock.playing) { this.playing = false; this.refreshControls(); this.saveFrame(); }
        for (const tr of this.tracks) {
          if (!tr.isVideo) continue;
          const local = clamp(t - tr.offset, 0, tr.duration - 0.5 / tr.fps);
          if (this.playing) {
            if (tr.media.paused && t - tr.offset < tr.duration) tr.media.play().catch(() => {});
            if (Math.abs(tr.media.currentTime - local) > 0.2) tr.media.currentTime = local;
          } else if (!tr.media.paused) tr.media.pause();
        }
        const f = this.frameOf(this.tracks[0], t);
        if (f !== this.frame || this.playing) this.show(t, performance.now());
      } else if (this.playing && !this.masterVideo.requestVideoFrameCallback) {
        this.presented(this.masterVideo.currentTime, performance.now());
      }
    };
    this.raf = requestAnimationFrame(tick);
  }

  frameOf(tr, masterTime) {
    return clamp(Math.floor((masterTime - tr.offset) * tr.fps + 1e-4), 0, tr.n - 1);
  }

  currentTime() {
    if (this.masterVideo) return this.masterVideo.currentTime;
    return this.clock ? this.clock.time : 0;
  }

  presented(mediaTime, now) {
    // The video put a new frame on screen: mediaTime is that frame's own timestamp (i / fps).
    const tr = this.tracks[0];
    const f = clamp(Math.round(mediaTime * tr.fps), 0, tr.n - 1);
    this.root.dataset.videoFrame = String(f);
    if (!this.playing && this.seekTarget !== null && f !== this.seekTarget) return;  // a newer seek is on its way
    if (this.playing || f !== this.frame) this.show((f + 0.5) / tr.fps, now, f);
    this.settle(f, now);
  }

  notifyReady() {
    if (this.readyNotified || !this.readyTimer) return;
    this.readyNotified = true;
    clearTimeout(this.readyTimer);
    this.emit("ready", {});
  }

  settle(f, now) {
    // what the coach sees is now complete for frame f: time the key press that asked for it
    if (this.pending && this.pending.frame === f) {
      (this.timings[this.pending.kind] || []).push(now - this.pending.t0);
      this.pending = null;
    }
    if (this.root.dataset.ready !== "1" && this.ready) {
      this.root.dataset.ready = "1";
      this.timings.readyAt = performance.now();  // since the page's navigation started
      this.notifyReady();
    }
  }

  show(t, now, frame0) {
    for (const tr of this.tracks) tr.frame = tr === this.tracks[0] && frame0 !== undefined ? frame0 : this.frameOf(tr, t);
    this.frame = this.tracks[0].frame;
    this.root.dataset.frame = String(this.frame);
    this.drawOverlays();
    this.draw3d();
    this.followPlayhead();
    this.drawTimeline();
    this.refreshTime();
    if (!this.masterVideo) this.settle(this.frame, performance.now());
  }

  togglePlay() { if (this.playing) this.pause(); else this.play(); }

  play() {
    if (!this.ready) return;
    this.playing = true;
    this.seekTarget = null;
    if (this.masterVideo) {
      if (this.frame >= this.tracks[0].n - 1) this.masterVideo.currentTime = 0;
      this.masterVideo.play().catch(() => { this.playing = false; this.refreshControls(); });
    } else {
      if (this.frame >= this.tracks[0].n - 1) this.clock.time = 0;
      this.clock.play();
    }
    this.refreshControls();
  }

  pause() {
    if (!this.ready) return;
    this.playing = false;
    if (this.masterVideo) {
      this.masterVideo.pause();
      // settle on the frame on screen, so stepping and edits start from exactly what the coach sees
      this.seekFrame(this.frame, true);
    } else {
      this.clock.pause();
      for (const tr of this.tracks) if (tr.isVideo) tr.media.pause();
      this.seekFrame(this.frame, true);
    }
    this.refreshControls();
  }

  setRate(r) {
    this.rate = r;
    this.speedSel.value = String(r);
    if (this.masterVideo) this.masterVideo.playbackRate = r;
    if (this.clock) this.clock.rate = r;
    for (const tr of this.tracks) if (tr.isVideo) tr.media.playbackRate = r;
  }

  seekFrame(frame, keepPlaying) {
    if (!this.ready) { this.initialFrame = frame; return; }
    const tr0 = this.tracks[0];
    frame = clamp(Math.round(frame), 0, tr0.n - 1);
    if (!keepPlaying && this.playing) {
      this.playing = false;
      if (this.masterVideo) this.masterVideo.pause();
      else this.clock.pause();
      this.refreshControls();
    }
    const t = tr0.offset + (frame + 0.5) / tr0.fps;   // the middle of the frame: never lands on a neighbour
    if (this.masterVideo) {
      this.seekTarget = frame;
      this.masterVideo.currentTime = (frame + 0.5) / tr0.fps;
      // overlay, 3D and timeline follow at once; the video's own frame arrives through presented()
      this.show(t, performance.now(), frame);
    } else {
      this.clock.time = t;
      for (const tr of this.tracks) {
        if (!tr.isVideo) continue;
        const f = this.frameOf(tr, t);
        tr.media.currentTime = (f + 0.5) / tr.fps;
      }
      this.show(t, performance.now());
    }
    this.saveFrame();
  }

  step(d, t0) {
    if (!this.ready) return;
    const target = clamp(this.frame + d, 0, this.tracks[0].n - 1);
    this.pending = { frame: target, t0: t0 ?? performance.now(), kind: "step" };
    this.seekFrame(target);
  }

  sortedMoves() {
    return [...(this.moves[0] || [])].sort((a, b) => a.s - b.s || this.limbIndex(a.limb) - this.limbIndex(b.limb) || a.id - b.id);
  }

  neighbourMove(d, t0) {
    if (!this.ready) return;
    const ms = this.sortedMoves();
    if (!ms.length) return;
    let pick = null;
    const cur = ms.findIndex((m) => m.id === this.selected);
    if (cur >= 0 && ms[cur].s === this.frame) pick = ms[cur + d] || null;
    else if (d > 0) pick = ms.find((m) => m.s > this.frame) || null;
    else pick = [...ms].reverse().find((m) => m.s < this.frame) || null;
    if (!pick) return;
    this.pending = { frame: pick.s, t0: t0 ?? performance.now(), kind: "move" };
    this.select(pick.id, true, true);
  }

  select(id, seek, quiet) {
    this.selected = id;
    this.root.dataset.selected = id === null ? "" : String(id);
    const m = this.moveById(id);
    this.tlStatic = null;
    if (m && seek) this.seekFrame(m.s);
    else this.drawTimeline();
    this.refreshControls();
    // Python hears the selection (its editor shows the move) once the coach stops hopping between moves:
    // a page rerun per Shift+arrow would make the browser busy while the next frame should appear
    clearTimeout(this.selectTimer);
    if (id === null) return;
    if (quiet) this.selectTimer = setTimeout(() => this.emit("select", { move_id: id }), 400);
    else this.emit("select", { move_id: id });
  }

  moveById(id) { return (this.moves[0] || []).find((m) => m.id === id) || null; }

  limbIndex(limb) { const i = this.limbs.findIndex((l) => l.id === limb); return i < 0 ? this.limbs.length : i; }

  // ----------------------------------------------------------------------------------------- edits
  emit(kind, payload) {
    if (!this.trigger) return;
    if (kind !== "select") clearTimeout(this.selectTimer);  // an edit names its move itself
    this.trigger("event", { kind, frame: this.frame, ...payload, nonce: `${Date.now()}-${Math.random()}` });
  }

  setEdge(which) {
    const m = this.moveById(this.selected);
    if (!this.editable || !m) { this.flash("select a move first (click it in the timeline)"); return; }
    let s = m.s, e = m.e;
    if (which === "start") s = this.frame; else e = this.frame;
    if (s > e) { this.flash(which === "start" ? "the start must not be after the move's end" : "the end must not be before the move's start"); return; }
    if (s === m.s && e === m.e) return;
    m.s = s; m.e = e;  // shown at once; the store's answer replaces it
    this.tlStatic = null;
    this.drawTimeline();
    this.emit("retime", { move_id: m.id, start: s, end: e });
  }

  confirm() {
    const m = this.moveById(this.selected);
    if (!this.editable || !m) { this.flash("select a move first (click it in the timeline)"); return; }
    this.emit("confirm", { move_id: m.id });
  }

  relabel(index) {
    const m = this.moveById(this.selected);
    const lab = this.labels[index];
    if (!this.editable || !m || !lab) { if (!m) this.flash("select a move first (click it in the timeline)"); return; }
    if (m.label === lab.name) { this.emit("confirm", { move_id: m.id }); return; }
    m.label = lab.name;
    this.tlStatic = null;
    this.drawTimeline();
    this.emit("relabel", { move_id: m.id, label: lab.name });
  }

  flash(text) {
    this.selEl.textContent = text;
    clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => this.refreshControls(), 2500);
  }

  // -------------------------------------------------------------------------------------- keyboard
  handleKey(e) {
    if (window.__cruxlabActive !== this || !this.root.isConnected || isTypingTarget(e) || e.altKey) return;
    if (e.ctrlKey || e.metaKey) return;
    const t0 = e.timeStamp;
    let handled = true;
    switch (e.key) {
      case " ": case "k": this.togglePlay(); break;
      case "ArrowRight": if (e.shiftKey) this.neighbourMove(1, t0); else this.step(1, t0); break;
      case "ArrowLeft": if (e.shiftKey) this.neighbourMove(-1, t0); else this.step(-1, t0); break;
      case "Home": this.seekFrame(0); break;
      case "End": this.seekFrame(this.tracks[0].n - 1); break;
      case "i": case "I": case "[": this.setEdge("start"); break;
      case "o": case "O": case "]": this.setEdge("end"); break;
      case "Enter": if (this.editable && this.selected !== null) this.confirm(); else handled = false; break;
      case "a": case "A": if (this.editable) this.emit("add", {}); else handled = false; break;
      case "Escape": this.selected = null; this.root.dataset.selected = ""; this.tlStatic = null; this.drawTimeline(); this.refreshControls(); break;
      case "+": case "=": this.zoom(1 / 1.6); break;
      case "-": case "_": this.zoom(1.6); break;
      case "0": this.fit(); break;
      default:
        if (/^[1-9]$/.test(e.key) && this.editable) this.relabel(parseInt(e.key, 10) - 1);
        else handled = false;
    }
    if (handled) { e.preventDefault(); e.stopPropagation(); }
  }

  // ------------------------------------------------------------------------------------- controls
  refreshControls() {
    const want = this.playing ? "pause" : "play";
    if (this.bPlay.dataset.icon !== want) { this.bPlay.innerHTML = icon(want); this.bPlay.dataset.icon = want; }
    this.root.dataset.playing = this.playing ? "1" : "0";
    const m = this.moveById(this.selected);
    for (const b of [this.bStart, this.bEnd, this.bConfirm]) b.disabled = !m;
    if (m) {
      const tr = this.tracks[0];
      const fps = tr ? tr.fps : 25;
      const limb = (this.limbs.find((l) => l.id === m.limb) || { title: m.limb }).title;
      const status = { edited: "edited", added: "added by a coach", confirmed: "confirmed", reviewed: "reviewed with the attempt",
        model: `model, confidence ${(+m.conf).toFixed(2)}, not confirmed` }[m.status] || m.status;
      this.selEl.textContent = `#${m.id} ${m.label} · ${limb} · frames ${m.s}–${m.e} (${(m.s / fps).toFixed(2)}–${((m.e + 1) / fps).toFixed(2)} s) · ${status}`;
    } else {
      this.selEl.textContent = this.editable ? "click a move in the timeline to select it" : "";
    }
    this.root.dataset.selected = this.selected === null ? "" : String(this.selected);
  }

  refreshTime() {
    const tr = this.tracks[0];
    if (!tr) return;
    this.timeEl.textContent = `frame ${this.frame} / ${tr.n - 1} · ${fmtTime(this.frame / tr.fps)} of ${fmtTime(tr.duration)}`;
  }

  // ------------------------------------------------------------------------------------- overlays
  layout() {
    const dpr = window.devicePixelRatio || 1;
    for (const tr of this.tracks) {
      const r = tr.box.getBoundingClientRect();
      tr.canvas.width = Math.max(1, Math.round(r.width * dpr));
      tr.canvas.height = Math.max(1, Math.round(r.height * dpr));
    }
    const r3 = this.view3d.getBoundingClientRect();
    this.canvas3d.width = Math.max(1, Math.round(r3.width * dpr));
    this.canvas3d.height = Math.max(1, Math.round(r3.height * dpr));
    this.bg3d = null;
    this.sizeTimeline();
    if (this.ready) { this.drawOverlays(); this.draw3d(); }
    this.drawTimeline();
  }

  drawOverlays() {
    for (const tr of this.tracks) this.drawOverlay(tr);
  }

  drawOverlay(tr) {
    const ctx = tr.canvas.getContext("2d");
    const W = tr.canvas.width, H = tr.canvas.height;
    ctx.clearRect(0, 0, W, H);
    if (!tr.data) return;
    const [w, h] = tr.data.size;
    const s = Math.min(W / w, H / h), ox = (W - w * s) / 2, oy = (H - h * s) / 2;
    const J = tr.data.n_joints, p = tr.data.p2, base = tr.frame * J * 2;
    const pt = (j) => {
      const x = p[base + 2 * j], y = p[base + 2 * j + 1];
      return x === MISSING || y === MISSING ? null : [ox + x / 4 * s, oy + y / 4 * s];
    };
    const lw = Math.max(2, Math.min(W, H) / 200);
    ctx.lineCap = "round";
    ctx.lineWidth = lw;
    for (const [a, b] of tr.data.bones) {
      const pa = pt(a), pb = pt(b);
      if (!pa || !pb) continue;
      const sa = tr.data.side[a], sb = tr.data.side[b];
      ctx.strokeStyle = SIDE_COLORS[sa === sb ? sb : sa];
      ctx.beginPath(); ctx.moveTo(pa[0], pa[1]); ctx.lineTo(pb[0], pb[1]); ctx.stroke();
    }
    for (let j = 0; j < J; j++) {
      const q = pt(j);
      if (!q) continue;
      ctx.fillStyle = SIDE_COLORS[tr.data.side[j]];
      ctx.beginPath(); ctx.arc(q[0], q[1], lw * 1.2, 0, 2 * Math.PI); ctx.fill();
    }
    // the limb of the selected move, while the playhead is inside it
    const m = tr.i === 0 ? this.moveById(this.selected) : null;
    if (m && tr.frame >= m.s && tr.frame <= m.e) {
      const j = tr.data.effectors[m.limb];
      const q = j === undefined ? null : pt(j);
      if (q) {
        ctx.strokeStyle = this.labelColor[m.label] || "#fff";
        ctx.lineWidth = lw;
        ctx.beginPath(); ctx.arc(q[0], q[1], lw * 6, 0, 2 * Math.PI); ctx.stroke();
      }
    }
  }

  // ------------------------------------------------------------------------------------------- 3D
  bind3d() {
    const c = this.canvas3d;
    c.addEventListener("pointerdown", (e) => {
      c.setPointerCapture(e.pointerId);
      this.orbit = { x: e.clientX, y: e.clientY, yaw: this.cam.yaw, pitch: this.cam.pitch };
    });
    c.addEventListener("pointermove", (e) => {
      if (!this.orbit) return;
      this.cam.yaw = this.orbit.yaw + (e.clientX - this.orbit.x) * 0.01;
      this.cam.pitch = clamp(this.orbit.pitch + (e.clientY - this.orbit.y) * 0.01, -1.45, 1.45);
      this.bg3d = null;
      this.draw3d();
    });
    const end = () => { this.orbit = null; };
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.cam.zoom = clamp(this.cam.zoom * Math.exp(-e.deltaY * 0.0015), 0.3, 6);
      this.bg3d = null;
      this.draw3d();
    }, { passive: false });
    c.addEventListener("dblclick", () => { this.cam = { yaw: -0.45, pitch: 0.22, zoom: 1 }; this.bg3d = null; this.draw3d(); });
  }

  projector() {
    const W = this.canvas3d.width, H = this.canvas3d.height;
    const { yaw, pitch, zoom } = this.cam;
    const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
    const s = Math.min(W, H) / this.extent * zoom * 0.95;
    const [mx, my, mz] = this.center;
    // orthographic: looking from +z (behind the climber) at the wall, y up; yaw about y, then pitch about x
    return (x, y, z) => {
      x -= mx; y -= my; z -= mz;
      const x1 = x * cy + z * sy, z1 = -x * sy + z * cy;
      const y2 = y * cp - z1 * sp, z2 = y * sp + z1 * cp;
      return [W / 2 + s * x1, H / 2 - s * y2, z2];
    };
  }

  draw3dBackground(P) {
    const W = this.canvas3d.width, H = this.canvas3d.height;
    const bg = document.createElement("canvas");
    bg.width = W; bg.height = H;
    const ctx = bg.getContext("2d");
    ctx.fillStyle = "#f6f3ec";
    ctx.fillRect(0, 0, W, H);
    const d = this.tracks[0].data;
    // the wall plane: a 0.5 m grid around the climber
    const n = d.wall_normal, p0 = d.wall_point;
    let up = [-n[0] * n[1], 1 - n[1] * n[1], -n[2] * n[1]];
    const ul = Math.hypot(...up) || 1;
    up = up.map((v) => v / ul);
    const right = [up[1] * n[2] - up[2] * n[1], up[2] * n[0] - up[0] * n[2], up[0] * n[1] - up[1] * n[0]];
    const c = this.center;
    const rel = [c[0] - p0[0], c[1] - p0[1], c[2] - p0[2]];
    const cu = rel[0] * right[0] + rel[1] * right[1] + rel[2] * right[2];
    const cv = rel[0] * up[0] + rel[1] * up[1] + rel[2] * up[2];
    const span = this.extent * 0.75;
    const at = (u, v) => P(p0[0] + right[0] * u + up[0] * v, p0[1] + right[1] * u + up[1] * v, p0[2] + right[2] * u + up[2] * v);
    ctx.strokeStyle = "#ddd5c4";
    ctx.lineWidth = 1;
    const g = 0.5;
    for (let u = Math.floor((cu - span) / g) * g; u <= cu + span; u += g) {
      const a = at(u, cv - span), b = at(u, cv + span);
      ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
    }
    for (let v = Math.floor((cv - span) / g) * g; v <= cv + span; v += g) {
      const a = at(cu - span, v), b = at(cu + span, v);
      ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
    }
    for (const tr of this.tracks) {
      const w = tr.data.wall, rgb = tr.data.wallRgb, N = tr.data.n_wall;
      const sz = Math.max(1.5, Math.min(W, H) / 260);
      for (let k = 0; k < N; k++) {
        if (w[3 * k] === MISSING) continue;
        const q = P(w[3 * k] / 1000, w[3 * k + 1] / 1000, w[3 * k + 2] / 1000);
        const r = rgb[3 * k], gg = rgb[3 * k + 1], b = rgb[3 * k + 2];
        const colourful = Math.max(r, gg, b) - Math.min(r, gg, b) > 30;
        ctx.fillStyle = `rgb(${r},${gg},${b})`;
        const z = colourful ? sz * 2.2 : sz;
        ctx.fillRect(q[0] - z / 2, q[1] - z / 2, z, z);
      }
    }
    return bg;
  }

  draw3d() {
    if (!this.ready) return;
    const ctx = this.canvas3d.getContext("2d");
    const P = this.projector();
    if (!this.bg3d) this.bg3d = this.draw3dBackground(P);
    ctx.drawImage(this.bg3d, 0, 0);
    const W = this.canvas3d.width, H = this.canvas3d.height;
    const lw = Math.max(2.5, Math.min(W, H) / 110);
    this.tracks.forEach((tr, ti) => {
      const d = tr.data, J = d.n_joints, p = d.p3;
      const at = (f, j) => {
        const k = (f * J + j) * 3;
        return p[k] === MISSING ? null : P(p[k] / 1000, p[k + 1] / 1000, p[k + 2] / 1000);
      };
      ctx.globalAlpha = ti === 0 ? 1 : 0.6;
      // hand and foot paths over the last second
      const back = Math.round(TRAIL_S * tr.fps);
      ctx.setLineDash([3, 3]);
      ctx.lineWidth = Math.max(1.5, lw / 2);
      for (const [limb, j] of Object.entries(d.effectors)) {
        ctx.strokeStyle = (this.limbs.find((l) => l.id === limb) || {}).color || "#888";
        ctx.beginPath();
        let started = false;
        for (let f = Math.max(0, tr.frame - back); f <= tr.frame; f++) {
          const q = at(f, j);
          if (!q) { started = false; continue; }
          if (!started) { ctx.moveTo(q[0], q[1]); started = true; } else ctx.lineTo(q[0], q[1]);
        }
        ctx.stroke();
      }
      ctx.setLineDash([]);
      ctx.lineCap = "round";
      ctx.lineWidth = lw;
      for (const [a, b] of d.bones) {
        const qa = at(tr.frame, a), qb = at(tr.frame, b);
        if (!qa || !qb) continue;
        const sa = d.side[a], sb = d.side[b];
        ctx.strokeStyle = ti === 0 ? SIDE_COLORS[sa === sb ? sb : sa] : (sa === "l" ? "#2ca02c" : sa === "r" ? "#9467bd" : "#999");
        if (ti === 0 && sa === "c" && sb === "c") ctx.strokeStyle = "#8a8a8a";
        ctx.beginPath(); ctx.moveTo(qa[0], qa[1]); ctx.lineTo(qb[0], qb[1]); ctx.stroke();
      }
      ctx.globalAlpha = 1;
    });
    if (this.tracks.length > 1) {
      ctx.font = `${Math.round(12 * (window.devicePixelRatio || 1))}px sans-serif`;
      this.tracks.forEach((tr, ti) => {
        ctx.fillStyle = ti === 0 ? SIDE_COLORS.l : "#2ca02c";
        ctx.fillText(`${ti === 0 ? "■" : "■"} ${tr.spec.name}`, 8, 18 * (ti + 1) * (window.devicePixelRatio || 1));
      });
    }
  }

  // ------------------------------------------------------------------------------------- timeline
  tlGeometry() {
    const dpr = window.devicePixelRatio || 1;
    const phone = this.root.clientWidth < 700;
    const laneH = this.tracks.length > 1 ? (phone ? 18 : 20) : (phone ? 24 : 28);  // two attempts: both above the fold
    const groups = [];
    let y = 4;
    this.tracks.forEach((tr, ti) => {
      const g = { ti, titleY: null, wallY: y, lanesY: 0 };
      if (this.tracks.length > 1) { g.titleY = y; y += 16; g.wallY = y; }
      y += 14;              // on-wall band
      g.lanesY = y;
      y += laneH * this.limbs.length;
      y += 4;
      groups.push(g);
    });
    const axisY = y;
    const height = y + 22;
    return { dpr, laneH, groups, axisY, height, gutter: phone ? 64 : 86 };
  }

  sizeTimeline() {
    const g = this.tlGeometry();
    this.tlGeo = g;
    const w = this.tl.clientWidth || 600;
    this.tlCanvas.style.height = `${g.height}px`;
    this.tlCanvas.width = Math.round(w * g.dpr);
    this.tlCanvas.height = Math.round(g.height * g.dpr);
    this.tlStatic = null;
  }

  tX(t) {
    const g = this.tlGeo, W = this.tlCanvas.width / g.dpr;
    return g.gutter + (t - this.view.v0) / (this.view.v1 - this.view.v0) * (W - g.gutter - 8);
  }

  xT(x) {
    const g = this.tlGeo, W = this.tlCanvas.width / g.dpr;
    return this.view.v0 + (x - g.gutter) / (W - g.gutter - 8) * (this.view.v1 - this.view.v0);
  }

  zoom(factor, aroundT) {
    const d = this.duration0();
    const span = clamp((this.view.v1 - this.view.v0) * factor, Math.min(d, 1.0), d);
    const c = aroundT ?? (this.ready ? this.frame / this.tracks[0].fps : (this.view.v0 + this.view.v1) / 2);
    const frac = (c - this.view.v0) / (this.view.v1 - this.view.v0 || 1);
    let v0 = c - span * clamp(frac, 0, 1);
    v0 = clamp(v0, 0, d - span);
    this.view = { v0, v1: v0 + span };
    this.tlStatic = null;
    this.drawTimeline();
  }

  fit() { this.view = { v0: 0, v1: this.duration0() }; this.tlStatic = null; this.drawTimeline(); }

  pan(dt) {
    const d = this.duration0(), span = this.view.v1 - this.view.v0;
    const v0 = clamp(this.view.v0 + dt, 0, d - span);
    this.view = { v0, v1: v0 + span };
    this.tlStatic = null;
    this.drawTimeline();
  }

  followPlayhead() {
    if (!this.tracks.length) return;
    const t = this.frame / this.tracks[0].fps, span = this.view.v1 - this.view.v0;
    if (span >= this.duration0() - 1e-6) return;
    if (t < this.view.v0 || t > this.view.v1 - span * 0.05) {
      const v0 = clamp(t - span * 0.1, 0, this.duration0() - span);
      this.view = { v0, v1: v0 + span };
      this.tlStatic = null;
    }
  }

  packLanes(moves) {
    // overlapping moves of one limb get sub-rows (greedy interval packing), so none hides another
    const rows = new Map();
    const byLimb = {};
    for (const m of moves) (byLimb[m.limb] = byLimb[m.limb] || []).push(m);
    const nsub = {};
    for (const [limb, ms] of Object.entries(byLimb)) {
      ms.sort((a, b) => a.s - b.s || a.id - b.id);
      const ends = [];
      for (const m of ms) {
        let r = ends.findIndex((e) => e < m.s);
        if (r < 0) { r = ends.length; ends.push(m.e); } else ends[r] = m.e;
        rows.set(m.id, r);
      }
      nsub[limb] = Math.max(1, ends.length);
    }
    return { rows, nsub };
  }

  drawTimelineStatic() {
    const g = this.tlGeo, dpr = g.dpr;
    const cv = document.createElement("canvas");
    cv.width = this.tlCanvas.width; cv.height = this.tlCanvas.height;
    const ctx = cv.getContext("2d");
    ctx.scale(dpr, dpr);
    const W = cv.width / dpr;
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, W, g.height);
    ctx.font = "12px sans-serif";
    ctx.textBaseline = "middle";
    this.bars = [];
    if (!this.hatch) {
      const pc = document.createElement("canvas");
      pc.width = 8; pc.height = 8;
      const px = pc.getContext("2d");
      px.strokeStyle = "rgba(255,255,255,0.75)";
      px.lineWidth = 2;
      px.beginPath(); px.moveTo(0, 8); px.lineTo(8, 0); px.stroke();
      this.hatch = ctx.createPattern(pc, "repeat");
    }
    const x0 = g.gutter, x1 = W - 8;
    for (const grp of g.groups) {
      const tr = this.tracks[grp.ti];
      if (!tr) continue;
      if (grp.titleY !== null) {
        ctx.fillStyle = "#333";
        ctx.font = "bold 12px sans-serif";
        ctx.fillText(tr.spec.name, 4, grp.titleY + 8);
        ctx.font = "12px sans-serif";
      }
      // lanes
      this.limbs.forEach((limb, li) => {
        const y = grp.lanesY + li * g.laneH;
        ctx.fillStyle = li % 2 ? "#fafbfc" : "#f2f4f7";
        ctx.fillRect(x0, y, x1 - x0, g.laneH);
        ctx.fillStyle = "#555";
        ctx.fillText(limb.title, 4, y + g.laneH / 2);
      });
      // on the wall: the band above the lanes
      const ow = this.onWall[grp.ti];
      ctx.fillStyle = "#eceef1";
      ctx.fillRect(x0, grp.wallY + 1, x1 - x0, 11);
      if (ow) {  // [first, last] frame on the wall, and optionally what started and ended it
        const a = clamp(this.tX(ow[0] / tr.fps), x0, x1), b = clamp(this.tX((ow[1] + 1) / tr.fps), x0, x1);
        ctx.fillStyle = "#2e9e5b";
        if (b > a) ctx.fillRect(a, grp.wallY + 1, b - a, 11);
        ctx.font = "10px sans-serif";
        ctx.fillText("on wall", 4, grp.wallY + 7);
        if (ow[2] && b - a > ctx.measureText(ow[2]).width + 8) {
          ctx.fillStyle = "#ffffff";
          ctx.fillText(ow[2], a + 4, grp.wallY + 7);
        }
        ctx.font = "12px sans-serif";
      }
      // bars
      const moves = this.moves[grp.ti] || [];
      const { rows, nsub } = this.packLanes(moves);
      ctx.save();
      ctx.beginPath(); ctx.rect(x0, 0, x1 - x0, g.height); ctx.clip();
      for (const m of moves) {
        const li = this.limbIndex(m.limb);
        if (li >= this.limbs.length) continue;
        const n = nsub[m.limb] || 1, r = rows.get(m.id) || 0;
        const lh = (g.laneH - 4) / n;
        const y = grp.lanesY + li * g.laneH + 2 + r * lh;
        const h = lh - (n > 1 ? 1 : 0);
        let bx0 = this.tX(m.s / tr.fps), bx1 = this.tX((m.e + 1) / tr.fps);
        if (bx1 < x0 || bx0 > x1) continue;
        if (bx1 - bx0 < 3) { const c = (bx0 + bx1) / 2; bx0 = c - 1.5; bx1 = c + 1.5; }
        const color = this.labelColor[m.label] || "#888888";
        const low = m.status === "model" && m.conf < this.lowConf;
        ctx.fillStyle = rgba(color, low ? 0.45 : 0.95);
        ctx.fillRect(bx0, y, bx1 - bx0, h);
        if (low) { ctx.fillStyle = this.hatch; ctx.fillRect(bx0, y, bx1 - bx0, h); }
        const sel = grp.ti === 0 && m.id === this.selected;
        ctx.lineWidth = sel ? 2.5 : 1;
        ctx.strokeStyle = sel ? "#111" : low ? rgba(color, 1) : "rgba(0,0,0,0.28)";
        if (low && !sel) ctx.setLineDash([4, 3]);
        ctx.strokeRect(bx0 + 0.5, y + 0.5, bx1 - bx0 - 1, h - 1);
        ctx.setLineDash([]);
        if (sel) {  // edge handles
          ctx.fillStyle = "#111";
          ctx.fillRect(bx0 - 2, y + h / 2 - 6, 4, 12);
          ctx.fillRect(bx1 - 2, y + h / 2 - 6, 4, 12);
        }
        const mark = { edited: "✎ ", added: "+ ", confirmed: "✓ " }[m.status] || (low ? "? " : "");
        const full = mark + m.label;
        const short = mark + (m.label.includes("-") ? m.label.split("-")[0] : m.label.slice(0, 4));
        const room = bx1 - bx0 - 6;
        ctx.font = h < 14 ? "10px sans-serif" : "12px sans-serif";
        const text = ctx.measureText(full).width <= room ? full : ctx.measureText(short).width <= room ? short : "";
        if (text) {
          ctx.fillStyle = low ? "#1d1d1d" : textColorFor(color);
          ctx.fillText(text, bx0 + 3, y + h / 2 + 0.5);
        } else {
          // too narrow (a short move on a long attempt): the label after the bar, where the lane is free
          const next = moves.filter((o) => o !== m && o.limb === m.limb && (rows.get(o.id) || 0) === r && o.s > m.e)
            .reduce((best, o) => Math.min(best, this.tX(o.s / tr.fps)), x1);
          const free = next - bx1 - 5;
          const outside = ctx.measureText(full).width <= free ? full : ctx.measureText(short).width <= free ? short : "";
          if (outside) {
            ctx.fillStyle = "#333";
            ctx.fillText(outside, bx1 + 3, y + h / 2 + 0.5);
          }
        }
        this.bars.push({ ti: grp.ti, m, x0: bx0, x1: bx1, y0: y, y1: y + h });
      }
      ctx.restore();
      ctx.font = "12px sans-serif";
    }
    // time axis
    const span = this.view.v1 - this.view.v0;
    const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60];
    const pxPerS = (x1 - x0) / span;
    const stepS = steps.find((s) => s * pxPerS >= 56) || 60;
    ctx.fillStyle = "#666";
    ctx.strokeStyle = "#e1e3e8";
    ctx.lineWidth = 1;
    ctx.textAlign = "center";
    for (let t = Math.ceil(this.view.v0 / stepS) * stepS; t <= this.view.v1 + 1e-9; t += stepS) {
      const x = Math.round(this.tX(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, g.groups.length ? g.groups[0].lanesY : 0); ctx.lineTo(x, g.axisY + 3); ctx.stroke();
      ctx.fillText(`${+t.toFixed(1)} s`, x, g.axisY + 12);
    }
    ctx.textAlign = "left";
    this.tlStatic = cv;
    const full = span >= this.duration0() - 1e-6;
    const tip = this.editable ? " · drag a selected move's edges to retime it" : "";
    this.tlInfo.textContent = full ? `whole attempt (${this.duration0().toFixed(1)} s)${tip}`
      : `showing ${this.view.v0.toFixed(1)}–${this.view.v1.toFixed(1)} s of ${this.duration0().toFixed(1)} s · shift+wheel to pan`;
  }

  drawTimeline() {
    if (!this.tlGeo) this.sizeTimeline();
    if (!this.tracks.length) return;
    if (!this.tlStatic) this.drawTimelineStatic();
    const g = this.tlGeo;
    const ctx = this.tlCanvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.tlStatic, 0, 0);
    ctx.scale(g.dpr, g.dpr);
    if (this.drag && this.drag.kind === "edge") {  // live preview of a dragged edge
      const b = this.drag.bar, tr = this.tracks[b.ti];
      const xa = this.tX(this.drag.s / tr.fps), xb = this.tX((this.drag.e + 1) / tr.fps);
      ctx.strokeStyle = "#111";
      ctx.setLineDash([4, 2]);
      ctx.lineWidth = 2;
      ctx.strokeRect(xa, b.y0, xb - xa, b.y1 - b.y0);
      ctx.setLineDash([]);
    }
    this.tracks.forEach((tr, ti) => {
      const grp = g.groups[ti];
      const x = this.tX((tr.frame + 0.5) / tr.fps);
      const W = this.tlCanvas.width / g.dpr;
      if (x < g.gutter - 1 || x > W - 7) return;
      ctx.strokeStyle = "#d62728";
      ctx.lineWidth = 2;
      ctx.beginPath(); ctx.moveTo(x, grp.wallY); ctx.lineTo(x, grp.lanesY + g.laneH * this.limbs.length); ctx.stroke();
      if (ti === this.tracks.length - 1) {
        ctx.fillStyle = "#d62728";
        ctx.beginPath(); ctx.moveTo(x - 5, g.axisY); ctx.lineTo(x + 5, g.axisY); ctx.lineTo(x, g.axisY - 6); ctx.fill();
      }
    });
  }

  hit(x, y) {
    for (let k = (this.bars || []).length - 1; k >= 0; k--) {
      const b = this.bars[k];
      if (x >= b.x0 - 1 && x <= b.x1 + 1 && y >= b.y0 && y <= b.y1) return b;
    }
    return null;
  }

  edgeHit(x, y) {
    if (!this.editable || this.selected === null) return null;
    const b = (this.bars || []).find((bb) => bb.ti === 0 && bb.m.id === this.selected);
    if (!b || y < b.y0 - 3 || y > b.y1 + 3) return null;
    if (Math.abs(x - b.x0) <= 6) return { bar: b, edge: "start" };
    if (Math.abs(x - b.x1) <= 6) return { bar: b, edge: "end" };
    return null;
  }

  bindTimeline() {
    const c = this.tlCanvas;
    const pos = (e) => { const r = c.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
    c.addEventListener("pointerdown", (e) => {
      if (!this.ready) return;
      window.__cruxlabActive = this;
      const [x, y] = pos(e);
      c.setPointerCapture(e.pointerId);
      const edge = this.edgeHit(x, y);
      if (edge) {
        this.drag = { kind: "edge", bar: edge.bar, edge: edge.edge, s: edge.bar.m.s, e: edge.bar.m.e };
        return;
      }
      const b = this.hit(x, y);
      if (b) { this.drag = { kind: "bar", bar: b, x }; return; }
      if (x >= this.tlGeo.gutter) {
        this.drag = { kind: "scrub" };
        this.scrubTo(x);
      }
    });
    c.addEventListener("pointermove", (e) => {
      const [x, y] = pos(e);
      if (!this.drag) {
        const edge = this.edgeHit(x, y), b = this.hit(x, y);
        c.style.cursor = edge ? "ew-resize" : b ? "pointer" : x >= (this.tlGeo ? this.tlGeo.gutter : 0) ? "text" : "default";
        this.showTip(b, x, y);
        return;
      }
      this.tip.style.display = "none";
      if (this.drag.kind === "scrub") this.scrubTo(x);
      else if (this.drag.kind === "edge") {
        const tr = this.tracks[0];
        const f = clamp(Math.round(this.xT(x) * tr.fps - (this.drag.edge === "end" ? 1 : 0)), 0, tr.n - 1);
        if (this.drag.edge === "start") this.drag.s = Math.min(f, this.drag.e); else this.drag.e = Math.max(f, this.drag.s);
        this.drawTimeline();
      }
    });
    const up = (e) => {
      const d = this.drag;
      this.drag = null;
      if (!d) return;
      if (d.kind === "bar") {
        const m = d.bar.m;
        if (d.bar.ti === 0) this.select(m.id, true);
        else this.seekFrame(Math.round((m.s / this.tracks[d.bar.ti].fps + this.tracks[d.bar.ti].offset) * this.tracks[0].fps));
      } else if (d.kind === "edge") {
        const m = d.bar.m;
        if (d.s !== m.s || d.e !== m.e) {
          m.s = d.s; m.e = d.e;
          this.tlStatic = null;
          this.emit("retime", { move_id: m.id, start: d.s, end: d.e });
        }
        this.drawTimeline();
        this.refreshControls();
      }
    };
    c.addEventListener("pointerup", up);
    c.addEventListener("pointercancel", () => { this.drag = null; this.drawTimeline(); });
    c.addEventListener("pointerleave", () => { this.tip.style.display = "none"; });
    c.addEventListener("wheel", (e) => {
      if (e.ctrlKey || e.metaKey) {
        e.preventDefault();
        const [x] = pos(e);
        this.zoom(Math.exp(e.deltaY * 0.002), this.xT(x));
      } else if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
        e.preventDefault();
        const span = this.view.v1 - this.view.v0;
        this.pan((e.shiftKey ? e.deltaY : e.deltaX) / 600 * span);
      }
    }, { passive: false });
  }

  scrubTo(x) {
    const tr = this.tracks[0];
    this.seekFrame(Math.floor(clamp(this.xT(x), 0, tr.duration) * tr.fps));
  }

  showTip(b, x, y) {
    if (!b) { this.tip.style.display = "none"; return; }
    const m = b.m, tr = this.tracks[b.ti];
    const limb = (this.limbs.find((l) => l.id === m.limb) || { title: m.limb }).title;
    const status = { edited: "edited by a coach", added: "added by a coach", confirmed: "confirmed by a coach",
      reviewed: "reviewed with the attempt" }[m.status]
      || (m.conf < this.lowConf ? "model, LOW confidence" : "model");
    this.tip.textContent = `${m.label} · ${limb} · frames ${m.s}–${m.e} (${(m.s / tr.fps).toFixed(2)}–${((m.e + 1) / tr.fps).toFixed(2)} s) · confidence ${(+m.conf).toFixed(2)} · ${status}`;
    this.tip.style.display = "block";
    const W = this.tl.clientWidth;
    this.tip.style.left = `${clamp(x + 12, 0, Math.max(0, W - this.tip.offsetWidth - 4))}px`;
    this.tip.style.top = `${y + 14}px`;
  }

  state() {
    return {
      ready: this.ready, frame: this.frame, playing: this.playing, selected: this.selected, rate: this.rate,
      view: { ...this.view }, time: this.currentTime(), timings: this.timings,
      moves: (this.moves[0] || []).map((m) => ({ ...m })),
    };
  }
}

export default function (component) {
  const { parentElement, data, setTriggerValue } = component;
  let inst = INSTANCES.get(parentElement);
  if (!inst) {
    inst = new Player(parentElement, setTriggerValue);
    INSTANCES.set(parentElement, inst);
  }
  inst.trigger = setTriggerValue;
  inst.update(data || {});
  return () => {
    inst.destroy();
    INSTANCES.delete(parentElement);
  };
}
