// Box map: click an empty well to place a tube there, or scan tubes one after another into
// the next free wells. Without this script the same forms post and the page reloads.
"use strict";

(function () {
  function csrfToken(form) {
    const input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function setup() {
    const map = document.querySelector("[data-box-map]");
    if (!map) return;
    const placeForm = document.querySelector("[data-place-form]");
    const scanForm = document.querySelector("[data-scan-form]");
    const log = document.querySelector("[data-scan-log]");
    const occupiedCount = document.querySelector("[data-occupied-count]");
    const freeCounts = document.querySelectorAll("[data-free-count]");
    const bar = document.querySelector("[data-occupancy-bar]");
    const capacity = Number(map.dataset.rows) * Number(map.dataset.columns);

    function cell(label) {
      return map.querySelector('td[data-well="' + label + '"]');
    }

    function choose(label) {
      map.querySelectorAll("td.chosen").forEach(function (td) { td.classList.remove("chosen"); });
      const td = cell(label);
      if (td) td.classList.add("chosen");
      if (!placeForm) return;
      placeForm.querySelector("[name=position]").value = label;
      const accession = placeForm.querySelector("[name=accession]");
      accession.focus();
      accession.select();
    }

    // Empty wells (and the free-position chips) are submit buttons of a GET form; with the
    // script a click only chooses the well in the place form.
    document.addEventListener("click", function (event) {
      const button = event.target.closest('button[form="well-picker"][name="well"]');
      if (!button || !placeForm) return;
      event.preventDefault();
      choose(button.value);
    });

    function markPlaced(label, accession, url) {
      const td = cell(label);
      if (!td) return;
      const wasEmpty = td.classList.contains("empty");
      td.className = "well occupied just-placed";
      const link = document.createElement("a");
      link.href = url;
      const cut = accession.lastIndexOf("-") + 1;
      const prefix = document.createElement("span");
      prefix.className = "acc-prefix";
      prefix.textContent = accession.slice(0, cut);
      const number = document.createElement("span");
      number.className = "acc-number";
      number.textContent = accession.slice(cut);
      link.append(prefix, number);
      link.title = accession + " at " + label;
      td.replaceChildren(link);
      document.querySelectorAll('#free button[value="' + label + '"]').forEach(function (b) { b.remove(); });
      if (wasEmpty && occupiedCount) {
        const used = Number(occupiedCount.textContent) + 1;
        occupiedCount.textContent = used;
        freeCounts.forEach(function (count) {
          count.textContent = Math.max(0, capacity - used);
        });
        if (bar && capacity) bar.style.width = (100 * used / capacity).toFixed(1) + "%";
      }
    }

    function report(ok, text) {
      if (!log) return;
      const item = document.createElement("li");
      item.className = ok ? "ok" : "error";
      item.textContent = text;
      log.prepend(item);
      while (log.children.length > 50) log.lastChild.remove();
    }

    if (!scanForm) return;
    const input = scanForm.querySelector("[name=accession]");
    const start = scanForm.querySelector("[name=start]");
    let queue = Promise.resolve();

    // A scanner types the accession and Enter faster than the server answers: scans are
    // queued and sent one at a time so the wells fill in the order the tubes were scanned.
    function send(accession) {
      const body = new FormData(scanForm);
      body.set("accession", accession);
      body.set("start", start ? start.value : "");
      return fetch(scanForm.action, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": csrfToken(scanForm) },
      })
        .then(function (response) {
          return response.json().catch(function () {
            return { ok: false, message: "The server did not answer (" + response.status + ")." };
          });
        })
        .then(function (data) {
          if (data.ok) {
            if (data.result !== "already_here") markPlaced(data.position, data.accession, data.url);
            if (start && data.next !== undefined && data.result !== "already_here") start.value = data.next;
          }
          report(data.ok, data.message);
        })
        .catch(function () {
          report(false, accession + ": could not reach the server; scan it again.");
        });
    }

    scanForm.addEventListener("submit", function (event) {
      event.preventDefault();
      const accession = input.value.trim();
      input.value = "";
      input.focus();
      if (!accession) return;
      queue = queue.then(function () { return send(accession); });
    });

    document.querySelectorAll("[data-scan-toggle]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        document.querySelector("[data-scan-panel]").classList.add("scanning");
        input.focus();
      });
    });

    if (document.querySelector("[data-scan-panel].scanning")) input.focus();
    else if (placeForm && placeForm.querySelector("[name=position]").value) {
      placeForm.querySelector("[name=accession]").focus();
    }
  }

  document.addEventListener("DOMContentLoaded", setup);
})();
