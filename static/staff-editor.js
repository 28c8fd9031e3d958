/* The campaign editor: language tabs with their completeness, target groups added, removed and
   moved in place, and a preview that follows typing. Without it the form does all of this by
   posting (the buttons are ordinary submit buttons), and the preview shows the saved version. */
(function () {
  "use strict";
  var form = document.getElementById("campaign-form");
  if (!form) return;

  /* Tabs: one panel shown at a time; each tab says whether its five texts are filled in. */
  var tabList = form.querySelector(".tab-list");
  var tabs = Array.prototype.slice.call(tabList.querySelectorAll("[role=tab]"));
  var panels = Array.prototype.slice.call(form.querySelectorAll(".tab-panel"));
  var missingLabel = document.documentElement.lang === "en" ? "Missing: " : "";

  function showTab(index) {
    tabs.forEach(function (tab, i) {
      tab.setAttribute("aria-selected", i === index ? "true" : "false");
      tab.tabIndex = i === index ? 0 : -1;
      panels[i].hidden = i !== index;
    });
  }

  function completeness(index) {
    var panel = panels[index];
    var status = panel.querySelector(".tab-status");
    var missing = Array.prototype.filter.call(panel.querySelectorAll("[data-text]"), function (input) {
      return !input.value.trim();
    }).map(function (input) { return input.dataset.text; });
    var done = missing.length === 0;
    status.textContent = done ? status.dataset.complete : (status.dataset.missing || missingLabel) + missing.join(", ");
    status.classList.toggle("complete", done);
    tabs[index].querySelector(".tab-marker").textContent = done ? "✓" : "…";
    tabs[index].setAttribute("title", status.textContent);
  }

  if (tabs.length > 1) {
    tabList.hidden = false;
    tabs.forEach(function (tab, i) {
      tab.addEventListener("click", function () { showTab(i); });
      tab.addEventListener("keydown", function (event) {
        var step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (!step) return;
        var next = (i + step + tabs.length) % tabs.length;
        showTab(next);
        tabs[next].focus();
      });
    });
    var firstWithError = panels.findIndex(function (panel) { return panel.querySelector(".error"); });
    showTab(firstWithError > 0 ? firstWithError : 0);
  }
  panels.forEach(function (panel, i) {
    panel.addEventListener("input", function () { completeness(i); });
  });

  /* Targets: the same buttons as without JavaScript, done in place, names renumbered. */
  var list = form.querySelector(".target-list");
  var prefix = /^targets-\d+-/;

  function renumber() {
    var items = list.querySelectorAll(".target");
    Array.prototype.forEach.call(items, function (item, i) {
      item.dataset.index = i;
      ["name", "id", "for", "aria-describedby"].forEach(function (attr) {
        Array.prototype.forEach.call(item.querySelectorAll("[" + attr + "]"), function (el) {
          el.setAttribute(attr, el.getAttribute(attr).replace(prefix, "targets-" + i + "-"));
        });
      });
      var legend = item.querySelector(".target-legend");
      legend.textContent = legend.textContent.replace(/\d+/, String(i + 1));
      Array.prototype.forEach.call(item.querySelectorAll("button[data-move]"), function (button) {
        button.value = button.dataset.move + "-" + i;
        if (button.dataset.move === "up") button.disabled = i === 0;
        if (button.dataset.move === "down") button.disabled = i === items.length - 1;
      });
    });
  }

  function emptied(item) {
    Array.prototype.forEach.call(item.querySelectorAll("input, textarea"), function (el) { el.value = ""; });
    Array.prototype.forEach.call(item.querySelectorAll(".error"), function (el) { el.remove(); });
    Array.prototype.forEach.call(item.querySelectorAll(".has-error"), function (el) { el.classList.remove("has-error"); });
    Array.prototype.forEach.call(item.querySelectorAll("[aria-invalid]"), function (el) {
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
    });
    return item;
  }

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button[name=editor]");
    if (!button || (!button.dataset.move && button.id !== "add-target")) return;
    event.preventDefault();
    var item = button.closest(".target");
    var focus;
    if (button.id === "add-target") {
      focus = list.appendChild(emptied(list.querySelector(".target").cloneNode(true)));
    } else if (button.dataset.move === "remove") {
      if (list.querySelectorAll(".target").length > 1) {
        focus = item.nextElementSibling || item.previousElementSibling;
        item.remove();
      } else {
        focus = emptied(item);
      }
    } else if (button.dataset.move === "up" && item.previousElementSibling) {
      list.insertBefore(item, item.previousElementSibling);
    } else if (button.dataset.move === "down" && item.nextElementSibling) {
      list.insertBefore(item.nextElementSibling, item);
    }
    renumber();
    if (focus) focus.querySelector("input").focus();
    else button.disabled ? item.querySelector("input").focus() : button.focus();
    schedule();
  });

  /* The preview: the form, unsaved, drawn by the server as the widget page; nothing is stored. */
  var frame = document.getElementById("preview-frame");
  var holder = frame.parentNode;
  /* Without JavaScript the frame shows the saved page (its src); here the preview replaces it
     at once, so it gets a fresh frame with no src: setting srcdoc on a frame still loading
     its src raced that load (the frame changed documents twice). */
  var fresh = frame.cloneNode(false);
  fresh.removeAttribute("src");
  holder.replaceChild(fresh, frame);
  frame = fresh;
  var status = document.getElementById("preview-status");
  var controls = document.querySelector(".preview-controls");
  var language = document.getElementById("preview-lang");
  var widthButtons = controls.querySelectorAll("[data-width]");
  var width = 360;
  var timer = null;
  var sent = 0;

  function fit() {
    var scale = Math.min(1, holder.clientWidth / width);
    frame.style.width = width + "px";
    frame.style.height = Math.round(holder.clientHeight / scale) + "px";
    frame.style.transform = scale < 1 ? "scale(" + scale + ")" : "";
    Array.prototype.forEach.call(widthButtons, function (button) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.width) === width));
    });
  }

  function refresh() {
    var body = new FormData(form);
    body.delete("upload");
    body.delete("editor");
    body.set("preview_lang", language.value);
    var number = ++sent;
    fetch(form.dataset.preview, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (number !== sent) return;
        if (answer.html) {
          frame.srcdoc = answer.html;
          status.textContent = "";
          holder.classList.remove("stale");
        } else {
          status.textContent = answer.error;
          holder.classList.add("stale");
        }
      })
      .catch(function () {
        if (number === sent) status.textContent = status.dataset.offline || "The preview could not be updated.";
      });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  }

  controls.hidden = false;
  document.querySelector(".preview-note").hidden = true;
  Array.prototype.forEach.call(widthButtons, function (button) {
    button.addEventListener("click", function () { width = Number(button.dataset.width); fit(); });
  });
  language.addEventListener("change", refresh);
  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  window.addEventListener("resize", fit);
  fit();
  refresh();
})();
