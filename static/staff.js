/* Staff pages: the embed-code generator updates its snippet and preview as you choose. */
(function () {
  "use strict";
  var form = document.getElementById("embed-form");
  if (!form) return;
  var snippet = document.getElementById("snippet");
  var preview = document.getElementById("embed-preview");
  var copy = document.getElementById("copy-snippet");
  var base = new URL(form.dataset.widget).href.replace(/[^/]*$/, "");

  function attr(name, value) { return value ? " data-" + name + '="' + value + '"' : ""; }

  function update() {
    var campaign = form.campaign.value, partner = form.partner.value, lang = form.lang.value;
    var accent = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.test(form.accent.value.trim()) ? form.accent.value.trim() : "";
    if (accent && accent[0] !== "#") accent = "#" + accent;
    var theme = form.theme.value + (accent ? " " + accent : "");
    var page = base + encodeURIComponent(campaign);
    var view = form.view.value, width = form.width.value;
    snippet.value = '<script async src="' + form.dataset.script + '"' + attr("campaign", campaign) +
      attr("partner", partner) + attr("lang", lang) + attr("theme", theme) +
      attr("view", view === "full" ? "" : view) + attr("width", width) + "></script>\n" +
      '<noscript><a href="' + page + (partner ? "?partner=" + encodeURIComponent(partner) : "") +
      '">Take action</a></noscript>';
    var query = new URLSearchParams({ partner: partner, lang: lang, theme: theme, view: view });
    preview.src = page + "?" + query.toString();
  }

  form.addEventListener("change", update);
  form.accent.addEventListener("input", update);
  if (navigator.clipboard) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      navigator.clipboard.writeText(snippet.value).then(function () { copy.textContent = "Copied"; });
    });
  }
})();
