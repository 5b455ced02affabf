// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // Preselect the browser's time zone on first setup, if the list has it.
    var select = document.querySelector("select[data-detect-zone]");
    if (select && window.Intl && Intl.DateTimeFormat) {
      var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (zone) {
        for (var i = 0; i < select.options.length; i++) {
          if (select.options[i].value === zone) { select.value = zone; break; }
        }
      }
    }
    // Tell the user what a destructive button will do before it happens (a button on a page
    // that is itself the question is marked data-confirmed and asks nothing more).
    document.querySelectorAll("button.danger:not([data-confirmed])").forEach(function (button) {
      button.addEventListener("click", function (event) {
        var question = button.getAttribute("data-confirm") || button.textContent.trim() + "?";
        if (!window.confirm(question)) { event.preventDefault(); }
      });
    });
  });
})();
