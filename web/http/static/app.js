// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // Preselect the browser's time zone on first setup, if the list has it.
    var select = document.querySelector("select[data-detect-zone]");
    if (select && window.Intl && Intl.DateTimeFormat) {
      var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (zone) {
        var listed = false;
        for (var i = 0; i < select.options.length; i++) {
          if (select.options[i].value === zone) { select.value = zone; listed = true; break; }
        }
        // A browser may name its zone by an alias the list leaves out (Asia/Calcutta): the
        // server accepts any name of a zone, so offer it as it is.
        if (!listed && zone.indexOf("/") > 0) {
          var option = new Option(zone, zone, true, true);
          select.insertBefore(option, select.firstChild);
          select.value = zone;
        }
      }
    }
    // City type-ahead: fill the input's datalist from the cities endpoint as the user types.
    document.querySelectorAll("input[data-cities]").forEach(function (input) {
      var list = document.getElementById(input.getAttribute("list"));
      var timer = null;
      input.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(function () {
          if (input.value.trim().length < 2 || !list || !window.fetch) { return; }
          fetch(input.getAttribute("data-cities") + "?q=" + encodeURIComponent(input.value), {
            credentials: "same-origin"
          }).then(function (r) { return r.ok ? r.json() : { cities: [] }; }).then(function (data) {
            list.replaceChildren();
            data.cities.forEach(function (c) {
              var option = document.createElement("option");
              option.value = c.label;
              list.appendChild(option);
            });
          });
        }, 150);
      });
    });
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
