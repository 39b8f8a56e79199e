// Progressive enhancement only: every page works without JavaScript.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // Move focus to an error summary so screen readers announce it.
    var summary = document.querySelector(".error-summary");
    if (summary) { summary.focus(); }
    // A table wider than the screen scrolls sideways: make it reachable by keyboard and
    // name the region after its caption or the nearest heading.
    document.querySelectorAll(".table-wrap").forEach(function (wrap) {
      if (wrap.scrollWidth <= wrap.clientWidth + 1 || wrap.hasAttribute("tabindex")) { return; }
      var caption = wrap.querySelector("caption");
      var heading = caption;
      var node = wrap;
      while (!heading && node) {
        var prev = node.previousElementSibling;
        while (prev && !/^H[1-6]$/.test(prev.tagName)) { prev = prev.previousElementSibling; }
        if (prev) { heading = prev; } else { node = node.parentElement; }
      }
      wrap.setAttribute("tabindex", "0");
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-label", (heading ? heading.textContent.trim() + ": " : "") + "table, scrolls sideways");
    });
    // Buttons that ask before a destructive action: data-confirm="message".
    document.querySelectorAll("[data-confirm]").forEach(function (el) {
      el.addEventListener("click", function (event) {
        if (!window.confirm(el.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  });
})();
