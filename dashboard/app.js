// The dashboard's page: it renders every snapshot the server sends on
// the event stream (EventSource reconnects by itself). Data goes in as
// text nodes only, never as HTML.
"use strict";

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function body(id, rows) { document.querySelector("#" + id + " tbody").replaceChildren(...rows); }

function seqNode(s) { return s ? "node " + s.split(".")[0] : ""; }

function spark(vals) {
  const w = 120, h = 24, svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark"); svg.setAttribute("width", w); svg.setAttribute("height", h);
  const top = Math.max(...vals, 1e-9), n = Math.max(vals.length - 1, 1);
  const pl = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  pl.setAttribute("points", vals.map((v, i) => (i * w / n).toFixed(1) + "," + (h - 1 - v / top * (h - 2)).toFixed(1)).join(" "));
  svg.append(pl);
  return svg;
}

async function demo(action, id) {
  const r = await fetch("demo/" + action + "/" + id, { method: "POST", headers: { "X-Quicksilver-Dashboard": "1" } });
  if (!r.ok) alert(action + " node " + id + ": " + (await r.text()));
}

function render(s) {
  document.getElementById("epoch").textContent = s.epoch;
  document.getElementById("seq").textContent = s.seq;
  document.getElementById("problems").textContent = (s.problems || []).join("; ");
  body("members", s.members.map(m => {
    const tr = el("tr", { "data-node": m.id, "data-role": m.role, "data-state": m.state, "data-down": m.crashed },
      el("td", {}, m.id), el("td", {}, m.role), el("td", {}, m.state + (m.crashed ? " (crashed)" : "")),
      el("td", {}, m.zone || ""), el("td", {}, m.load.toFixed(2)), el("td", {}, m.clones), el("td", {}, m.addr || ""));
    if (s.demo) {
      const td = el("td", {});
      if (m.role === "node") {
        const b = el("button", { "data-action": m.crashed ? "restart" : "crash", "data-node": m.id }, m.crashed ? "restart" : "crash");
        b.onclick = () => demo(b.dataset.action, m.id);
        td.append(b);
      }
      tr.append(td);
    }
    return tr;
  }));
  const head = document.querySelector("#grid thead tr");
  while (head.children.length > 7) head.lastChild.remove();
  for (let i = 1; i <= s.clones; i++) head.append(el("th", {}, "clone " + i));
  body("grid", s.grid.map(g => el("tr", { "data-group": g.group, "data-view": g.view, "data-state": g.state },
    el("td", {}, g.partition), el("td", {}, g.range), el("td", {}, g.group), el("td", {}, g.view),
    el("td", {}, seqNode(g.sequencer)), el("td", {}, g.state), el("td", {}, g.load >= 0 ? g.load.toFixed(1) : ""),
    ...g.cells.map(c => el("td", { class: "cell " + c.role + (c.reported ? "" : " silent"), "data-node": c.node,
      title: c.reported ? c.status + " view " + c.view + " applied " + c.applied : "no report from node " + c.node },
      "node " + c.node + (c.sequencer ? " ★" : "") + (c.reported && c.status !== "NORMAL" ? " " + c.status : ""))))));
  body("moves", s.moves.map(m => el("tr", {},
    el("td", {}, m.partition_name), el("td", {}, m.kind), el("td", {}, (m.voters || []).join(", ")),
    el("td", {}, m.learner ? "node " + m.learner + (m.replaces ? " (replaces " + m.replaces + ")" : "") : ""),
    el("td", {}, m.percent >= 0 ? el("span", { class: "bar", title: m.percent.toFixed(0) + "%" },
      el("span", { style: "width:" + m.percent.toFixed(0) + "%" })) : "", " " + m.progress),
    el("td", {}, m.reason || ""))));
  if (s.moves.length === 0) body("moves", [el("tr", {}, el("td", { colspan: 6 }, "none"))]);
  body("views", s.view_changes.map(v => el("tr", {},
    el("td", {}, new Date(v.time).toLocaleTimeString()), el("td", {}, v.partition), el("td", {}, v.group),
    el("td", {}, v.from_view + " → " + v.to_view), el("td", {}, v.cause),
    el("td", {}, v.seconds > 0 ? v.seconds.toFixed(1) + " s" : "≤ " + s.interval_seconds + " s"))));
  body("services", s.services.map(v => el("tr", {},
    el("td", {}, v.name), el("td", {}, v.rate.toFixed(1)), el("td", {}, spark(v.rate_series)),
    el("td", {}, v.errors.toFixed(1)), el("td", {}, v.p50_ms.toFixed(2)), el("td", {}, v.p99_ms.toFixed(2)),
    el("td", {}, spark(v.p99_series)))));
}

const status = document.getElementById("status");
const es = new EventSource("events");
es.addEventListener("snapshot", e => { status.textContent = "live"; status.className = "status live"; render(JSON.parse(e.data)); });
es.onerror = () => { status.textContent = "reconnecting…"; status.className = "status lost"; };
