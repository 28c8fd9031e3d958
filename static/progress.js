/* After signing: ask, with the receipt only this page holds, whether the supporter has
   confirmed (in another tab, on their phone), and then move on to "Thank you" and the share
   step. No cookie, no storage: the receipt lives in this page and dies with it. */
(function () {
  "use strict";
  var box = document.querySelector("[data-progress-url]");
  var waiting = document.querySelector("[data-waiting]");
  var done = document.querySelector("[data-confirmed]");
  if (!box || !waiting || !done || !window.fetch || !window.URLSearchParams) return;
  var start = Date.now();
  var until = start + Number(box.dataset.lifetime) * 1000;
  var failed = 0, timer = null, finished = false;

  // Often while the supporter is likely in their mailbox, then less and less: every 5 s for
  // two minutes, every 20 s to ten minutes, then once a minute until the link expires.
  function every() {
    var age = Date.now() - start;
    return age < 120000 ? 5000 : age < 600000 ? 20000 : 60000;
  }

  function moveOn() {
    finished = true;
    waiting.hidden = true;
    done.hidden = false;
    var heading = done.querySelector("h1");
    document.title = heading.textContent;
    heading.focus({ preventScroll: window.parent !== window });
  }

  function poll() {
    timer = null;
    if (finished || document.hidden || Date.now() > until) return;
    var body = new URLSearchParams();
    body.set("receipt", box.dataset.receipt);
    fetch(box.dataset.progressUrl, { method: "POST", body: body, credentials: "omit", cache: "no-store" })
      .then(function (response) {
        if (response.ok) return response.json();
        backOff(Number(response.headers.get("Retry-After")));
        return null;
      })
      .then(function (data) {
        if (!data) return;
        failed = 0;
        if (data.state === "confirmed") moveOn();
      })
      .catch(function () { backOff(0); })
      .then(schedule);
  }

  // over the limit: as long as asked (Retry-After), else twice as long each time, to a minute
  function backOff(seconds) {
    failed = seconds > 0 ? seconds * 1000 : Math.min((failed || 5000) * 2, 60000);
  }

  function schedule() {
    if (!finished && timer === null && !document.hidden) timer = setTimeout(poll, Math.max(every(), failed));
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { clearTimeout(timer); timer = null; } else if (timer === null) { poll(); }
  });
  schedule();
})();

/* The share step: the browser's own share sheet where it has one (Web Share API). */
(function () {
  "use strict";
  document.querySelectorAll("button[data-web-share]").forEach(function (button) {
    if (!navigator.share) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.share({ title: button.dataset.title, url: button.dataset.url }).catch(function () {});
    });
  });
})();
