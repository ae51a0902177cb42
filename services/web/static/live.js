// Short polling: when the case's version changes (a step answered), reload the page, unless
// the person is typing in a form.
(function () {
  var body = document.body, url = body.getAttribute("data-version-url");
  if (!url) return;
  var seen = body.getAttribute("data-version");
  function busy() {
    var a = document.activeElement;
    return a && (a.tagName === "INPUT" || a.tagName === "TEXTAREA" || a.tagName === "SELECT") && a.value;
  }
  setInterval(function () {
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d && d.version && d.version !== seen && !busy()) location.reload(); })
      .catch(function () {});
  }, 1500);
})();
