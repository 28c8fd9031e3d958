/* action-widget embed: <script async src=".../embed.js" data-campaign="..."></script>
   Draws the widget in an iframe after its own tag, as tall as its content; a link to the action
   while the widget does not answer. No dependencies; one global, ActionWidget. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.dataset.campaign) return;
  var base = new URL(".", script.src);
  var d = script.dataset;
  var view = /^(compact|counter)$/.test(d.view) ? d.view : "full";

  var src = new URL("w/" + encodeURIComponent(d.campaign), base);
  if (d.partner) src.searchParams.set("partner", d.partner);
  if (d.lang) src.searchParams.set("lang", d.lang);
  if (d.theme) src.searchParams.set("theme", d.theme);
  // a shared link's source code (?ref=) on the partner's page goes on to the widget
  var ref = new URLSearchParams(location.search).get("ref");
  if (ref) src.searchParams.set("ref", ref);
  var action = src.href;
  src.searchParams.set("host", location.origin);
  src.searchParams.set("page", location.origin + location.pathname);
  if (view !== "full") src.searchParams.set("view", view);

  // Start near the final height for this view and room, so the page hardly jumps.
  var narrow = (script.parentNode.clientWidth || innerWidth) < 520;
  var height = { full: narrow ? 3600 : 2800, compact: narrow ? 1180 : 1040, counter: 220 }[view];
  var frame = document.createElement("iframe");
  frame.src = src.href;
  frame.title = d.title || "Take action";
  frame.loading = "lazy";
  frame.setAttribute("allow", "clipboard-write");
  frame.style.cssText = "display:block;width:100%;" + (d.width === "full" ? "" : "max-width:42rem;") +
    "height:" + height + "px;border:0;margin:0 auto;overflow:hidden";
  script.parentNode.insertBefore(frame, script.nextSibling);

  var registry = window.ActionWidget = window.ActionWidget || { frames: [] };
  var entry = { frame: frame, origin: base.origin };
  registry.frames.push(entry);

  // The widget posts its height once drawn; silence means framing refused, unreachable, or
  // slow (2G, Tor): the frame is hidden, not dropped, behind a link, and comes back if it answers.
  function giveUp() {
    if (entry.answered || !frame.parentNode) return;
    var line = entry.line = document.createElement("p");
    var link = line.appendChild(document.createElement("a"));
    link.href = action;
    link.textContent = frame.title;
    frame.style.display = "none";
    frame.parentNode.insertBefore(line, frame);
    console.warn("action-widget: campaign \"" + d.campaign + "\" did not load here; readers get " +
      "a link instead. To show it, ask its organisation to allow the origin " + location.origin +
      " for this campaign" + (d.partner ? " or partner \"" + d.partner + "\"" : "") + ".");
  }
  function wait() { setTimeout(giveUp, 15000); }
  // A lazy frame loads (and a cross-site one is drawn) only near the screen: wait from then.
  if (window.IntersectionObserver) {
    var seen = new IntersectionObserver(function (changes) {
      if (changes[0].isIntersecting) { seen.disconnect(); wait(); }
    });
    seen.observe(frame);
  } else wait();

  if (registry.listening) return;
  registry.listening = true;
  window.addEventListener("message", function (event) {
    var data = event.data && event.data.actionWidget;
    if (!data || typeof data.height !== "number") return;
    registry.frames.forEach(function (entry) {
      // Only our own widget's origin, and only the iframe that sent the message.
      if (event.origin === entry.origin && event.source === entry.frame.contentWindow) {
        entry.answered = true;
        if (entry.line) {
          entry.line.remove();
          entry.line = null;
          entry.frame.style.display = "block";
        }
        entry.frame.style.height = Math.max(120, Math.ceil(data.height)) + "px";
        if (typeof data.title === "string") entry.frame.title = data.title.slice(0, 200);
        if (typeof data.scrollTo === "number") {
          var top = entry.frame.getBoundingClientRect().top + window.scrollY + data.scrollTo;
          window.scrollTo({ top: Math.max(0, top), behavior: "smooth" });
        }
      }
    });
  });
})();
