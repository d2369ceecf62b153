// Instrument-file uploads: a drop zone that sends each file on its own (XHR + CSRF) and
// shows a row per file whose status updates live (received → processing → parsed /
// failed / needs review) by polling a small JSON endpoint, with no page reload.
// Server-rendered rows with data-file-id / data-final="false" are kept live the same way.
// Without this script the drop zone is a plain multi-file form.
"use strict";

(function () {
  document.documentElement.classList.add("js");

  const FINAL = new Set(["parsed", "failed", "needs_review"]);
  const POLL_MS = 1500;
  const POLL_MAX_MS = 10000;
  const STATUS_LABELS = {
    uploading: "Uploading",
    received: "Received",
    processing: "Processing",
    parsed: "Parsed",
    failed: "Failed",
    needs_review: "Needs review",
    refused: "Not uploaded",
  };

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([key, value]) {
      if (value === null || value === undefined) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value);
    });
    (children || []).forEach(function (child) {
      node.append(child);
    });
    return node;
  }

  // As the server writes sizes (exolims.upload_handlers.format_bytes).
  function sizeText(bytes) {
    if (bytes < 1024) return bytes.toLocaleString("en-GB") + " bytes";
    let value = bytes;
    let unit = "";
    for (const next of ["KiB", "MiB", "GiB", "TiB"]) {
      value /= 1024;
      unit = next;
      if (value < 1024) break;
    }
    return value.toFixed(1) + " " + unit;
  }

  function csrfToken(root) {
    const input = root.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function statusPill(status, label) {
    return el("span", {
      className: "status file-status file-status-" + status,
      text: label || STATUS_LABELS[status] || status,
    });
  }

  // The "Details" cell of a row, as templates/assays/files/_row_detail.html writes it.
  function detailNodes(file) {
    if (file.status === "failed") {
      return [el("span", { className: "file-error", text: file.error || "Processing failed." })];
    }
    if (file.status === "needs_review") {
      return [
        el("span", { className: "file-review", text: file.review_reason || "Needs review." }),
        " ",
        el("a", { href: file.url + "#resolve", text: "Pick the tube" }),
      ];
    }
    if (file.status === "parsed") {
      // What the file produced (plate, qPCR run, flow, DLS, particles), as
      // templates/assays/files/_outputs.html writes it.
      const nodes = [];
      (file.outputs || []).forEach(function (output, index) {
        if (index) nodes.push("; ");
        nodes.push(el("a", { href: output.url, className: "result-link", text: output.text }));
        if (output.action_url) {
          nodes.push(" – ", el("a", { href: output.action_url, className: "result-action", text: output.action_text }));
        }
      });
      // Only a file filed on one tube says so; a plate or qPCR run is on no single tube.
      if (file.aliquot) {
        nodes.push(nodes.length ? " on " : "Filed on ");
        nodes.push(el("a", { href: file.aliquot_url, className: "mono", text: file.aliquot }));
      }
      if (!nodes.length) nodes.push(el("span", { className: "muted", text: "no results you can open" }));
      return nodes;
    }
    if (file.status === "processing") return [el("span", { className: "muted", text: "parsing…" })];
    return [el("span", { className: "muted", text: "waiting to be processed…" })];
  }

  // --- Live rows ---------------------------------------------------------------------

  // Every element showing a file (server-rendered or added here), by file id.
  const watched = new Map();
  let statusesUrl = null;
  let timer = null;
  let delay = POLL_MS;

  function watch(node, id) {
    const key = String(id);
    if (!watched.has(key)) watched.set(key, new Set());
    watched.get(key).add(node);
    node.dataset.fileId = key;
    schedule();
  }

  function apply(file) {
    const nodes = watched.get(String(file.id));
    if (!nodes) return;
    nodes.forEach(function (node) {
      node.dataset.final = file.final ? "true" : "false";
      node.dataset.status = file.status;
      const statusCell = node.querySelector(".file-status-cell");
      if (statusCell) statusCell.replaceChildren(statusPill(file.status, file.status_label));
      const detailCell = node.querySelector(".file-detail-cell");
      if (detailCell) detailCell.replaceChildren(...detailNodes(file));
      const nameCell = node.querySelector(".file-name-cell");
      if (nameCell && !nameCell.querySelector("a")) {
        nameCell.replaceChildren(el("a", { href: file.url, text: file.name }));
      }
      if (file.final && node.hasAttribute("data-reload-when-final")) {
        window.location.reload();
      }
    });
  }

  function pendingIds() {
    const ids = [];
    watched.forEach(function (nodes, id) {
      const open = Array.from(nodes).some(function (node) {
        return node.isConnected && node.dataset.final !== "true";
      });
      if (open) ids.push(id);
    });
    return ids;
  }

  function schedule() {
    if (timer !== null || !statusesUrl || !pendingIds().length) return;
    timer = window.setTimeout(poll, delay);
  }

  function poll() {
    timer = null;
    const ids = pendingIds().slice(0, 100);
    if (!ids.length) return;
    const query = ids.map(function (id) {
      return "id=" + encodeURIComponent(id);
    });
    fetch(statusesUrl + "?" + query.join("&"), {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (body) {
        delay = POLL_MS;
        (body.files || []).forEach(apply);
      })
      .catch(function () {
        // The server or network is away for a moment: try again, less often.
        delay = Math.min(delay * 2, POLL_MAX_MS);
      })
      .finally(schedule);
  }

  // --- Drop zone -----------------------------------------------------------------------

  function setupUploader(root) {
    const form = root.querySelector("form");
    const input = root.querySelector("input[type=file]");
    const zone = root.querySelector("[data-dropzone]");
    const wrap = root.querySelector(".upload-rows-wrap");
    const tbody = root.querySelector(".upload-rows tbody");
    const maxBytes = parseInt(root.dataset.maxBytes || "0", 10) || 0;
    const maxText = root.dataset.maxText || "";
    const uploadUrl = root.dataset.uploadUrl;


    function field(name) {
      const node = form.elements.namedItem(name);
      return node && "value" in node ? node.value : "";
    }

    function addRow(file) {
      const row = el("tr", { className: "upload-row", "data-final": "false" }, [
        el("td", { className: "file-name-cell", text: file.name }),
        el("td", { className: "num nowrap", text: sizeText(file.size) }),
        el("td", { className: "file-status-cell" }, [statusPill("uploading")]),
        el("td", { className: "file-detail-cell" }, [
          el("progress", { max: "100", value: "0", "aria-label": "Upload progress" }),
        ]),
      ]);
      tbody.prepend(row);
      wrap.hidden = false;
      document.querySelectorAll("[data-hide-when-uploading]").forEach(function (node) {
        node.hidden = true;
      });
      return row;
    }

    function refuse(row, message, links) {
      row.dataset.final = "true";
      row.classList.add("refused");
      row.querySelector(".file-status-cell").replaceChildren(statusPill("refused"));
      row
        .querySelector(".file-detail-cell")
        .replaceChildren(el("span", { className: "file-error", text: message }), ...(links || []));
    }

    function uploaded(row, status, body) {
      const file = body.file;
      row.querySelector(".file-name-cell").replaceChildren(el("a", { href: file.url, text: file.name }));
      if (status === 200 && body.duplicate) {
        row.classList.add("duplicate");
        row.dataset.final = "true";
        row.querySelector(".file-status-cell").replaceChildren(
          el("span", { className: "status file-status file-status-duplicate", text: "Already uploaded" })
        );
        row.querySelector(".file-detail-cell").replaceChildren(
          el("span", { text: (body.message || "Already uploaded.") + " " }),
          el("a", { href: file.url, className: "existing-link", text: "Open the existing record" }),
          " (" + file.status_label.toLowerCase() + ")."
        );
        return;
      }
      watch(row, file.id);
      apply(file);
    }

    function send(file) {
      const row = addRow(file);
      if (maxBytes && file.size > maxBytes) {
        refuse(row, file.name + " is larger than the upload limit of " + maxText + "; it was not sent.");
        return;
      }
      const data = new FormData();
      data.append("file", file, file.name);
      data.append("aliquot", field("aliquot"));
      data.append("instrument", field("instrument"));
      const xhr = new XMLHttpRequest();
      xhr.open("POST", uploadUrl);
      xhr.setRequestHeader("X-CSRFToken", csrfToken(root));
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (event) {
        const bar = row.querySelector("progress");
        if (bar && event.lengthComputable) bar.value = Math.round((event.loaded / event.total) * 100);
      });
      xhr.addEventListener("load", function () {
        let body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch (error) {
          body = null;
        }
        if ((xhr.status === 200 || xhr.status === 201) && body) {
          uploaded(row, xhr.status, body);
        } else if (xhr.status === 409 && body && body.duplicate) {
          row.dataset.final = "true";
          row.classList.add("duplicate");
          row.querySelector(".file-status-cell").replaceChildren(
            el("span", { className: "status file-status file-status-duplicate", text: "Already uploaded" })
          );
          row.querySelector(".file-detail-cell").replaceChildren(el("span", { text: body.message }));
        } else if (xhr.status === 413) {
          refuse(row, (body && body.message) || file.name + " is larger than the upload limit" + (maxText ? " of " + maxText : "") + ".");
        } else if (xhr.status === 403 && !body) {
          refuse(row, "The upload was refused (your session may have expired). Reload the page and try again.");
        } else if (body && body.message) {
          refuse(row, body.message);
        } else {
          refuse(row, "The server could not take this file (HTTP " + xhr.status + "). Try again.");
        }
      });
      xhr.addEventListener("error", function () {
        refuse(row, "The upload did not reach the server (network error). Try again.");
      });
      xhr.send(data);
    }

    function sendAll(files) {
      Array.from(files || []).forEach(send);
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      sendAll(input.files);
      input.value = "";
    });
    input.addEventListener("change", function () {
      sendAll(input.files);
      input.value = "";
    });
    // The whole zone opens the file chooser; the (visually hidden) input keeps the focus
    // and keyboard handling of a real control.
    zone.addEventListener("click", function (event) {
      if (event.target.closest("label, input, a")) return;
      input.click();
    });
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
        zone.classList.add("dragging");
      });
    });
    ["dragleave", "dragend"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        if (event.type === "dragleave" && zone.contains(event.relatedTarget)) return;
        zone.classList.remove("dragging");
      });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("dragging");
      if (event.dataTransfer) sendAll(event.dataTransfer.files);
    });
  }

  function start() {
    const source = document.querySelector("[data-statuses-url]");
    statusesUrl = source ? source.dataset.statusesUrl : null;
    document.querySelectorAll("[data-uploader]").forEach(setupUploader);
    document.querySelectorAll("[data-file-id]").forEach(function (node) {
      watch(node, node.dataset.fileId);
    });
    // A file dropped next to, not on, the zone would make the browser leave the page.
    if (document.querySelector("[data-uploader]")) {
      window.addEventListener("dragover", function (event) {
        event.preventDefault();
      });
      window.addEventListener("drop", function (event) {
        event.preventDefault();
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
