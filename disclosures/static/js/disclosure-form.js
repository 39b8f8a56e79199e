// The disclosure form, enhanced. Without JavaScript the "Add another" and "Remove" buttons
// submit the form and the server re-renders it with every typed value kept.
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  ready(function () {
    var form = document.querySelector(".disclosure-form");
    if (!form) { return; }
    var rows = form.querySelector("[data-rows]");
    var template = document.getElementById("relationship-row-template");
    var addButton = form.querySelector("[data-add-row]");
    var datalist = document.getElementById("company-suggestions");

    function renumber() {
      rows.querySelectorAll("[data-row]").forEach(function (row, i) {
        var label = row.querySelector("[data-row-number]");
        if (label) { label.textContent = "Relationship " + (i + 1); }
      });
    }

    function nextIndex() {
      var max = -1;
      rows.querySelectorAll("[name]").forEach(function (el) {
        var m = /^relationships-(\d+)-/.exec(el.getAttribute("name"));
        if (m) { max = Math.max(max, parseInt(m[1], 10)); }
      });
      return max + 1;
    }

    function syncOngoing(row) {
      var ongoing = row.querySelector("[data-ongoing]");
      var ended = row.querySelector("input[name$='-ended_on']");
      if (!ongoing || !ended) { return; }
      ended.disabled = ongoing.checked;
      if (ongoing.checked) { ended.value = ""; }
    }

    if (addButton && template && rows) {
      addButton.addEventListener("click", function (event) {
        event.preventDefault();
        var index = String(nextIndex());
        var html = template.innerHTML.split("__index__").join(index).split("__number__").join("");
        var holder = document.createElement("div");
        holder.innerHTML = html.trim();
        var row = holder.firstElementChild;
        rows.appendChild(row);
        renumber();
        var first = row.querySelector("input, select");
        if (first) { first.focus(); }
      });
    }

    form.addEventListener("click", function (event) {
      var button = event.target.closest("[data-remove-row]");
      if (!button || !rows || !rows.contains(button)) { return; }
      event.preventDefault();
      var row = button.closest("[data-row]");
      var all = rows.querySelectorAll("[data-row]");
      if (all.length === 1) {
        row.querySelectorAll("input, select").forEach(function (el) {
          if (el.type === "checkbox") { el.checked = false; } else { el.value = ""; }
          el.disabled = false;
        });
      } else {
        row.parentNode.removeChild(row);
      }
      renumber();
      if (addButton) { addButton.focus(); }
    });

    form.addEventListener("change", function (event) {
      if (event.target.matches("[data-ongoing]")) { syncOngoing(event.target.closest("[data-row]")); }
    });
    if (rows) { rows.querySelectorAll("[data-row]").forEach(syncOngoing); }

    // Company suggestions from the registry (names and aliases), as the person types.
    if (datalist) {
      var url = datalist.getAttribute("data-suggest-url");
      var timer = null;
      var lastQuery = "";
      form.addEventListener("input", function (event) {
        if (!event.target.matches("[data-company-input]")) { return; }
        var query = event.target.value.trim();
        if (query.length < 2 || query === lastQuery) { return; }
        window.clearTimeout(timer);
        timer = window.setTimeout(function () {
          lastQuery = query;
          fetch(url + "?q=" + encodeURIComponent(query), { credentials: "same-origin", headers: { "Accept": "application/json" } })
            .then(function (response) { return response.ok ? response.json() : []; })
            .then(function (items) {
              datalist.textContent = "";
              items.forEach(function (item) {
                var option = document.createElement("option");
                option.value = item.name;
                if (item.alias) { option.label = item.alias + " → " + item.name; }
                datalist.appendChild(option);
              });
            })
            .catch(function () { /* suggestions are a convenience; typing still works */ });
        }, 200);
      });
    }
  });
})();
