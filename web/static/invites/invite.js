// Shows invite times in the visitor's own time zone (detected here, changeable with the picker).
// Without JavaScript the server already shows each time with its zone name.
(function () {
  "use strict";

  function parts(date, zone) {
    var fmt = new Intl.DateTimeFormat("en-US", {
      timeZone: zone, weekday: "short", day: "numeric", month: "short",
      year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23"
    });
    var out = {};
    fmt.formatToParts(date).forEach(function (p) { out[p.type] = p.value; });
    if (out.hour === "24") { out.hour = "00"; }
    return out;
  }

  // The same text as scheduler.invites.format_span: "Tue 1 Dec, 12:00–12:45 (Europe/Berlin)".
  function label(startIso, endIso, zone) {
    var a = parts(new Date(startIso), zone);
    var b = parts(new Date(endIso), zone);
    var text = a.weekday + " " + a.day + " " + a.month + ", " + a.hour + ":" + a.minute + "\u2013";
    if (a.day !== b.day || a.month !== b.month || a.year !== b.year) {
      text += b.weekday + " ";
    }
    return text + b.hour + ":" + b.minute + " (" + zone + ")";
  }

  function apply(zone) {
    document.querySelectorAll("time.when").forEach(function (el) {
      var end = el.getAttribute("data-end");
      if (end) { el.textContent = label(el.getAttribute("datetime"), end, zone); }
    });
    document.querySelectorAll("input.tz-field").forEach(function (input) { input.value = zone; });
  }

  function start() {
    var detected = "";
    try { detected = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { detected = ""; }
    var select = document.getElementById("tz");
    document.querySelectorAll(".js-hide").forEach(function (el) { el.hidden = true; });
    if (!select) {
      if (detected) { apply(detected); }
      return;
    }
    if (typeof Intl.supportedValuesOf === "function") {
      // The server lists common zones only (a small page); add every zone this browser knows.
      var listed = {};
      Array.prototype.forEach.call(select.options, function (o) { listed[o.value] = true; });
      Intl.supportedValuesOf("timeZone").forEach(function (name) {
        if (!listed[name]) {
          var extra = document.createElement("option");
          extra.value = name;
          extra.textContent = name.replace(/_/g, " ");
          select.appendChild(extra);
        }
      });
    }
    var zone = select.getAttribute("data-explicit") === "1" ? select.value : (detected || select.value);
    if (zone && !Array.prototype.some.call(select.options, function (o) { return o.value === zone; })) {
      var option = document.createElement("option");
      option.value = zone;
      option.textContent = zone.replace(/_/g, " ");
      select.appendChild(option);
    }
    select.value = zone;
    apply(zone);
    select.addEventListener("change", function () { apply(select.value); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
