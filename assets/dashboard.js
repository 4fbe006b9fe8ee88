(function () {
  var ms = Number(document.body.getAttribute("data-refresh-ms")) || 1000;
  function tick() {
    var u = new URL(location.href);
    u.searchParams.set("format", "html");
    fetch(u, { headers: { Accept: "text/html" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html");
        var next = fresh.querySelector("main"), cur = document.querySelector("main");
        if (next && cur) cur.replaceWith(document.adoptNode(next));
        var st = document.getElementById("live");
        if (st) st.textContent = "live";
      })
      .catch(function () {
        var st = document.getElementById("live");
        if (st) st.textContent = "not reachable, retrying";
      })
      .finally(function () { setTimeout(tick, ms); });
  }
  setTimeout(tick, ms);
})();
