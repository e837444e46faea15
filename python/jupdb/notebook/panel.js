// The jupdb panel's view (anywidget: one ES module, no build step, nothing fetched).
//
// It draws the model's traits (see panel.py) with plain DOM, and sends what the
// user does as custom messages, {do: <what>, ...}, which panel.py runs in its
// worker thread. Colours come from the surrounding theme (currentColor,
// translucent backgrounds), so light and dark JupyterLab, Notebook 7 and VS
// Code all read well.

const CSS = `
.jupdb-panel { font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: 13px;
  color: inherit; border: 1px solid rgba(128,128,128,.4); border-radius: 4px; padding: 6px;
  display: flex; flex-direction: column; gap: 6px; max-width: 100%; box-sizing: border-box; }
.jupdb-panel * { box-sizing: border-box; }
.jupdb-panel code, .jupdb-panel pre, .jupdb-panel input.jupdb-code {
  font-family: var(--jp-code-font-family, ui-monospace, SFMono-Regular, Menlo, monospace); font-size: 12px; }
.jupdb-bar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; }
.jupdb-status { flex: 1 1 18em; font-weight: 600; overflow-wrap: anywhere; }
.jupdb-status::before { content: ""; display: inline-block; width: .65em; height: .65em; border-radius: 50%;
  margin-right: .45em; background: #888; }
.jupdb-panel[data-state="running"] .jupdb-status::before { background: #2e9e4f; }
.jupdb-panel[data-state="paused"] .jupdb-status::before { background: #e0a000; }
.jupdb-panel button, .jupdb-panel select, .jupdb-panel input {
  color: inherit; background: transparent; border: 1px solid rgba(128,128,128,.5);
  border-radius: 3px; padding: 2px 8px; font: inherit; }
.jupdb-panel select option { color: initial; background: initial; }
.jupdb-panel button:hover:not(:disabled) { background: rgba(128,128,128,.18); cursor: pointer; }
.jupdb-panel button:disabled { opacity: .45; }
.jupdb-body { display: flex; flex-wrap: wrap; gap: 6px; align-items: flex-start; }
.jupdb-source { flex: 3 1 28em; min-width: 0; margin: 0; max-height: 26em; overflow: auto;
  border: 1px solid rgba(128,128,128,.3); border-radius: 3px; padding: 2px 0; }
.jupdb-line { display: flex; white-space: pre; padding: 0 6px; }
.jupdb-lineno { opacity: .55; min-width: 3.5em; text-align: right; padding-right: 1em; user-select: none; }
.jupdb-current { background: rgba(255,196,0,.32); }
.jupdb-panel[data-state="running"] .jupdb-current { background: rgba(128,128,128,.2); }
.jupdb-side { flex: 2 1 20em; min-width: 0; display: flex; flex-direction: column; gap: 6px; }
.jupdb-section { border: 1px solid rgba(128,128,128,.3); border-radius: 3px; padding: 3px 6px; min-width: 0; }
.jupdb-side .jupdb-section { max-height: 18em; overflow: auto; }
.jupdb-title { font-weight: 600; opacity: .8; margin-bottom: 2px; }
.jupdb-panel[data-state="running"] .jupdb-side, .jupdb-panel[data-state="ended"] .jupdb-side { opacity: .6; }
.jupdb-frame { cursor: pointer; padding: 1px 3px; border-radius: 2px; overflow-wrap: anywhere; }
.jupdb-frame:hover { background: rgba(128,128,128,.15); }
.jupdb-frame.jupdb-selected { background: rgba(80,140,255,.25); }
.jupdb-var { display: flex; gap: .5em; align-items: baseline; padding: 1px 0; }
.jupdb-toggle { width: 1em; flex: none; cursor: pointer; user-select: none; opacity: .7; }
.jupdb-name { font-weight: 600; flex: none; }
.jupdb-type { opacity: .55; flex: none; font-size: 11px; }
.jupdb-value { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; min-width: 0; }
.jupdb-kids { margin-left: 1.1em; border-left: 1px dotted rgba(128,128,128,.5); padding-left: 4px; }
.jupdb-note { opacity: .6; font-style: italic; }
.jupdb-error, .jupdb-stderr { color: #d9534f; }
.jupdb-row { display: flex; gap: 4px; align-items: center; }
.jupdb-row input { flex: 1; min-width: 0; }
.jupdb-watch { display: flex; gap: .5em; align-items: baseline; }
.jupdb-watch button { padding: 0 5px; }
.jupdb-result { overflow: auto; max-height: 30em; }
.jupdb-result img { max-width: 100%; }
.jupdb-result pre, .jupdb-output { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.jupdb-output { max-height: 12em; overflow: auto; }
.jupdb-result:not(:empty) { margin-top: 4px; }
.jupdb-message:empty { display: none; }
`;

