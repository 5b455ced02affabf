// The invite pages without a page load where the browser can: times in the visitor's own zone
// (detected here, changeable with the searchable picker) on the clock of their locale, the
// "choose, then confirm" step in place, and the email's decline/suggest links landing on their
// section. Without JavaScript the server does each of these with plain links and forms.
(function () {
  "use strict";

  function uses12Hour() {
    try {
      var opts = new Intl.DateTimeFormat(navigator.language || undefined, { hour: "numeric" }).resolvedOptions();
      if (opts.hourCycle) { return opts.hourCycle === "h11" || opts.hourCycle === "h12"; }
      return !!opts.hour12;
    } catch (e) {
      return false;
    }
  }

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

  // scheduler.invites.clock_time: "13:05", or "1:05 PM" on a 12-hour clock.
  function clock(p, hour12) {
    if (!hour12) { return p.hour + ":" + p.minute; }
    var h = parseInt(p.hour, 10);
    return ((h % 12) || 12) + ":" + p.minute + (h < 12 ? " AM" : " PM");
  }

  // The same text as scheduler.invites.format_span: "Tue 1 Dec, 12:00–12:45 (Europe/Berlin)".
  function label(startIso, endIso, zone, hour12) {
    var a = parts(new Date(startIso), zone);
    var b = parts(new Date(endIso), zone);
    var text = a.weekday + " " + a.day + " " + a.month + ", " + clock(a, hour12) + "\u2013";
    if (a.day !== b.day || a.month !== b.month || a.year !== b.year) {
      text += b.weekday + " ";
    }
    return text + clock(b, hour12) + " (" + zone + ")";
  }

  function apply(zone, hour12) {
    document.querySelectorAll("time.when").forEach(function (el) {
      var end = el.getAttribute("data-end");
      if (end) {
        el.textContent = label(el.getAttribute("datetime"), end, zone, hour12);
        var row = el.closest("li");
        var sr = row && row.querySelector("a.choose .sr");
        if (sr) { sr.textContent = " " + el.textContent; }
      }
    });
    document.querySelectorAll("input.tz-field").forEach(function (input) { input.value = zone; });
    document.querySelectorAll(".tz-shown").forEach(function (el) { el.textContent = zone; });
  }

  function allZones() {
    var names = [];
    if (typeof Intl.supportedValuesOf === "function") {
      try { names = Intl.supportedValuesOf("timeZone"); } catch (e) { names = []; }
    }
    return names;
  }

  // Case and accents aside ("São Paulo" is "sao paulo"), as scheduler.text.fold compares.
  function fold(text) {
    return text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  // The server's twin: web.http.blueprints.invites.typed_zone ("berlin", "New York",
  // "europe/berlin"). What this list does not know, the server may (old names such as
  // Asia/Katmandu in the browser's list, Asia/Kathmandu on the server): the form then asks it.
  function resolver(list) {
    var byKey = {};
    Array.prototype.forEach.call(list.options, function (o) {
      byKey[fold(o.value)] = o.value;
      var city = fold(o.value.split("/").pop().replace(/_/g, " "));
      if (!byKey[city]) { byKey[city] = o.value; }
    });
    return function (text) {
      var key = fold((text || "").trim().replace(/_/g, " ").replace(/\s+/g, " "));
      return byKey[key] || byKey[key.replace(/ /g, "_")] || "";
    };
  }

  function setUpPicker(hour12, detected) {
    var input = document.getElementById("tz");
    var list = document.getElementById("tz-list");
    var form = document.getElementById("zone-form");
    var error = document.getElementById("tz-error");
    if (!input || !list || !form) { return; }
    var listed = {};
    Array.prototype.forEach.call(list.options, function (o) { listed[o.value] = true; });
    allZones().forEach(function (name) {
      if (!listed[name]) {
        var extra = document.createElement("option");
        extra.value = name;
        extra.label = name.split("/").pop().replace(/_/g, " ");
        list.appendChild(extra);
        listed[name] = true;
      }
    });
    if (detected && !listed[detected]) {
      var own = document.createElement("option");
      own.value = detected;
      list.appendChild(own);
    }
    var find = resolver(list);
    var zone = input.getAttribute("data-explicit") === "1" ? input.value : (detected || input.value);
    input.value = zone;
    apply(zone, hour12);

    function choose(report) {
      var found = find(input.value);
      if (found) {
        input.value = found;
        if (error) { error.hidden = true; error.textContent = ""; }
        input.removeAttribute("aria-invalid");
        apply(found, hour12);
      } else if (report && error) {
        error.textContent = "We know no time zone called \u201c" + input.value + "\u201d. Try a city such as Berlin.";
        error.hidden = false;
        input.setAttribute("aria-invalid", "true");
      }
      return found;
    }
    input.addEventListener("change", function () { choose(true); });
    input.addEventListener("input", function () { if (listed[input.value]) { choose(false); } });
    form.addEventListener("submit", function (event) {
      // Known here: shown at once. Unknown here: the page is asked again with ?tz= and the
      // server, which knows more names, shows the times or says it knows no such zone.
      if (choose(false)) { event.preventDefault(); }
    });
  }

  // Choose, then confirm: the first tap opens the time's confirm button, the second books.
  function setUpConfirm() {
    var items = document.querySelectorAll("ul.times > li");
    function close(li) {
      var form = li.querySelector("form.confirm");
      var link = li.querySelector("a.choose");
      if (form) { form.hidden = true; }
      if (link) { link.hidden = false; }
      li.classList.remove("picked");
    }
    items.forEach(function (li) {
      var link = li.querySelector("a.choose");
      var back = li.querySelector("form.confirm a.back");
      if (link) {
        link.addEventListener("click", function (event) {
          event.preventDefault();
          items.forEach(close);
          li.classList.add("picked");
          link.hidden = true;
          var form = li.querySelector("form.confirm");
          form.hidden = false;
          form.querySelector("button").focus();
        });
      }
      if (back) {
        back.addEventListener("click", function (event) {
          event.preventDefault();
          close(li);
          if (link) { link.focus(); }
        });
      }
    });
  }

  // The email's "None of these work?" and "Not now?" links (?action=suggest / ?action=decline).
  function focusSection() {
    var match = /[?&]action=(decline|suggest)(?:&|$)/.exec(window.location.search);
    if (!match || /[?&]pick=/.test(window.location.search)) { return; }
    var section = document.getElementById(match[1]);
    if (!section) { return; }
    section.scrollIntoView({ block: "start" });
    var field = section.querySelector("textarea");
    (field || section).focus({ preventScroll: true });
  }

  function start() {
    var detected = "";
    try { detected = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { detected = ""; }
    var hour12 = uses12Hour();
    document.querySelectorAll(".js-hide").forEach(function (el) { el.hidden = true; });
    if (document.getElementById("tz")) {
      setUpPicker(hour12, detected);
    } else if (detected) {
      apply(detected, hour12);
    }
    setUpConfirm();
    focusSection();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
