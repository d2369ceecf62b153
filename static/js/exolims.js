// ExoLIMS page helpers: small, framework-free, and every page works without them.
"use strict";

(function () {
  function isTyping(target) {
    if (!target) return false;
    const tag = target.tagName;
    return target.isContentEditable || tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }

  // "/" jumps to the search box, as in many web apps, unless the user is typing in a field.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (isTyping(event.target)) return;
    const box = document.getElementById("global-search");
    if (!box) return;
    event.preventDefault();
    box.focus();
    box.select();
  });

  // Copy buttons: <button data-copy="#element-id">.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    const text = source.textContent.trim();
    const done = function () {
      button.textContent = "Copied";
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
    } else {
      // Plain-HTTP intranets have no clipboard API: select the text for Ctrl+C instead.
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      button.textContent = "Press Ctrl+C";
    }
  });

  // Sample form: show only the fieldsets that apply to the chosen fluid. A hidden fieldset is
  // also disabled so its stale values are not submitted.
  function syncFluidFieldsets(form) {
    const fluid = form.querySelector("[name=fluid_type]");
    if (!fluid) return;
    form.querySelectorAll("fieldset[data-fluids]").forEach(function (fieldset) {
      const applies = fieldset.dataset.fluids.split(" ").indexOf(fluid.value) !== -1;
      const show = applies || fieldset.classList.contains("has-errors");
      fieldset.hidden = !show;
      fieldset.disabled = !show;
    });
  }

  // Sample form: reload the donor list when the study changes (donors belong to one study).
  function reloadDonors(form) {
    const study = form.querySelector("[name=study]");
    const donor = form.querySelector("[name=donor]");
    const url = form.dataset.donorOptionsUrl;
    if (!study || !donor || !url || study.disabled) return;
    const keep = donor.options[0] && donor.options[0].value === "" ? donor.options[0] : null;
    donor.replaceChildren();
    if (keep) donor.appendChild(keep);
    if (!study.value) return;
    fetch(url + "?study=" + encodeURIComponent(study.value), {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        return response.ok ? response.json() : { donors: [] };
      })
      .then(function (data) {
        data.donors.forEach(function (item) {
          donor.appendChild(new Option(item.code, item.id));
        });
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-sample-form]").forEach(function (form) {
      syncFluidFieldsets(form);
      const fluid = form.querySelector("[name=fluid_type]");
      if (fluid) fluid.addEventListener("change", function () { syncFluidFieldsets(form); });
      const study = form.querySelector("[name=study]");
      if (study) study.addEventListener("change", function () { reloadDonors(form); });
    });
  });
})();