/** An element: h("div", {class: "x", "data-line": 3}, child, "text", ...). */
function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function basename(path) {
  return String(path || "").split(/[\\/]/).pop();
}

/** A value's summary as text: its repr, and its shape/dtype or length. */
function describe(summary) {
  let text = String(summary.repr ?? "") + (summary.truncated ? "…" : "");
  const facts = [];
  if (summary.shape) facts.push(`shape ${summary.shape.join("×")}`);
  if (summary.dtype) facts.push(summary.dtype);
  if (facts.length) text += `  (${facts.join(", ")})`;
  return text;
}

const BUTTONS = [
  ["continue", "continue", "Let the program run on"],
  ["step", "step", "Run to the next line, entering calls"],
  ["next", "next", "Run to the next line of this function"],
  ["finish", "return", "Run until this function returns"],
  ["pause", "pause", "Pause the running thread"],
];

function render({ model, el }) {
  const send = (command) => model.send(command);
  const root = h("div", { class: "jupdb-panel", "data-state": model.get("state") });
  root.append(h("style", {}, CSS));

  // -- header: status, thread, buttons
  const status = h("span", { class: "jupdb-status" });
  const threadSelect = h("select", {
    class: "jupdb-thread", title: "The thread shown",
    onchange: () => send({ do: "thread", id: threadSelect.value }),
  });
  const buttons = BUTTONS.map(([action, label, title]) =>
    h("button", { class: "jupdb-button", "data-action": action, title, onclick: () => send({ do: action }) }, label));
  root.append(h("div", { class: "jupdb-bar" }, status, threadSelect, buttons));
  const message = h("div", { class: "jupdb-message jupdb-error" });
  root.append(message);

  // -- body: source | stack, variables, watches
  const source = h("pre", { class: "jupdb-source" });
  const stack = h("div", { class: "jupdb-stack" });
  const variables = h("div", { class: "jupdb-variables" });
  const watches = h("div", { class: "jupdb-watches" });
  const watchInput = h("input", { class: "jupdb-code jupdb-watch-input", placeholder: "expression to watch", spellcheck: "false" });
  const addWatch = () => {
    if (watchInput.value.trim()) send({ do: "watch", expression: watchInput.value });
    watchInput.value = "";
  };
  watchInput.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); addWatch(); } });
  const section = (title, ...content) => h("div", { class: "jupdb-section" }, h("div", { class: "jupdb-title" }, title), content);
  root.append(h("div", { class: "jupdb-body" }, source, h("div", { class: "jupdb-side" },
    section("Stack", stack),
    section("Variables", variables),
    section("Watches", watches, h("div", { class: "jupdb-row" }, watchInput, h("button", { onclick: addWatch }, "add"))))));

  // -- the expression box and the program's output
  const evalInput = h("input", { class: "jupdb-code jupdb-eval", placeholder: "evaluate in the selected frame (Enter)", spellcheck: "false" });
  evalInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); send({ do: "eval", code: evalInput.value }); }
  });
  const result = h("div", { class: "jupdb-result" });
  const output = h("pre", { class: "jupdb-output" });
  root.append(section("Evaluate", h("div", { class: "jupdb-row" }, evalInput), result), section("Output", output));
  el.append(root);

  // -- drawing, one function per part of the model
  function drawHeader() {
    const state = model.get("state");
    const where = model.get("location") || {};
    const thread = (model.get("threads") || []).find((t) => t.id === model.get("thread"));
    const threadName = thread ? ` (thread ${thread.name})` : "";
    root.dataset.state = state;
    if (state === "paused") {
      const why = where.reason ? ` [${where.reason}]` : "";
      status.textContent = `paused at ${basename(where.file)}:${where.line} in ${where.function}()${threadName}${why}`;
    } else if (state === "running") {
      status.textContent = `running${threadName}`;
    } else if (state === "ended") {
      status.textContent = "ended";
    } else {
      status.textContent = "connecting…";
    }
    status.title = [model.get("program"), where.file && `${where.file}:${where.line}`].filter(Boolean).join("\n");
    for (const button of buttons) {
      const pause = button.dataset.action === "pause";
      button.disabled = state === "ended" || state === "connecting" || (pause ? state !== "running" : state !== "paused");
    }
    message.textContent = model.get("message") || "";
    const chosen = model.get("pinned") ? model.get("thread") : "";
    threadSelect.replaceChildren(h("option", { value: "" }, "latest stop"),
      (model.get("threads") || []).map((t) =>
        h("option", { value: t.id }, `${t.name} (${t.paused ? "paused" : "running"})`)));
    threadSelect.value = chosen;
  }

  function drawSource() {
    const src = model.get("source") || {};
    if (src.error) { source.replaceChildren(h("span", { class: "jupdb-note" }, src.error)); return; }
    source.replaceChildren(...(src.lines || []).map((text, i) => {
      const number = src.first_line + i;
      const current = number === src.current_line;
      return h("div", { class: current ? "jupdb-line jupdb-current" : "jupdb-line", "data-line": number },
        h("span", { class: "jupdb-lineno" }, current ? `→ ${number}` : number), h("code", {}, text || " "));
    }));
  }

  function drawStack() {
    const selected = model.get("frame");
    stack.replaceChildren(...(model.get("stack") || []).map((f) =>
      h("div", {
        class: f.index === selected ? "jupdb-frame jupdb-selected" : "jupdb-frame",
        "data-index": f.index, title: `${f.file}:${f.line}`,
        onclick: () => send({ do: "frame", index: f.index }),
      }, `#${f.index} ${f.function}()  ${basename(f.file)}:${f.line}`)));
  }

  function drawNode(entry, path, label) {
    const key = path.join("/");
    const kids = (model.get("children") || {})[key];
    const toggle = h("span", { class: "jupdb-toggle" }, entry.expandable ? (kids ? "▾" : "▸") : "");
    if (entry.expandable) toggle.addEventListener("click", () => send({ do: kids ? "collapse" : "expand", path }));
    const row = h("div", { class: "jupdb-var", "data-path": key, "data-name": path.length === 1 ? label : undefined },
      toggle, h("span", { class: "jupdb-name" }, label), h("span", { class: "jupdb-type" }, entry.type),
      h("code", { class: "jupdb-value", title: describe(entry) }, describe(entry)));
    if (!kids) return row;
    const inner = h("div", { class: "jupdb-kids" });
    if (kids.error) inner.append(h("div", { class: "jupdb-error" }, kids.error));
    kids.items.forEach((child, i) => inner.append(drawNode(child, [...path, i], child.label)));
    if (!kids.error && !kids.items.length) inner.append(h("div", { class: "jupdb-note" }, "no parts to show"));
    if (entry.len > kids.items.length && kids.items.length) {
      inner.append(h("div", { class: "jupdb-note" }, `first ${kids.items.length} of ${entry.len}`));
    }
    return h("div", {}, row, inner);
  }

  function drawVariables() {
    const entries = model.get("variables") || [];
    variables.replaceChildren(...entries.map((v) => drawNode(v, [v.name], v.name)));
    if (!entries.length) variables.append(h("div", { class: "jupdb-note" }, "none"));
  }

  function drawWatches() {
    watches.replaceChildren(...(model.get("watches") || []).map((w) =>
      h("div", { class: "jupdb-watch", "data-id": w.id },
        h("code", { class: "jupdb-name" }, w.expression),
        w.error ? h("code", { class: "jupdb-error" }, w.error)
          : h("code", { class: "jupdb-value" }, w.value ? describe(w.value) : "…"),
        h("button", { title: "Remove this watch", onclick: () => send({ do: "unwatch", id: w.id }) }, "×"))));
  }

  function drawResult() {
    const r = model.get("result") || {};
    const parts = [];
    if (r.stdout) parts.push(h("pre", {}, r.stdout));
    if (r.stderr) parts.push(h("pre", { class: "jupdb-stderr" }, r.stderr));
    if (r.error) {
      parts.push(h("pre", { class: "jupdb-error" }, r.error));
    } else if (r.data) {
      const data = r.data;
      if (data["text/html"]) {
        const html = h("div", { class: "jupdb-html" });
        html.innerHTML = data["text/html"]; // the program's own representation, as a notebook output shows it
        parts.push(html);
      } else if (data["image/png"]) {
        parts.push(h("img", { src: `data:image/png;base64,${data["image/png"]}`, alt: data["text/plain"] || "" }));
      } else if (data["image/svg+xml"]) {
        parts.push(h("img", { src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(data["image/svg+xml"])}` }));
      } else {
        parts.push(h("pre", { class: "jupdb-text" }, data["text/plain"] ?? ""));
      }
    }
    result.replaceChildren(...parts);
  }

  function drawOutput() {
    const atBottom = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
    output.replaceChildren(...(model.get("output") || []).map(([name, text]) =>
      h("span", { class: name === "stderr" ? "jupdb-stderr" : "jupdb-stdout" }, text)));
    if (atBottom) output.scrollTop = output.scrollHeight;
  }

  const drawers = {
    "change:state change:location change:thread change:threads change:pinned change:message change:program": drawHeader,
    "change:source": drawSource,
    "change:stack change:frame": drawStack,
    "change:variables change:children": drawVariables,
    "change:watches": drawWatches,
    "change:result": drawResult,
    "change:output": drawOutput,
  };
  const listeners = [];
  for (const [events, draw] of Object.entries(drawers)) {
    draw();
    for (const event of events.split(" ")) {
      model.on(event, draw);
      listeners.push([event, draw]);
    }
  }
  return () => { for (const [event, draw] of listeners) model.off(event, draw); };
}

export default { render };
