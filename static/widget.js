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
  if (!host || window.parent === window || !window.ResizeObserver) return;
  try { host = new URL(host).origin; } catch (e) { return; }
  var target = document.getElementById("error-summary") || document.querySelector(".result h1");
  var scrollTo = target ? Math.max(0, target.getBoundingClientRect().top - 16) : null;
  var last = 0;
  new ResizeObserver(function () {
    var height = Math.ceil(document.body.getBoundingClientRect().height);
    if (height === last) return;
    last = height;
    var message = { height: height };
    if (scrollTo !== null) { message.scrollTo = scrollTo; scrollTo = null; }
    window.parent.postMessage({ actionWidget: message }, host);
  }).observe(document.body);
})();
