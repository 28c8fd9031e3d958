/* Enhancements only: the widget works without this file. */
(function () {
  "use strict";

  // "Copy the letter" button, shown only where the clipboard API exists.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    if (!navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.dataset.copy);
      navigator.clipboard.writeText(source.value).then(function () {
        var label = button.textContent;
        button.textContent = button.dataset.copied;
        setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  });

  // After a submit, move focus to what changed: the error summary or the result heading.
  var target = document.getElementById("error-summary") || document.querySelector(".result h1[tabindex]");
  if (target) target.focus({ preventScroll: window.parent !== window });
})();

/* Inside a partner's page: tell the embedding page (and only it) how tall the widget is, and
   after a submit where to scroll so the supporter sees the result. */
(function () {
  "use strict";
  var host = new URLSearchParams(location.search).get("host");
  if (!host || window.parent === window) return;
  try { host = new URL(host).origin; } catch (e) { return; }
  var target = document.getElementById("error-summary") || document.querySelector(".result h1");
  var scrollTo = target ? Math.max(0, target.getBoundingClientRect().top - 16) : null;
  var last = -1;
  function tell() {
    var height = Math.ceil(document.body.getBoundingClientRect().height);
    if (height === last) return;
    last = height;
    var message = { height: height, title: document.title };
    if (scrollTo !== null) { message.scrollTo = scrollTo; scrollTo = null; }
    window.parent.postMessage({ actionWidget: message }, host);
  }
  // The first message also tells embed.js that the widget loaded (else it shows a link); it
  // goes at once, as a frame hidden behind that link is not laid out, so not observed.
  tell();
  if (window.ResizeObserver) new ResizeObserver(tell).observe(document.body);
  else window.addEventListener("resize", tell);
})();

/* The live counter: asks for the count every few seconds while the widget is visible. The ETag
   makes an unchanged count a 304 with no body; errors back off up to a minute. */
(function () {
  "use strict";
  var box = document.querySelector("[data-counter-url]");
  var number = box && box.querySelector("[data-count]");
  if (!number || !window.fetch) return;
  var url = box.dataset.counterUrl;
  var format = new Intl.NumberFormat(document.documentElement.lang || undefined);
  var progress = box.querySelector("progress");
  var still = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var label = box.querySelector(".count-label");
  var announce = box.querySelector("[data-count-announce]");
  var plural = window.Intl && Intl.PluralRules ? new Intl.PluralRules(document.documentElement.lang) : null;
  var every = 5000, delay = every, timer = null;

  function show(count) {
    var from = Number(number.dataset.count);
    if (count === from) return;
    number.dataset.count = String(count);
    if (progress) progress.value = Math.min(count, Number(progress.max));
    label.textContent = plural && plural.select(count) === "one" ? label.dataset.one : label.dataset.other;
    announce.textContent = format.format(count) + " " + label.textContent;
    var final = format.format(count);
    if (still || count < from) { number.textContent = final; return; }
    // Count up; an offscreen iframe gets no animation frames, so a timer settles the number.
    var start = null;
    function step(time) {
      if (number.dataset.count !== String(count)) return;
      if (start === null) start = time;
      var t = Math.min(1, (time - start) / 600);
      number.textContent = format.format(Math.round(from + (count - from) * (1 - Math.pow(1 - t, 3))));
      if (t < 1) requestAnimationFrame(step);
    }
    requestAnimationFrame(step);
    setTimeout(function () {
      if (number.dataset.count === String(count)) number.textContent = final;
    }, 700);
  }

  // The campaign's offline actions, on their own line: data-count stays the online count.
  var offline = box.querySelector("[data-offline]");
  function showOffline(count) {
    if (!offline || typeof count !== "number" || String(count) === offline.dataset.offline) return;
    offline.dataset.offline = String(count);
    offline.hidden = count === 0;
    var text = plural && plural.select(count) === "one" ? offline.dataset.one : offline.dataset.other;
    offline.textContent = text.replace("{n}", format.format(count));
  }

  function poll() {
    timer = null;
    if (document.hidden) return;
    fetch(url, { cache: "no-cache", credentials: "omit" })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then(function (data) { delay = every; show(data.count); showOffline(data.offline); })
      .catch(function () { delay = Math.min(delay * 2, 60000); })
      .then(schedule);
  }

  function schedule() {
    if (timer === null && !document.hidden) timer = setTimeout(poll, delay);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { clearTimeout(timer); timer = null; } else { poll(); }
  });
  schedule();
})();
