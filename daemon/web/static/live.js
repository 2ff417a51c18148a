// Live passages: every few seconds fetch the table body for the same filters and replace
// the rows when the newest passage changed. The page works without it (reload).
(function () {
  var body = document.getElementById("rows");
  if (!body || !window.fetch) { return; }
  var url = body.getAttribute("data-poll");
  var every = 1000 * Number(body.getAttribute("data-every") || "3");
  var newest = body.getAttribute("data-newest") || "";
  function poll() {
    fetch(url, {credentials: "same-origin", cache: "no-store"}).then(function (r) {
      if (r.status === 200 && r.headers.get("X-Newest") !== newest) {
        newest = r.headers.get("X-Newest") || "";
        return r.text().then(function (html) { body.innerHTML = html; });
      }
      if (r.status === 401 || r.redirected) { window.location.reload(); }
    }).catch(function () {}).then(function () { setTimeout(poll, every); });
  }
  setTimeout(poll, every);
})();
