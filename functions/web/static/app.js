// The dashboard's own script (served from this origin; the CSP allows no other).
// 1. Polled panels send If-None-Match with the ETag of what they show: an unchanged panel is a 304
//    without a body, which htmx leaves alone (htmx-config in base.html).
// 2. Times are shown in the reader's time zone.
(function () {
  "use strict";
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) { el.textContent = when.toLocaleString(); el.title = el.getAttribute("datetime"); }
    });
  }
  document.addEventListener("htmx:configRequest", function (event) {
    var tag = event.detail.elt.getAttribute("data-etag");
    if (tag) { event.detail.headers["If-None-Match"] = tag; }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail.xhr;
    var tag = xhr && xhr.status === 200 ? xhr.getResponseHeader("ETag") : null;
    if (tag) { event.detail.elt.setAttribute("data-etag", tag); }
  });
  document.addEventListener("htmx:afterSwap", function (event) { localTimes(event.detail.target); });
  // 3. Forms that take a local date-time send the browser's UTC offset with it (minutes east of UTC).
  function utcOffsets(root) {
    root.querySelectorAll("input[data-utc-offset]").forEach(function (el) {
      el.value = String(-new Date().getTimezoneOffset());
    });
  }
  // 4. A file input with data-fills="ID" puts the chosen file's text into that textarea (sent with the form).
  function fileFills(root) {
    root.querySelectorAll("input[type=file][data-fills]").forEach(function (input) {
      input.addEventListener("change", function () {
        var target = document.getElementById(input.getAttribute("data-fills"));
        if (!target || !input.files.length) { return; }
        input.files[0].text().then(function (text) { target.value = text; });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document); utcOffsets(document); fileFills(document);
  });
})();
