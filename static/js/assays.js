// Isolation pages: the step editor (add, remove, reorder steps; fields follow the kind;
// rotor RCF ↔ rpm hint) and the run form (add input / preparation rows, scanner Enter).
// Every page works without this script: the buttons it takes over re-render on the server.
"use strict";

(function () {
  document.documentElement.classList.add("js");

  function fromTemplate(template, prefix) {
    const html = template.innerHTML.replace(/__prefix__/g, prefix);
    const holder = document.createElement("div");
    holder.innerHTML = html.trim();
    return holder;
  }

  // --- Formsets: "Add a row" from a <template>, TOTAL_FORMS kept in step --------------------

  function addFormsetRow(container) {
    const name = container.dataset.formset || container.dataset.stepsPrefix;
    const total = container.querySelector("input[name='" + name + "-TOTAL_FORMS']");
    const template = container.querySelector("template[data-formset-template]");
    const body = container.querySelector("[data-formset-body]");
    if (!total || !template || !body) return null;
    const index = parseInt(total.value, 10) || 0;
    const holder = fromTemplate(template, String(index));
    const rows = Array.from(holder.children);
    rows.forEach(function (row) {
      body.appendChild(row);
    });
    total.value = String(index + 1);
    body.querySelectorAll("[data-row-number]").forEach(function (el, i) {
      el.textContent = String(i + 1);
    });
    const first = rows[0] && rows[0].querySelector("input, select, textarea");
    if (first) first.focus();
    return rows[0] || null;
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-formset-add]");
    if (!button) return;
    const container = button.closest("[data-formset]");
    if (!container) return;
    event.preventDefault();
    addFormsetRow(container);
  });

  // A barcode scanner types the accession and presses Enter: go to the volume, not submit.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter") return;
    const input = event.target.closest && event.target.closest("[data-scan]");
    if (!input) return;
    const row = input.closest("[data-formset-row]");
    const next = row && row.querySelector("input:not([data-scan]), select");
    // Outside a run-form row (e.g. picking the tube of a file) Enter submits as usual.
    if (!next) return;
    event.preventDefault();
    next.focus();
  });

  // --- Step editor ---------------------------------------------------------------------------

  const editor = document.querySelector("[data-step-editor]");
  if (!editor) return;
  const list = editor.querySelector("[data-step-list]");
  const total = editor.querySelector("input[name='steps-TOTAL_FORMS']");
  const centrifugation = (editor.dataset.centrifugationKinds || "").split(" ");
  const convertUrl = editor.dataset.convertUrl || "";

  function rows() {
    return Array.from(list.querySelectorAll("[data-step-form]"));
  }

  // Positions follow the rows' order on the page; removed rows keep theirs out of the way.
  function renumber() {
    let position = 0;
    rows().forEach(function (row) {
      const removed = row.querySelector("input[name$='-DELETE']");
      const order = row.querySelector("input[name$='-ORDER']");
      const number = row.querySelector("[data-step-number]");
      const gone = removed && removed.checked;
      row.classList.toggle("removed", !!gone);
      if (!gone) position += 1;
      if (order) order.value = gone ? "" : String(position);
      if (number) number.textContent = gone ? "–" : String(position);
    });
  }

  function showRotor(row) {
    const kind = row.querySelector("[data-step-kind]");
    const cell = row.querySelector("[data-rotor-field]");
    if (!kind || !cell) return;
    const uses = centrifugation.indexOf(kind.value) !== -1;
    cell.hidden = !uses;
    if (!uses) {
      const rotor = cell.querySelector("select");
      if (rotor) rotor.value = "";
    }
  }

  // Swap in the chosen kind's parameter fields, keeping values of parameters both kinds have.
  function switchKind(row) {
    const kind = row.querySelector("[data-step-kind]").value;
    const target = row.querySelector("[data-step-params]");
    const prefix = row.dataset.prefix;
    const template = editor.querySelector("template[data-kind-params='" + kind + "']");
    const old = {};
    target.querySelectorAll("input, select, textarea").forEach(function (field) {
      if (field.value) old[field.name] = field.value;
    });
    if (template) {
      const holder = fromTemplate(template, prefix.replace(/^steps-/, ""));
      target.replaceChildren.apply(target, Array.from(holder.childNodes));
      target.querySelectorAll("input, select, textarea").forEach(function (field) {
        if (old[field.name] !== undefined) field.value = old[field.name];
      });
    } else {
      target.replaceChildren();
    }
    showRotor(row);
    updateHint(row);
  }

  let hintTimer = null;
  function updateHint(row) {
    const hint = row.querySelector("[data-rotor-hint]");
    const rotor = row.querySelector("[data-step-rotor]");
    if (!hint || !rotor || !convertUrl) return;
    const rpm = row.querySelector("[name$='-p_rpm']");
    const force = row.querySelector("[name$='-p_g_force']");
    const basis = row.querySelector("[name$='-p_g_basis']");
    hint.textContent = "";
    if (!rotor.value || rotor.closest("[hidden]")) return;
    const query = new URLSearchParams();
    if (rpm && rpm.value.trim()) query.set("rpm", rpm.value.trim().replace(",", "."));
    else if (force && force.value.trim()) query.set("rcf", force.value.trim().replace(",", "."));
    else return;
    query.set("basis", basis && basis.value ? basis.value : "average");
    const url = convertUrl.replace(/\/0\//, "/" + encodeURIComponent(rotor.value) + "/");
    clearTimeout(hintTimer);
    hintTimer = setTimeout(function () {
      fetch(url + "?" + query.toString(), {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      })
        .then(function (response) {
          return response.json();
        })
        .then(function (data) {
          hint.textContent = data.text || (data.errors || []).join(" ");
          hint.classList.toggle("errorlist", !data.text);
        })
        .catch(function () {
          hint.textContent = "";
        });
    }, 250);
  }

  editor.addEventListener("change", function (event) {
    const row = event.target.closest("[data-step-form]");
    if (!row) return;
    if (event.target.matches("[data-step-kind]")) switchKind(row);
    else if (event.target.matches("input[name$='-DELETE']")) renumber();
    else if (event.target.matches("[data-step-rotor], [name$='-p_g_basis']")) updateHint(row);
  });

  editor.addEventListener("input", function (event) {
    if (!event.target.matches("[name$='-p_rpm'], [name$='-p_g_force']")) return;
    const row = event.target.closest("[data-step-form]");
    if (row) updateHint(row);
  });

  editor.addEventListener("click", function (event) {
    const add = event.target.closest("[data-add-step]");
    if (add) {
      event.preventDefault();
      const index = parseInt(total.value, 10) || 0;
      const holder = fromTemplate(editor.querySelector("#step-template"), String(index));
      const row = holder.firstElementChild;
      list.appendChild(row);
      total.value = String(index + 1);
      renumber();
      const kind = row.querySelector("[data-step-kind]");
      if (kind) kind.focus();
      return;
    }
    const move = event.target.closest("[data-move]");
    if (move) {
      const row = move.closest("[data-step-form]");
      if (move.dataset.move === "up" && row.previousElementSibling) {
        list.insertBefore(row, row.previousElementSibling);
      } else if (move.dataset.move === "down" && row.nextElementSibling) {
        list.insertBefore(row.nextElementSibling, row);
      }
      renumber();
      move.focus();
    }
  });

  rows().forEach(function (row) {
    showRotor(row);
    updateHint(row);
  });
  renumber();
})();
