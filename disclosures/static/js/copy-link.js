// Invitation links on staff pages: each is selectable text in a readonly input, which works
// without JavaScript. This adds a "Copy" button next to each one and says when it copied.
(function () {
  "use strict";

  function fallbackCopy(input) {
    input.focus();
    input.select();
    try { return document.execCommand("copy"); } catch (e) { return false; }
  }

  function addButton(input) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button small";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy the " + (input.getAttribute("aria-label") || "link").replace(/^I/, "i"));
    var status = document.createElement("span");
    status.className = "copy-status";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    input.insertAdjacentElement("afterend", button);
    button.insertAdjacentElement("afterend", status);

    var timer = null;
    function say(text) {
      status.textContent = text;
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { status.textContent = ""; }, 4000);
    }
    function copied() { say("Copied"); }
    function failed() {
      input.focus();
      input.select();
      say("Selected: press Ctrl+C (⌘C) to copy");
    }
    button.addEventListener("click", function () {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(copied, function () {
          if (fallbackCopy(input)) { copied(); } else { failed(); }
        });
      } else if (fallbackCopy(input)) {
        copied();
      } else {
        failed();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-copy-link]").forEach(function (input) {
      // Clicking into the link selects all of it, ready to copy by hand.
      input.addEventListener("focus", function () { input.select(); });
      addButton(input);
    });
  });
})();
