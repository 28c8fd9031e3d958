/* action-widget embed: <script async src=".../embed.js" data-campaign="..."></script>
   Draws the widget in an iframe right after its own script tag and keeps the iframe as tall as
   its content. No dependencies; one global (ActionWidget) so that several tags share one listener. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.dataset.campaign) return;
  var base = new URL(".", script.src);
  var widgetOrigin = base.origin;
  var d = script.dataset;

  var src = new URL("w/" + encodeURIComponent(d.campaign), base);
  src.searchParams.set("host", location.origin);
  if (d.partner) src.searchParams.set("partner", d.partner);
  if (d.lang) src.searchParams.set("lang", d.lang);
  if (d.theme) src.searchParams.set("theme", d.theme);

  var frame = document.createElement("iframe");
  frame.src = src.href;
  frame.title = d.title || "Take action";
  frame.loading = "lazy";
  frame.setAttribute("allow", "clipboard-write");
  frame.style.cssText = "display:block;width:100%;max-width:42rem;height:640px;border:0;margin:0 auto;overflow:hidden";
  script.parentNode.insertBefore(frame, script.nextSibling);

  var registry = window.ActionWidget = window.ActionWidget || { frames: [] };
  registry.frames.push({ frame: frame, origin: widgetOrigin });
  if (registry.listening) return;
  registry.listening = true;
  window.addEventListener("message", function (event) {
    var data = event.data && event.data.actionWidget;
    if (!data || typeof data.height !== "number") return;
    registry.frames.forEach(function (entry) {
      // Only our own widget's origin, and only the iframe that sent the message.
      if (event.origin === entry.origin && event.source === entry.frame.contentWindow) {
        entry.frame.style.height = Math.max(200, Math.ceil(data.height)) + "px";
        if (typeof data.title === "string") entry.frame.title = data.title.slice(0, 200);
        if (typeof data.scrollTo === "number") {
          var top = entry.frame.getBoundingClientRect().top + window.scrollY + data.scrollTo;
          window.scrollTo({ top: Math.max(0, top), behavior: "smooth" });
        }
      }
    });
  });
})();
