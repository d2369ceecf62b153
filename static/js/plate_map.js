// Plate-map editor: pick wells (click, shift-click, drag, a row letter or column number, or
// type "A1-A8, B1:B12"), say what they hold — standards with a serial dilution, blanks, tubes
// by scanned accession, controls — and the map's JSON in the form follows. The server checks
// and saves that JSON; without this script the same JSON is edited in the text box.
"use strict";

(function () {
  const LETTERS = "ABCDEFGHIJKLMNOP";
  const SHORT = { blank: "Blank", control: "Ctrl" };

  document.documentElement.classList.add("js");

  function parseNumber(text) {
    const cleaned = String(text === undefined || text === null ? "" : text).trim().replace(",", ".");
    if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(cleaned)) return null;
    const number = Number(cleaned);
    return Number.isFinite(number) ? number : null;
  }

  function roundLevel(value) {
    return Number(value.toPrecision(4));
  }

  function numberText(value) {
    if (typeof value !== "number") return "";
    return String(Number(value.toPrecision(6)));
  }

  function setup(root) {
    const config = JSON.parse(document.getElementById(root.dataset.config).textContent);
    const rows = config.rows;
    const columns = config.columns;
    const textarea = document.querySelector(root.dataset.target);
    const table = root.querySelector("[data-plate-grid]");
    const form = root.closest("form");
    const readSelect = form.querySelector("[name=read_index]");
    const cells = {};
    table.querySelectorAll("td[data-well]").forEach(function (td) {
      cells[td.dataset.well] = td;
    });
    const problems = new Set(config.errorWells || []);
    let map = {};
    let selected = new Set();
    let anchor = null;
    let cursor = null;
    let drag = null;
    let origin = null;

    function wellName(r, c) {
      return LETTERS[r] + (c + 1);
    }

    function position(well) {
      const match = /^([A-Pa-p])0*([1-9][0-9]?)$/.exec(String(well).trim());
      if (!match) return null;
      const r = LETTERS.indexOf(match[1].toUpperCase());
      const c = Number(match[2]) - 1;
      if (r < 0 || r >= rows || c < 0 || c >= columns) return null;
      return { r: r, c: c };
    }

    function normalWell(well) {
      const p = position(well);
      return p ? wellName(p.r, p.c) : String(well);
    }

    function rect(a, b) {
      const wells = [];
      for (let r = Math.min(a.r, b.r); r <= Math.max(a.r, b.r); r++) {
        for (let c = Math.min(a.c, b.c); c <= Math.max(a.c, b.c); c++) wells.push(wellName(r, c));
      }
      return wells;
    }

    function bounds(wells) {
      const ps = Array.from(wells).map(position).filter(Boolean);
      if (!ps.length) return null;
      const rs = ps.map(function (p) { return p.r; });
      const cs = ps.map(function (p) { return p.c; });
      return {
        r0: Math.min.apply(null, rs), r1: Math.max.apply(null, rs),
        c0: Math.min.apply(null, cs), c1: Math.max.apply(null, cs),
      };
    }

    function ordered(keys) {
      return keys.slice().sort(function (a, b) {
        const pa = position(a), pb = position(b);
        if (!pa || !pb) return a < b ? -1 : 1;
        return pa.r - pb.r || pa.c - pb.c;
      });
    }

    // --- The map and its text -------------------------------------------------------------

    function readMap() {
      let parsed;
      try {
        parsed = JSON.parse(textarea.value.trim() || "{}");
      } catch (error) {
        return null;
      }
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return null;
      const clean = {};
      Object.keys(parsed).forEach(function (well) {
        if (parsed[well] && typeof parsed[well] === "object") clean[normalWell(well)] = parsed[well];
      });
      return clean;
    }

    function writeMap() {
      const lines = ordered(Object.keys(map)).map(function (well) {
        return " " + JSON.stringify(well) + ": " + JSON.stringify(map[well]);
      });
      textarea.value = lines.length ? "{\n" + lines.join(",\n") + "\n}" : "{}";
    }

    // --- Drawing --------------------------------------------------------------------------

    function label(entry) {
      if (!entry) return "";
      if (entry.role === "standard") return numberText(entry.concentration);
      if (entry.role === "sample") return entry.accession || (entry.sample ? "#" + entry.sample : "?");
      if (entry.role === "control") return entry.name ? String(entry.name).slice(0, 12) : SHORT.control;
      return SHORT[entry.role] || "";
    }

    function drawCell(well) {
      const td = cells[well];
      if (!td) return;
      const entry = map[well];
      const role = entry ? entry.role : "empty";
      td.className = "pw role-" + role +
        (selected.has(well) ? " selected" : "") +
        (problems.has(well) ? " problem" : "");
      td.querySelector(".pw-label").textContent = label(entry);
      const dilution = entry && entry.dilution && Number(entry.dilution) !== 1 ? entry.dilution : null;
      const values = config.values[readSelect ? Number(readSelect.value) || 0 : 0] || {};
      const value = values[well];
      const valueSpan = td.querySelector(".pw-value");
      valueSpan.textContent = typeof value === "number" ? numberText(value) : "";
      if (dilution) {
        const small = document.createElement("small");
        small.textContent = " ×" + numberText(Number(dilution));
        valueSpan.appendChild(small);
      }
      const parts = [well, typeof value === "number" ? "value " + numberText(value) : "no value"];
      if (entry) parts.push(entry.role);
      if (entry && label(entry) && entry.role !== "blank") parts.push(label(entry));
      if (dilution) parts.push("dilution " + dilution);
      td.title = parts.join(" · ");
      td.setAttribute("aria-selected", selected.has(well) ? "true" : "false");
    }

    function drawAll() {
      Object.keys(cells).forEach(drawCell);
      summarise();
    }

    function summarise() {
      const counts = { standard: 0, blank: 0, sample: 0, control: 0 };
      const tubes = new Set();
      const levels = new Set();
      Object.keys(map).forEach(function (well) {
        const entry = map[well];
        if (counts[entry.role] !== undefined) counts[entry.role] += 1;
        // A sample well named but not on a tube counts as a sample well, not as a tube.
        if (entry.role === "sample" && (entry.accession || entry.sample)) tubes.add(entry.accession || entry.sample);
        if (entry.role === "standard") levels.add(entry.concentration);
      });
      const summary = root.querySelector("[data-map-summary]");
      if (summary) {
        summary.textContent =
          counts.standard + " standard wells (" + levels.size + " levels) · " +
          counts.blank + " blank · " + counts.sample + " sample wells (" + tubes.size +
          " tube" + (tubes.size === 1 ? "" : "s") + ") · " + counts.control + " control";
      }
      const text = root.querySelector("[data-selection-text]");
      if (text) {
        const list = ordered(Array.from(selected));
        if (!list.length) text.textContent = "No wells selected.";
        else if (list.length === 1) text.textContent = "Selected: " + list[0] + ".";
        else text.textContent = "Selected: " + list.length + " wells, " + list[0] + "–" + list[list.length - 1] + ".";
      }
    }

    // --- Selecting ------------------------------------------------------------------------

    function select(wells, keepOrigin) {
      const previous = selected;
      selected = new Set(wells);
      previous.forEach(function (well) { if (!selected.has(well)) drawCell(well); });
      selected.forEach(drawCell);
      if (!keepOrigin) origin = bounds(selected);
      summarise();
    }

    function focusRoleInput() {
      const role = currentRole();
      const input = role === "sample" ? root.querySelector("#pm-accession")
        : role === "standard" ? root.querySelector("#pm-concentration")
        : role === "control" ? root.querySelector("#pm-name") : null;
      if (input) {
        input.focus();
        input.select();
      }
    }

    table.addEventListener("mousedown", function (event) {
      const td = event.target.closest("td[data-well]");
      if (!td || event.button !== 0) return;
      event.preventDefault();
      table.focus({ preventScroll: true });
      const here = position(td.dataset.well);
      const adding = event.ctrlKey || event.metaKey;
      if (event.shiftKey && anchor) {
        const base = adding ? Array.from(selected) : [];
        select(base.concat(rect(anchor, here)));
        cursor = here;
        return;
      }
      if (adding) {
        const next = new Set(selected);
        if (next.has(td.dataset.well)) next.delete(td.dataset.well);
        else next.add(td.dataset.well);
        select(next);
      } else {
        select([td.dataset.well]);
      }
      anchor = cursor = here;
      drag = { start: here, base: adding ? Array.from(selected) : [] };
    });

    table.addEventListener("mouseover", function (event) {
      if (!drag) return;
      const td = event.target.closest("td[data-well]");
      if (!td) return;
      select(drag.base.concat(rect(drag.start, position(td.dataset.well))));
      cursor = position(td.dataset.well);
    });

    document.addEventListener("mouseup", function () {
      if (!drag) return;
      drag = null;
      focusRoleInput();
    });

    table.addEventListener("click", function (event) {
      const header = event.target.closest("th");
      if (!header) return;
      let wells = [];
      if (header.dataset.row) {
        const r = LETTERS.indexOf(header.dataset.row);
        wells = rect({ r: r, c: 0 }, { r: r, c: columns - 1 });
      } else if (header.dataset.col) {
        const c = Number(header.dataset.col) - 1;
        wells = rect({ r: 0, c: c }, { r: rows - 1, c: c });
      } else if (header.hasAttribute("data-select-all")) {
        wells = Object.keys(cells);
      } else {
        return;
      }
      if (event.ctrlKey || event.metaKey) wells = Array.from(selected).concat(wells);
      select(wells);
      anchor = cursor = position(wells[0]);
      focusRoleInput();
    });

    table.addEventListener("keydown", function (event) {
      const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
      if (moves[event.key]) {
        event.preventDefault();
        const from = cursor || { r: 0, c: 0 };
        const to = {
          r: Math.min(rows - 1, Math.max(0, from.r + moves[event.key][0])),
          c: Math.min(columns - 1, Math.max(0, from.c + moves[event.key][1])),
        };
        if (event.shiftKey && anchor) {
          select(rect(anchor, to));
        } else {
          select([wellName(to.r, to.c)]);
          anchor = to;
        }
        cursor = to;
      } else if (event.key === "Delete" || event.key === "Backspace") {
        event.preventDefault();
        setSelected(function () { return null; });
      } else if (event.key === "Enter") {
        event.preventDefault();
        focusRoleInput();
      }
    });

    // "A1-A8, B1:B12", a row letter ("C", "A-C"), a column number ("3", "1-2").
    function parseRanges(text) {
      const wells = [];
      const bad = [];
      text.split(/[,;\s]+/).filter(Boolean).forEach(function (token) {
        const parts = token.split(/[-:]/);
        if (parts.length > 2) { bad.push(token); return; }
        const a = parts[0], b = parts.length === 2 ? parts[1] : parts[0];
        if (/^[A-Pa-p]$/.test(a) && /^[A-Pa-p]$/.test(b)) {
          const r0 = LETTERS.indexOf(a.toUpperCase()), r1 = LETTERS.indexOf(b.toUpperCase());
          if (Math.max(r0, r1) >= rows) { bad.push(token); return; }
          wells.push.apply(wells, rect({ r: r0, c: 0 }, { r: r1, c: columns - 1 }));
        } else if (/^\d+$/.test(a) && /^\d+$/.test(b)) {
          const c0 = Number(a) - 1, c1 = Number(b) - 1;
          if (Math.min(c0, c1) < 0 || Math.max(c0, c1) >= columns) { bad.push(token); return; }
          wells.push.apply(wells, rect({ r: 0, c: c0 }, { r: rows - 1, c: c1 }));
        } else {
          const pa = position(a), pb = position(b);
          if (!pa || !pb) { bad.push(token); return; }
          wells.push.apply(wells, rect(pa, pb));
        }
      });
      return { wells: wells, bad: bad };
    }

    function show(selector, message) {
      const box = root.querySelector(selector);
      if (!box) return;
      box.textContent = message || "";
      box.hidden = !message;
    }

    function selectRange() {
      const input = root.querySelector("#pm-range");
      const parsed = parseRanges(input.value);
      if (parsed.bad.length) {
        show("[data-range-error]", "Not a well or range of this plate: " + parsed.bad.join(", ") + ".");
        return;
      }
      if (!parsed.wells.length) {
        show("[data-range-error]", "Type wells, e.g. A1-A8 or B1:B12.");
        return;
      }
      show("[data-range-error]", "");
      select(parsed.wells);
      anchor = cursor = position(parsed.wells[0]);
      focusRoleInput();
    }

    // --- Setting roles --------------------------------------------------------------------

    function currentRole() {
      const checked = root.querySelector("input[name=pm-role]:checked");
      return checked ? checked.value : "standard";
    }

    function syncRoleFields() {
      const role = currentRole();
      root.querySelectorAll("[data-for-role]").forEach(function (field) {
        field.hidden = field.dataset.forRole.split(" ").indexOf(role) === -1;
      });
    }

    function setSelected(make) {
      selected.forEach(function (well) {
        const entry = make(well);
        if (entry) map[well] = entry;
        else delete map[well];
        problems.delete(well);
      });
      writeMap();
      drawAll();
    }

    function advance() {
      const b = bounds(selected);
      if (!b) return;
      const height = b.r1 - b.r0 + 1, width = b.c1 - b.c0 + 1;
      let r0 = b.r0, c0 = b.c1 + 1;
      if (c0 + width > columns) {
        c0 = origin ? origin.c0 : 0;
        r0 = b.r0 + height;
      }
      if (r0 + height > rows) {
        select([], true);
        show("[data-apply-error]", "That was the last block of the plate.");
        return;
      }
      select(rect({ r: r0, c: c0 }, { r: r0 + height - 1, c: c0 + width - 1 }), true);
      anchor = cursor = { r: r0, c: c0 };
    }

    function apply() {
      if (!selected.size) {
        show("[data-apply-error]", "Select wells first (click, drag or type a range).");
        return;
      }
      const role = currentRole();
      const dilution = parseNumber(root.querySelector("#pm-dilution").value || "1");
      let make;
      if (role === "standard") {
        const concentration = parseNumber(root.querySelector("#pm-concentration").value);
        if (concentration === null || concentration < 0) {
          show("[data-apply-error]", "Give the standard's concentration in µg/mL.");
          return;
        }
        make = function () { return { role: "standard", concentration: concentration }; };
      } else if (role === "sample" || role === "control") {
        if (dilution === null || dilution < 1) {
          show("[data-apply-error]", "The dilution is a factor of 1 or more (1:10 is 10).");
          return;
        }
        if (role === "sample") {
          const accession = root.querySelector("#pm-accession").value.trim().toUpperCase();
          if (!accession) {
            show("[data-apply-error]", "Scan or type the tube's accession.");
            return;
          }
          make = function () { return { role: "sample", accession: accession, dilution: dilution }; };
        } else {
          const name = root.querySelector("#pm-name").value.trim();
          make = function () {
            const entry = { role: "control", dilution: dilution };
            if (name) entry.name = name;
            return entry;
          };
        }
      } else if (role === "blank") {
        make = function () { return { role: "blank" }; };
      } else {
        make = function () { return null; };
      }
      show("[data-apply-error]", "");
      setSelected(make);
      if (role === "sample") {
        const accession = root.querySelector("#pm-accession");
        accession.value = "";
        if (root.querySelector("#pm-advance").checked) advance();
        accession.focus();
      }
    }

    function serialFill() {
      const top = parseNumber(root.querySelector("#pm-top").value);
      const factor = parseNumber(root.querySelector("#pm-factor").value);
      const b = bounds(selected);
      if (!b) {
        show("[data-serial-error]", "Select the standard wells first.");
        return;
      }
      if (top === null || top <= 0) {
        show("[data-serial-error]", "Give the top concentration in µg/mL.");
        return;
      }
      if (factor === null || factor <= 1) {
        show("[data-serial-error]", "The dilution factor between levels must be above 1 (2 halves each level).");
        return;
      }
      let direction = root.querySelector("#pm-direction").value;
      if (direction === "auto") direction = b.r1 - b.r0 >= b.c1 - b.c0 ? "down" : "across";
      const levels = direction === "down" ? b.r1 - b.r0 + 1 : b.c1 - b.c0 + 1;
      if (levels < 2) {
        show("[data-serial-error]", "A serial dilution needs at least two levels; select more " +
          (direction === "down" ? "rows." : "columns."));
        return;
      }
      const zero = root.querySelector("#pm-zero").checked;
      show("[data-serial-error]", "");
      // The standards are now given: an earlier "give the concentration" must not linger.
      show("[data-apply-error]", "");
      setSelected(function (well) {
        const p = position(well);
        const level = direction === "down" ? p.r - b.r0 : p.c - b.c0;
        const concentration = zero && level === levels - 1 ? 0 : roundLevel(top / Math.pow(factor, level));
        return { role: "standard", concentration: concentration };
      });
    }

    // Enter in a tool runs that tool; it must never submit the form half-done.
    root.querySelector(".plate-tools").addEventListener("keydown", function (event) {
      if (event.key !== "Enter" || event.target.tagName !== "INPUT") return;
      event.preventDefault();
      const id = event.target.id;
      if (id === "pm-range") selectRange();
      else if (id === "pm-top" || id === "pm-factor") serialFill();
      else apply();
    });
    root.querySelector("[data-select-range]").addEventListener("click", selectRange);
    root.querySelector("[data-apply]").addEventListener("click", apply);
    root.querySelector("[data-serial]").addEventListener("click", serialFill);
    root.querySelector("[data-clear]").addEventListener("click", function () {
      setSelected(function () { return null; });
    });
    root.querySelectorAll("input[name=pm-role]").forEach(function (radio) {
      radio.addEventListener("change", function () {
        syncRoleFields();
        focusRoleInput();
      });
    });
    if (readSelect) readSelect.addEventListener("change", drawAll);
    textarea.addEventListener("change", function () {
      const parsed = readMap();
      if (parsed === null) return;  // the server says what is wrong with hand-typed JSON
      map = parsed;
      drawAll();
    });

    const initial = readMap();
    if (initial === null) {
      show("[data-apply-error]", "The map's text is not valid JSON; fix it in the text box below or start again here.");
    } else {
      map = initial;
    }
    const details = form.querySelector("details[data-closed-with-js]");
    if (details) details.open = false;
    syncRoleFields();
    drawAll();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-plate-editor]").forEach(setup);
  });
})();
