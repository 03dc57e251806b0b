(() => {
  "use strict";

  const STATUSES = ["todo", "in_progress", "review", "blocked", "done", "cancelled"];
  const PRIORITIES = ["critical", "high", "medium", "low"];
  const LABELS = {
    todo: "To do", in_progress: "In progress", review: "Review", blocked: "Blocked",
    done: "Done", cancelled: "Cancelled", low: "Low", medium: "Medium", high: "High", critical: "Critical",
  };
  const PAGE_SIZE = 25;
  const params = new URLSearchParams(location.search);
  const REFRESH_MS = Math.max(1, Number(params.get("refresh")) || 15) * 1000;

  const $ = (id) => document.getElementById(id);
  const numbers = new Intl.NumberFormat();
  const shortDate = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
  const monthName = new Intl.DateTimeFormat(undefined, { month: "short", timeZone: "UTC" });
  const weekDate = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
  const styles = getComputedStyle(document.documentElement);
  const cssVar = (name) => styles.getPropertyValue(name).trim();

  let summary = JSON.parse($("summary-data").textContent);

  // ---- charts (hand-drawn on canvas: no library to download or parse) ------------------------

  function surface(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = "12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
    ctx.textBaseline = "middle";
    return { ctx, width, height };
  }

  function roundedBar(ctx, x, y, w, h, r) {
    const radius = Math.max(0, Math.min(r, w / 2, h / 2));
    ctx.beginPath();
    ctx.moveTo(x, y + h);
    ctx.lineTo(x, y + radius);
    ctx.arcTo(x, y, x + radius, y, radius);
    ctx.lineTo(x + w - radius, y);
    ctx.arcTo(x + w, y, x + w, y + radius, radius);
    ctx.lineTo(x + w, y + h);
    ctx.closePath();
    ctx.fill();
  }

  function drawStatus(data) {
    const { ctx, width, height } = surface($("statusChart"));
    const values = STATUSES.map((s) => data.by_status[s] || 0);
    const max = Math.max(1, ...values);
    const labelWidth = 92;
    const valueWidth = 56;
    const row = height / STATUSES.length;
    const barHeight = Math.min(22, row * 0.62);
    STATUSES.forEach((status, i) => {
      const y = i * row + (row - barHeight) / 2;
      const span = Math.max(0, width - labelWidth - valueWidth);
      ctx.fillStyle = cssVar("--text");
      ctx.textAlign = "left";
      ctx.fillText(LABELS[status], 0, y + barHeight / 2);
      ctx.fillStyle = cssVar("--grid");
      ctx.fillRect(labelWidth, y, span, barHeight);
      ctx.fillStyle = cssVar(`--s-${status}`);
      ctx.fillRect(labelWidth, y, Math.max(values[i] ? 2 : 0, (span * values[i]) / max), barHeight);
      ctx.fillStyle = cssVar("--muted");
      ctx.textAlign = "right";
      ctx.fillText(numbers.format(values[i]), width, y + barHeight / 2);
    });
  }

  function drawPriority(data) {
    const { ctx, width, height } = surface($("priorityChart"));
    const values = PRIORITIES.map((p) => data.by_priority[p] || 0);
    const total = values.reduce((a, b) => a + b, 0);
    const radius = Math.max(10, Math.min(height / 2 - 8, width / 4));
    const cx = radius + 6;
    const cy = height / 2;
    let angle = -Math.PI / 2;
    ctx.lineWidth = radius * 0.38;
    if (total === 0) {
      ctx.strokeStyle = cssVar("--grid");
      ctx.beginPath();
      ctx.arc(cx, cy, radius * 0.8, 0, Math.PI * 2);
      ctx.stroke();
    }
    PRIORITIES.forEach((p, i) => {
      if (!values[i]) return;
      const sweep = (values[i] / total) * Math.PI * 2;
      ctx.strokeStyle = cssVar(`--p-${p}`);
      ctx.beginPath();
      ctx.arc(cx, cy, radius * 0.8, angle, angle + sweep);
      ctx.stroke();
      angle += sweep;
    });
    ctx.fillStyle = cssVar("--text");
    ctx.textAlign = "center";
    ctx.font = "600 18px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
    ctx.fillText(numbers.format(total), cx, cy - 7);
    ctx.font = "12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
    ctx.fillStyle = cssVar("--muted");
    ctx.fillText("items", cx, cy + 12);
    const legendX = cx + radius + 28;
    const line = Math.min(34, height / PRIORITIES.length);
    const top = cy - (line * PRIORITIES.length) / 2 + line / 2;
    PRIORITIES.forEach((p, i) => {
      const y = top + i * line;
      ctx.fillStyle = cssVar(`--p-${p}`);
      ctx.beginPath();
      ctx.arc(legendX, y, 5, 0, Math.PI * 2);
      ctx.fill();
      ctx.textAlign = "left";
      ctx.fillStyle = cssVar("--text");
      ctx.fillText(LABELS[p], legendX + 12, y);
      ctx.textAlign = "right";
      ctx.fillStyle = cssVar("--muted");
      const share = total ? Math.round((values[i] / total) * 100) : 0;
      ctx.fillText(`${numbers.format(values[i])} · ${share}%`, width, y);
    });
  }

  let weeklyGeometry = null;

  function niceStep(raw) {
    const magnitude = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1))));
    const residual = raw / magnitude;
    const factor = residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 2.5 ? 2.5 : residual <= 5 ? 5 : 10;
    return Math.max(1, factor * magnitude);
  }

  function drawWeekly(data) {
    const canvas = $("weeklyChart");
    const { ctx, width, height } = surface(canvas);
    const weeks = data.created_per_week.weeks;
    const counts = data.created_per_week.counts;
    const max = Math.max(1, ...counts);
    const nice = niceStep(max / 4);
    const top = Math.max(nice, Math.ceil(max / nice) * nice);
    const left = 40;
    const bottom = 22;
    const plotH = height - bottom - 8;
    const plotW = width - left;
    ctx.strokeStyle = cssVar("--grid");
    ctx.fillStyle = cssVar("--muted");
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    for (let v = 0; v <= top; v += nice) {
      const y = 8 + plotH - (plotH * v) / top;
      ctx.beginPath();
      ctx.moveTo(left, Math.round(y) + 0.5);
      ctx.lineTo(width, Math.round(y) + 0.5);
      ctx.stroke();
      ctx.fillText(numbers.format(v), left - 8, y);
    }
    const slot = plotW / Math.max(1, counts.length);
    const barW = Math.max(1, slot * 0.7);
    ctx.fillStyle = cssVar("--bar");
    counts.forEach((c, i) => {
      const h = (plotH * c) / top;
      roundedBar(ctx, left + i * slot + (slot - barW) / 2, 8 + plotH - h, barW, h, 3);
    });
    ctx.fillStyle = cssVar("--muted");
    ctx.textAlign = "center";
    // One label per month, at its first week, skipped when it would crowd the previous one.
    let lastMonth = weeks.length ? weeks[0].slice(0, 7) : null;
    let lastX = -Infinity;
    weeks.forEach((w, i) => {
      const month = w.slice(0, 7);
      if (month === lastMonth) return;
      lastMonth = month;
      const x = left + i * slot + slot / 2;
      if (x - lastX < 34 || x > width - 14) return;
      const date = new Date(`${w}T00:00:00Z`);
      const label = date.getUTCMonth() === 0 ? String(date.getUTCFullYear()) : monthName.format(date);
      ctx.fillText(label, x, height - 9);
      lastX = x;
    });
    weeklyGeometry = { left, slot, weeks, counts };
    if (weeks.length) {
      $("weekly-range").textContent =
        `${weekDate.format(new Date(`${weeks[0]}T00:00:00Z`))} – ${weekDate.format(new Date(`${weeks[weeks.length - 1]}T00:00:00Z`))}`;
    }
  }

  $("weeklyChart").addEventListener("mousemove", (event) => {
    if (!weeklyGeometry) return;
    const rect = event.currentTarget.getBoundingClientRect();
    const i = Math.floor((event.clientX - rect.left - weeklyGeometry.left) / weeklyGeometry.slot);
    if (i >= 0 && i < weeklyGeometry.weeks.length) {
      const week = weekDate.format(new Date(`${weeklyGeometry.weeks[i]}T00:00:00Z`));
      $("weekly-range").textContent = `Week of ${week}: ${numbers.format(weeklyGeometry.counts[i])} created`;
    }
  });
  $("weeklyChart").addEventListener("mouseleave", () => drawWeekly(summary));

  // ---- cards and tags ---------------------------------------------------------------------------

  function percent(part, whole) {
    return whole ? `${Math.round((part / whole) * 100)}% of all items` : "\u00a0";
  }

  function setMetric(id, value) {
    const el = $(id);
    el.textContent = numbers.format(value);
    el.dataset.value = String(value);
  }

  function renderCards(data) {
    setMetric("card-total", data.total);
    setMetric("card-open", data.open);
    setMetric("card-done", data.by_status.done || 0);
    setMetric("card-blocked", data.blocked);
    const recent = data.created_per_week.counts.slice(-4).reduce((a, b) => a + b, 0);
    $("card-total-hint").textContent = `${numbers.format(recent)} created in the last 4 weeks`;
    $("card-open-hint").textContent = percent(data.open, data.total);
    $("card-done-hint").textContent = `${percent(data.by_status.done || 0, data.total)}`;
    $("revision").textContent = String(data.revision);
  }

  function renderTags(data) {
    const list = $("top-tags");
    const options = $("tag-options");
    list.replaceChildren();
    options.replaceChildren();
    const max = Math.max(1, ...data.top_tags.map((t) => t.count));
    for (const tag of data.top_tags) {
      const item = document.createElement("li");
      const name = document.createElement("button");
      name.type = "button";
      name.textContent = tag.name;
      name.title = `Show items tagged ${tag.name}`;
      name.addEventListener("click", () => {
        $("filter-tag").value = tag.name;
        loadTable();
      });
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = numbers.format(tag.count);
      const track = document.createElement("div");
      track.className = "track";
      const fill = document.createElement("div");
      fill.className = "fill";
      fill.style.width = `${(100 * tag.count) / max}%`;
      track.append(fill);
      item.append(name, count, track);
      list.append(item);
      const option = document.createElement("option");
      option.value = tag.name;
      options.append(option);
    }
    if (!data.top_tags.length) {
      const empty = document.createElement("li");
      empty.className = "muted";
      empty.textContent = "No tags yet";
      list.append(empty);
    }
  }

  function paintSummary(data) {
    renderCards(data);
    drawStatus(data);
    if (window.__statusChartPaintedAt === undefined) {
      window.__statusChartPaintedAt = performance.now();
      performance.mark("status-chart-painted");
    }
    drawPriority(data);
    drawWeekly(data);
    renderTags(data);
  }

  // ---- work items table -------------------------------------------------------------------------

  for (const s of STATUSES) $("filter-status").append(new Option(LABELS[s], s));
  for (const p of PRIORITIES) $("filter-priority").append(new Option(LABELS[p], p));

  let nextCursor = null;
  let pagesShown = 0;
  let inflight = null;

  function filterQuery() {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    const status = $("filter-status").value;
    const priority = $("filter-priority").value;
    const tag = $("filter-tag").value.trim();
    const q = $("filter-q").value.trim();
    if (status) query.set("status", status);
    if (priority) query.set("priority", priority);
    if (tag) query.set("tag", tag);
    if (q) query.set("q", q);
    return query;
  }

  function pill(kind, value) {
    const span = document.createElement("span");
    span.className = `pill ${kind}-${value}`;
    span.textContent = LABELS[value] || value;
    return span;
  }

  function cell(className, content) {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (content instanceof Node) td.append(content);
    else td.textContent = content;
    return td;
  }

  function row(item) {
    const tr = document.createElement("tr");
    tr.dataset.id = String(item.id);
    tr.dataset.status = item.status;
    tr.dataset.priority = item.priority;
    const tags = document.createElement("span");
    for (const name of item.tags) {
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.textContent = name;
      tags.append(chip);
    }
    const title = cell("title", item.title);
    title.title = item.title;
    tr.append(
      cell("key", item.key), title, cell("", pill("s", item.status)), cell("", pill("p", item.priority)),
      cell("", tags), cell("muted", item.project || "—"), cell("num", shortDate.format(new Date(item.created_at))),
    );
    return tr;
  }

  async function fetchJSON(url, signal) {
    const response = await fetch(url, { signal, cache: "no-store", headers: { Accept: "application/json" } });
    showServerTiming(response);
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
    return body;
  }

  async function loadTable({ append = false, quiet = false } = {}) {
    if (inflight) inflight.abort();
    const controller = new AbortController();
    inflight = controller;
    const query = filterQuery();
    if (append && nextCursor) query.set("cursor", nextCursor);
    if (!quiet) $("table-status").textContent = "Loading…";
    try {
      const page = await fetchJSON(`/api/work-items?${query}`, controller.signal);
      const body = $("items-body");
      const rows = page.items.map(row);
      if (append) body.append(...rows);
      else body.replaceChildren(...rows);
      pagesShown = append ? pagesShown + 1 : 1;
      if (!body.children.length) {
        const empty = document.createElement("tr");
        empty.className = "placeholder";
        empty.append(cell("", "No work items match these filters."));
        empty.firstChild.colSpan = 7;
        body.append(empty);
      }
      nextCursor = page.next_cursor;
      $("load-more").hidden = !nextCursor;
      const shown = body.querySelectorAll("tr[data-id]").length;
      $("table-count").textContent = `${numbers.format(shown)} shown${nextCursor ? "" : " (all)"}`;
      $("table-status").textContent = "";
    } catch (error) {
      if (error.name === "AbortError") return;
      $("table-status").textContent = `Could not load work items: ${error.message}`;
    } finally {
      if (inflight === controller) inflight = null;
    }
  }

  let typing = null;
  $("filters").addEventListener("input", (event) => {
    clearTimeout(typing);
    const delay = event.target.tagName === "INPUT" ? 250 : 0;
    typing = setTimeout(() => loadTable(), delay);
  });
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  $("filters").addEventListener("reset", () => setTimeout(() => loadTable(), 0));
  $("load-more").addEventListener("click", () => loadTable({ append: true }));

  // ---- auto-refresh and its indicator -----------------------------------------------------------

  const indicator = $("refresh-indicator");
  let paused = false;
  let lastRefresh = performance.now();
  let refreshing = false;

  function showServerTiming(response) {
    const header = response.headers.get("Server-Timing") || "";
    const db = /db;dur=([\d.]+);desc="(\d+) statements"/.exec(header);
    const app = /app;dur=([\d.]+)/.exec(header);
    if (db && app) {
      $("server-timing").textContent =
        `Last request: ${Number(app[1]).toFixed(1)} ms on the server, ${db[2]} SQL statements in ${Number(db[1]).toFixed(2)} ms`;
    }
  }

  // ---- GitHub sync status (/api/sync/status) ------------------------------------------------------

  function when(iso) {
    return iso ? new Date(iso).toLocaleString() : "never";
  }

  function fact(list, label, value) {
    const wrap = document.createElement("div");
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = label;
    dd.textContent = value;
    wrap.append(dt, dd);
    list.append(wrap);
  }

  async function loadSync() {
    const status = await fetchJSON("/api/sync/status");
    const facts = $("sync-facts");
    const failures = $("sync-failures");
    facts.replaceChildren();
    failures.replaceChildren();
    const deliveries = status.deliveries;
    $("sync-webhooks").textContent = deliveries.webhooks_enabled ? "webhooks on" : "webhooks off";
    for (const repo of status.repositories) {
      const budget = repo.budget ? `${repo.budget.remaining} / ${repo.budget.limit}` : "unknown";
      const pending = repo.pending_local_changes === null ? "unknown" : String(repo.pending_local_changes);
      fact(facts, "repository", repo.repository);
      fact(facts, "last push", when(repo.last_push_at));
      fact(facts, "last pull", when(repo.last_pull_at));
      fact(facts, "pending local changes", pending);
      fact(facts, "budget left", budget);
      fact(facts, "watcher", repo.watcher ? repo.watcher.holder : "none");
      for (const failure of repo.failures) {
        const li = document.createElement("li");
        li.textContent = `${failure.item}: ${failure.reason}`;
        failures.append(li);
      }
    }
    fact(facts, "pending deliveries", String(deliveries.pending));
    fact(facts, "failed deliveries", String(deliveries.counts.failed));
    for (const failure of deliveries.failures.slice(0, 5)) {
      const li = document.createElement("li");
      li.textContent = `delivery ${failure.guid} (${failure.event}/${failure.action || "-"}): ${failure.reason}`;
      failures.append(li);
    }
  }

  async function refresh() {
    if (refreshing || paused) return;
    refreshing = true;
    indicator.classList.add("busy");
    try {
      summary = await fetchJSON("/api/summary");
      paintSummary(summary);
      if (pagesShown <= 1) await loadTable({ quiet: true });
      await loadSync().catch((error) => console.warn("sync status failed:", error.message));
      indicator.classList.remove("error");
      indicator.dataset.refreshes = String(Number(indicator.dataset.refreshes) + 1);
      $("refresh-text").textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      indicator.classList.add("error");
      $("refresh-text").textContent = "Offline, retrying…";
      console.warn("refresh failed:", error.message);
    } finally {
      refreshing = false;
      lastRefresh = performance.now();
      indicator.classList.remove("busy");
    }
  }

  function tick() {
    const elapsed = performance.now() - lastRefresh;
    $("refresh-bar").style.width = paused ? "0%" : `${Math.min(100, (100 * elapsed) / REFRESH_MS)}%`;
    if (!paused && !document.hidden && elapsed >= REFRESH_MS) refresh();
  }

  $("refresh-toggle").addEventListener("click", () => {
    paused = !paused;
    indicator.classList.toggle("paused", paused);
    $("refresh-toggle").textContent = paused ? "Resume" : "Pause";
    $("refresh-text").textContent = paused ? "Paused" : "Live";
    lastRefresh = performance.now();
  });

  let resizeFrame = 0;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(resizeFrame);
    resizeFrame = requestAnimationFrame(() => paintSummary(summary));
  });

  // ---- start: charts first (from the embedded summary), then the table --------------------------

  paintSummary(summary);
  $("refresh-text").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  loadTable();
  loadSync().catch((error) => console.warn("sync status failed:", error.message));
  setInterval(tick, 250);
})();
