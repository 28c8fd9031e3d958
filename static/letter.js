/* The letter, kept in step with what the supporter does: edits to it, the name typed in the sign
   form and the letter's language change every target's email link, copy and post. Enhancement
   only: without this file the page's links carry the letter as the campaign wrote it. The rules
   mirror widget/take_action.py (mailto, joined; each target's greetings come from there, in
   data-openings); the tests hold both to them. */
(function () {
  "use strict";
  var section = document.querySelector("[data-letter]");
  if (!section) return;
  var box = document.getElementById("sample-letter");
  var picker = document.getElementById("letter-language");
  var posted = section.querySelector("[data-letter-language]");
  var announce = section.querySelector("[data-letter-announce]");
  var limit = parseInt(section.dataset.limit, 10);
  var intents = {
    x: "https://x.com/intent/post?text=",
    bluesky: "https://bsky.app/intent/compose?text="
  };
  var letters = {};
  section.querySelectorAll("template[data-letter-text]").forEach(function (template) {
    letters[template.dataset.letterText] = {
      text: template.content.textContent,
      subject: template.dataset.subject,
      dir: template.dataset.dir
    };
  });
  var language = box.lang;
  var edits = {};

  function nameInput() { return document.getElementById("name"); }

  // RFC 6068 as Python's quote(safe=""): encodeURIComponent leaves !'()* as they are.
  function encode(text) {
    return encodeURIComponent(text).replace(/[!'()*]/g, function (c) {
      return "%" + c.charCodeAt(0).toString(16).toUpperCase();
    });
  }

  function mailto(address, subject, body) {
    var link = "mailto:" + encode(address).replace(/%40/g, "@") + "?subject=" + encode(subject);
    if (body) link += "&body=" + encode(body.replace(/\r\n/g, "\n").replace(/\n/g, "\r\n"));
    return link;
  }

  function joined(opening, letter, name) {
    var parts = [opening, letter.trim(), name.trim()];
    var body = "";
    parts.forEach(function (part, index) {
      if (!part) return;
      body += (index === 1 && body ? "\n\n" : body ? "\n" : "") + part;
    });
    return body;
  }

  // The target's greeting for the letter's language: text, language and direction to show,
  // and the line the letter starts with.
  function openingFor(target) {
    return JSON.parse(target.dataset.openings || "{}")[language];
  }

  function bodyFor(target) {
    var input = nameInput();
    var name = input ? input.value.slice(0, 120) : "";
    var opening = openingFor(target);
    return joined(opening ? opening.line : "", box.value, name);
  }

  function update() {
    var subject = letters[language].subject;
    section.ownerDocument.querySelectorAll("[data-target]").forEach(function (target) {
      var body = bodyFor(target);
      var link = target.querySelector("a.email-letter");
      if (link) {
        var href = mailto(target.dataset.email, subject, body);
        var fits = href.length <= limit;
        link.href = fits ? href : mailto(target.dataset.email, subject, "");
        target.querySelector("[data-too-long]").hidden = fits;
      }
      var shown = target.querySelector("[data-greeting]");
      var opening = openingFor(target);
      if (shown && opening) {
        shown.textContent = opening.text;
        shown.lang = opening.language;
        shown.dir = opening.direction;
      }
      var post = target.querySelector("a.social-post");
      if (post) {
        post.href = intents[post.dataset.social] + encode(post.dataset.handle + " " + subject);
      }
    });
  }

  function choose(code) {
    edits[language] = box.value;
    language = code;
    var letter = letters[code];
    box.value = edits[code] !== undefined ? edits[code] : letter.text;
    box.lang = code;
    box.dir = letter.dir;
    if (posted) posted.value = code;
    update();
    if (announce && picker) {
      var option = picker.options[picker.selectedIndex];
      var name = option.textContent.trim();
      announce.textContent = announce.dataset.switched.replace("{language}", name);
    }
  }

  if (picker) {
    var show = section.querySelector("[data-letter-show]");
    if (show) show.hidden = true;
    picker.addEventListener("change", function () { choose(picker.value); });
  }
  // The edited letter goes with the sign form, so a form error brings it back; one too long
  // for the form's body limit stays behind, so the signature is never refused for it.
  var sign = document.getElementById("sign-form");
  if (sign) {
    sign.addEventListener("submit", function () {
      var size = encodeURIComponent(box.value.replace(/\r?\n/g, "\r\n")).length;
      if (size <= parseInt(section.dataset.postBytes, 10)) box.name = "letter_text";
      else box.removeAttribute("name");
    });
  }
  box.addEventListener("input", update);
  document.addEventListener("input", function (event) {
    if (event.target === nameInput()) update();
  });

  function copy(target, button) {
    navigator.clipboard.writeText(bodyFor(target)).then(function () {
      if (button.dataset.label === undefined) button.dataset.label = button.textContent;
      button.textContent = button.dataset.copied;
      setTimeout(function () { button.textContent = button.dataset.label; }, 2000);
    });
  }

  if (navigator.clipboard) {
    document.querySelectorAll("[data-target]").forEach(function (target) {
      var button = target.querySelector("button[data-copy-letter]");
      if (!button) return;
      button.hidden = false;
      button.addEventListener("click", function () { copy(target, button); });
      // A letter too long for the link is copied as the link opens the email, to paste there.
      var link = target.querySelector("a.email-letter");
      if (link) {
        link.addEventListener("click", function () {
          if (!target.querySelector("[data-too-long]").hidden) copy(target, button);
        });
      }
    });
  }
  update();
})();
