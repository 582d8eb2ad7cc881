// hekad's dashboard page: every few seconds it reads the files
// DashboardOutput keeps under data/ and redraws the plugin tables, the
// list of sandbox outputs and the sandbox terminations. Plain DOM calls,
// no framework and no build step.
"use strict";

const REFRESH_MS = 3000;
const CATEGORIES = [
  ["globals", "Globals"], ["inputs", "Inputs"], ["splitters", "Splitters"],
  ["decoders", "Decoders"], ["filters", "Filters"], ["outputs", "Outputs"],
  ["encoders", "Encoders"],
];

function el(tag, text) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  return node;
}

// A data file's text, or null while it does not exist yet.
async function load(file) {
  const resp = await fetch("data/" + file + "?t=" + Date.now(), { cache: "no-store" });
  if (resp.status === 404) return null;
  if (!resp.ok) throw new Error(file + ": HTTP " + resp.status);
  return resp.text();
}

function metricText(metric) {
  if (metric === null || typeof metric !== "object") return String(metric);
  const rep = metric.representation;
  return rep && rep !== "count" ? metric.value + " " + rep : String(metric.value);
}

function drawReport(report) {
  const tables = [];
  for (const [key, title] of CATEGORIES) {
    const rows = report[key] || [];
    if (rows.length === 0) continue;
    const metrics = [];
    for (const row of rows) {
      for (const name of Object.keys(row)) {
        if (name !== "Name" && !metrics.includes(name)) metrics.push(name);
      }
    }
    const table = el("table");
    table.className = "category";
    table.dataset.category = key;
    table.append(el("caption", title));
    const head = el("tr");
    head.append(el("th", "Name"));
    metrics.forEach((m) => head.append(el("th", m)));
    const thead = el("thead");
    thead.append(head);
    table.append(thead);
    const body = el("tbody");
    for (const row of rows) {
      const tr = el("tr");
      const name = el("td", row.Name);
      name.className = "plugin";
      tr.append(name);
      metrics.forEach((m) => tr.append(el("td", m in row ? metricText(row[m]) : "")));
      body.append(tr);
    }
    table.append(body);
    tables.push(table);
  }
  document.getElementById("plugins").replaceChildren(...tables);
}

function drawOutputs(listing) {
  const items = [];
  for (const sandbox of listing.sandboxes || []) {
    for (const output of sandbox.Outputs || []) {
      const li = el("li", sandbox.Name + ": ");
      const link = el("a", output.Name || "(unnamed)");
      link.href = output.Filename;
      li.append(link);
      items.push(li);
    }
  }
  if (items.length === 0) items.push(el("li", "None yet."));
  document.getElementById("outputs").replaceChildren(...items);
}

function drawTerminations(text) {
  const rows = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const [secs, plugin, ...reason] = line.split("\t");
    const tr = el("tr");
    const when = new Date(Number(secs) * 1000);
    tr.append(el("td", isNaN(when) ? secs : when.toISOString().replace("T", " ").slice(0, 19)));
    tr.append(el("td", plugin || ""));
    const why = el("td", reason.join("\t"));
    why.className = "reason";
    tr.append(why);
    rows.push(tr);
  }
  document.querySelector("#terminations tbody").replaceChildren(...rows.reverse());
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const [report, listing, terminations] = await Promise.all([
      load("heka_report.json"), load("sandboxes.json"), load("heka_sandbox_termination.tsv"),
    ]);
    if (report !== null) drawReport(JSON.parse(report));
    if (listing !== null) drawOutputs(JSON.parse(listing));
    if (terminations !== null) drawTerminations(terminations);
    if (report !== null) {
      status.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
      status.className = "";
    }
  } catch (err) {
    status.textContent = "Cannot read the dashboard data: " + err.message;
    status.className = "error";
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
