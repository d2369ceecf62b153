// Marker and imaging forms: the MISEV category shown beside a marker as it is typed (from
// the vocabulary's lookup endpoint), "Add a row" for the panel and image rows, and a scanned
// tube accession moving on to the next field instead of submitting the form.
// Every page works without this script.
"use strict";

(function () {
  const DELAY_MS = 150;
  const timers = new WeakMap();
  const asked = new WeakMap();

  function outputFor(input) {
    const scope = input.closest(".marker-field, td") || input.parentElement;
    return scope ? scope.querySelector("[data-marker-category]") : null;
  }

  function show(output, data, typed) {
    output.replaceChildren();
    output.classList.remove("unknown");
    if (!typed) return;
    if (!data || !data.category) {
      output.classList.add("unknown");
      output.textContent = "Not in the marker vocabulary";
      return;
    }
    const code = document.createElement("span");
    code.className = "category-code";
    code.textContent = data.category;
    output.appendChild(code);
    const label = data.category_label.replace(/^\S+\s·\s/, "");
    let text = label;
    if (data.family) text += " — " + data.symbol + " (family " + data.family + ")";
    else if (data.symbol && data.symbol !== typed.toUpperCase()) text += " — " + data.symbol;
    output.appendChild(document.createTextNode(text));
  }

  function lookUp(input) {
    const form = input.closest("[data-lookup-url]");
    const output = outputFor(input);
    if (!form || !output) return;
    const typed = input.value.trim();
    if (!typed) {
      show(output, null, "");
      return;
    }
    // Answers may arrive out of order: only the one for the latest text is shown.
    const ticket = {};
    asked.set(input, ticket);
    const url = form.dataset.lookupUrl + "?q=" + encodeURIComponent(typed);
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 404) return null;
        if (!response.ok) throw new Error("lookup failed");
        return response.json();
      })
      .then(function (data) {
        if (asked.get(input) === ticket) show(output, data, typed);
      })
      .catch(function () {
        if (asked.get(input) === ticket) output.replaceChildren();
      });
  }

  function schedule(input) {
    clearTimeout(timers.get(input));
    timers.set(input, setTimeout(function () { lookUp(input); }, DELAY_MS));
  }

  document.addEventListener("input", function (event) {
    const input = event.target.closest && event.target.closest("[data-marker-lookup]");
    if (input) schedule(input);
  });
  document.addEventListener("change", function (event) {
    const input = event.target.closest && event.target.closest("[data-marker-lookup]");
    if (input) lookUp(input);
  });

  // A scanner types the accession and presses Enter: go on to the next field.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter") return;
    const input = event.target.closest && event.target.closest("[data-scan]");
    const form = input && input.closest("form[data-marker-form]");
    if (!form) return;
    const fields = Array.from(form.querySelectorAll("input:not([type=hidden]), select, textarea"));
    const next = fields[fields.indexOf(input) + 1];
    if (!next) return;
    event.preventDefault();
    next.focus();
  });

  // "Add a row": a copy of the <template> with the next form index, TOTAL_FORMS kept in step.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-rows-add]");
    if (!button) return;
    const container = button.closest("[data-rows]");
    const prefix = container && container.dataset.rows;
    const total = container && container.querySelector("input[name='" + prefix + "-TOTAL_FORMS']");
    const template = container && container.querySelector("template[data-rows-template]");
    const body = container && container.querySelector("[data-rows-body]");
    if (!total || !template || !body) return;
    event.preventDefault();
    const index = parseInt(total.value, 10) || 0;
    const holder = document.createElement("template");
    holder.innerHTML = template.innerHTML.replace(/__prefix__/g, String(index)).trim();
    const row = holder.content.firstElementChild;
    if (!row) return;
    body.appendChild(row);
    total.value = String(index + 1);
    body.querySelectorAll("[data-row-number]").forEach(function (el, i) {
      el.textContent = String(i + 1);
    });
    const first = row.querySelector("input, select, textarea");
    if (first) first.focus();
  });

  document.addEventListener("DOMContentLoaded", function () {
    // A form shown again (with problems) already has markers typed in.
    document.querySelectorAll("[data-marker-lookup]").forEach(function (input) {
      if (input.value.trim()) lookUp(input);
    });
    document.querySelectorAll("[data-rows-template]").forEach(function (template) {
      const container = template.closest("[data-rows]");
      const total = container && container.querySelector("input[name$='-TOTAL_FORMS']");
      const max = container && container.querySelector("input[name$='-MAX_NUM_FORMS']");
      if (total && max && parseInt(total.value, 10) >= parseInt(max.value, 10)) {
        const add = container.querySelector("[data-rows-add]");
        if (add) add.disabled = true;
      }
    });
  });
})();
