// The Contribute page (and the Write page, for its shortcuts): local expiry times and a
// countdown of the hold, the keyboard shortcuts (and their dialog), and the ranking list
// (drag and drop by mouse or touch through SortableJS, keyboard moves, Move up / Move down
// buttons, spoken announcements). Without this script the page still works: the hold's time
// is the server's, and the ranking is given with one number per answer.
(function () {
  "use strict";

  function reducedMotion() {
    return Boolean(window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches);
  }

  // Inputs that take no typing: a key pressed on them may be a shortcut.
  var NOT_TYPED = ["checkbox", "radio", "button", "submit", "reset", "image", "file", "range", "color"];

  function isTyping(element) {
    if (!element || !element.tagName) return false;
    var tag = element.tagName.toLowerCase();
    if (tag === "input") return NOT_TYPED.indexOf((element.type || "").toLowerCase()) === -1;
    return tag === "textarea" || tag === "select" || element.isContentEditable;
  }

  function hasModifier(event) {
    return event.ctrlKey || event.metaKey || event.altKey;
  }

  // Shortcuts of one key (1 to 5, ?) can be turned off in the shortcuts dialog (WCAG 2.1.4):
  // speech input or another tool can press them by mistake. The choice is kept in this browser.
  var SINGLE_KEYS = "hearth:single-keys";
  var singleKeysOff = false;

  function singleKeysOn() {
    try {
      return window.localStorage.getItem(SINGLE_KEYS) !== "off";
    } catch (error) {
      return true;
    }
  }

  function singleKeysSwitch() {
    singleKeysOff = !singleKeysOn();
    var box = document.querySelector("[data-single-keys]");
    if (!box) return;
    box.checked = !singleKeysOff;
    box.addEventListener("change", function () {
      try {
        if (box.checked) window.localStorage.removeItem(SINGLE_KEYS);
        else window.localStorage.setItem(SINGLE_KEYS, "off");
      } catch (error) {
        // Storage refused (a private mode): the choice lasts as long as the page.
      }
      singleKeysOff = !box.checked;
    });
  }

  // The page's language for dates and numbers, not the browser's: an English browser on a
  // Spanish page wrote "hasta las 04:52 PM". The browser's own variant of that language where
  // it has one (en-GB on an English page keeps its 24-hour clock).
  function pageLocale() {
    var lang = document.documentElement.lang;
    if (!lang) return undefined;
    var preferred = navigator.languages || [navigator.language];
    for (var i = 0; i < preferred.length; i++) {
      var tag = preferred[i] || "";
      if (tag.toLowerCase().split("-")[0] === lang.toLowerCase().split("-")[0]) return tag;
    }
    return lang;
  }

  // "Held until 14:32 UTC" in the volunteer's own clock, with the day when it is not today
  // (a policy may hold tasks for up to a week).
  function localTimes() {
    var today = new Date().toDateString();
    var locale = pageLocale();
    document.querySelectorAll("time[data-local-time]").forEach(function (node) {
      var when = new Date(node.getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        var clock = { hour: "2-digit", minute: "2-digit" };
        node.textContent =
          when.toDateString() === today
            ? when.toLocaleTimeString(locale, clock)
            : when.toLocaleString(locale, Object.assign({ weekday: "short", day: "numeric", month: "short" }, clock));
        node.title = when.toLocaleString(locale);
      }
    });
  }

  // The hold's time left, kept current: "(9 minutes left)" counts down while the page is
  // open, and when the hold runs out the page says what sending now will do. Counted from the
  // seconds the server gave, not from the browser's clock, which may be off from the server's.
  // Only one minute left and the end are spoken, never each tick. The end comes on time, not
  // at the next tick: a timer is set for it, so Submit never stays on past it.
  var EXPIRY_TICK_MS = 15 * 1000;
  // The longest delay a browser's timer takes (about 24.8 days); a longer one fires at once.
  var MAX_TIMER_MS = 2147483647;

  // "1 hour, 5 minutes" in the page's language, rounded up to the minute, as Django's
  // timeuntil writes it (at most two units); null where the browser cannot name units.
  function timeLeftText(seconds) {
    var lang = pageLocale();
    var minutes = Math.max(1, Math.ceil(seconds / 60));
    var units = [["day", Math.floor(minutes / 1440)], ["hour", Math.floor(minutes / 60) % 24], ["minute", minutes % 60]];
    var parts = [];
    try {
      for (var i = 0; i < units.length && parts.length < 2; i++) {
        if (units[i][1] > 0) {
          parts.push(new Intl.NumberFormat(lang, { style: "unit", unit: units[i][0], unitDisplay: "long" }).format(units[i][1]));
        } else if (parts.length) {
          break; // "1 hour", not "1 hour, 0 minutes"
        }
      }
    } catch (error) {
      return null;
    }
    return parts.join(", ");
  }

  function countdown() {
    var expiry = document.querySelector("[data-expiry]");
    var notice = document.querySelector("[data-expired]");
    var live = document.querySelector("[data-expiry-live]");
    var time = expiry && expiry.querySelector("time");
    var seconds = expiry ? parseInt(expiry.getAttribute("data-seconds-left"), 10) : NaN;
    if (!expiry || !notice || !live || !time || isNaN(seconds)) return;
    var deadline = Date.now() + seconds * 1000;
    var warned = false;
    var timer = null;
    var end = null;
    // The notice is said again by the Submit button, where the volunteer is when the hold
    // runs out, in a live region that is on the page (empty) before it is filled, so that it
    // is spoken. Where the task cannot be sent any more, Submit is turned off (Ctrl+Enter
    // too); the fields keep what was typed or chosen, to copy.
    var form = document.querySelector("[data-task-form], #write-form");
    var submit = form && (form.querySelector(".actions button[type=submit]") || form.querySelector("button[type=submit]"));
    var here = null;
    var refused = false;
    if (submit) {
      here = document.createElement("div");
      here.setAttribute("aria-live", "assertive");
      here.setAttribute("data-expired-here", "");
      (submit.closest(".actions") || submit).after(here);
      form.addEventListener("submit", function (event) {
        if (refused) event.preventDefault();
      });
    }
    function expired() {
      expiry.hidden = true;
      notice.hidden = false;
      refused = notice.hasAttribute("data-refuses");
      if (refused && submit) submit.disabled = true;
      if (!here) {
        say(notice.textContent.replace(/\s+/g, " ").trim());
        return;
      }
      var copy = notice.cloneNode(true);
      copy.removeAttribute("data-expired");
      copy.removeAttribute("data-refuses");
      copy.hidden = false;
      here.replaceChildren(copy);
    }

    // The translated sentence, "Held for you until {time} ({left} left)", with the page's own
    // <time> element (in local time) in its place.
    function show(left) {
      var nodes = expiry.getAttribute("data-held").split(/(\{time\}|\{left\})/).map(function (part) {
        if (part === "{time}") return time;
        return document.createTextNode(part === "{left}" ? left : part);
      });
      expiry.replaceChildren.apply(expiry, nodes);
    }
    function say(message) {
      live.textContent = "";
      window.setTimeout(function () { live.textContent = message; }, 50);
    }
    function tick() {
      var left = (deadline - Date.now()) / 1000;
      window.clearTimeout(end);
      if (left <= 0) {
        window.clearInterval(timer);
        expired();
        return;
      }
      // Set again at each tick: a timer may fire a moment early, and one that slept in a
      // background tab is late (the visibility change below catches that).
      end = window.setTimeout(tick, Math.min(deadline - Date.now(), MAX_TIMER_MS));
      var text = timeLeftText(left);
      if (text) show(text);
      if (left <= 60 && !warned) {
        warned = true;
        say(live.getAttribute("data-warning"));
      }
    }
    timer = window.setInterval(tick, EXPIRY_TICK_MS);
    // A tab that slept comes back with the time it really has.
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && !expiry.hidden) tick();
    });
    tick();
  }

  // Ctrl+Enter sends the task when the focus is in no form (on its heading, after a shortcut);
  // in a form, static/js/hearth.js sends that form.
  function submitKey() {
    var form = document.querySelector("[data-task-form], #write-form");
    if (!form) return;
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey) || event.defaultPrevented) return;
      if (event.target.closest && event.target.closest("form, dialog")) return;
      event.preventDefault();
      form.requestSubmit();
    });
  }

  // A review's quality from the keys 1 to 5, when the focus is not in a text field or in
  // another form (the skip's choices, the dialog): the choice is checked and focused, so its
  // label is read out and Ctrl+Enter then sends the review.
  function qualityKeys(form) {
    document.addEventListener("keydown", function (event) {
      if (!/^[1-5]$/.test(event.key) || hasModifier(event) || isTyping(event.target) || singleKeysOff) return;
      var inside = event.target.closest && event.target.closest("form, dialog");
      if (inside && inside !== form) return;
      var choice = form.querySelector("input[name=quality][value='" + event.key + "']");
      if (!choice || choice.disabled) return;
      event.preventDefault();
      choice.checked = true;
      choice.focus();
      choice.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }

  // "?" (or the visible button) opens the list of keyboard shortcuts.
  function shortcutsDialog() {
    var dialog = document.getElementById("shortcuts");
    if (!dialog || typeof dialog.showModal !== "function") return;
    var opener = null;
    function open() {
      if (dialog.open) return;
      opener = document.activeElement;
      dialog.showModal();
    }
    dialog.addEventListener("close", function () {
      if (opener && opener.focus) opener.focus();
    });
    // A click on the backdrop (outside the dialog's box) closes it too.
    dialog.addEventListener("click", function (event) {
      if (event.target === dialog) dialog.close();
    });
    document.querySelectorAll("[data-shortcuts-open]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", open);
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "?" && !hasModifier(event) && !isTyping(event.target) && !singleKeysOff) {
        event.preventDefault();
        open();
      }
    });
  }

  function ranking(form) {
    var list = form.querySelector("[data-rank-list]");
    var live = form.querySelector("[data-rank-live]");
    var orderField = form.querySelector("input[name=order]");
    var unusable = form.querySelector("input[name=unusable]");
    if (!list || !orderField) return;
    var messages = form.querySelector("[data-rank-messages]").dataset;
    var grabbed = null; // the item picked up with the keyboard
    var grabbedFrom = 0; // where it was picked up, for Escape

    form.classList.add("js-ranking");
    form.querySelectorAll(".rank-help-js").forEach(function (node) { node.hidden = false; });
    list.setAttribute("aria-describedby", "rank-help");

    function items() {
      return Array.prototype.slice.call(list.querySelectorAll(":scope > .rank-item"));
    }
    function letter(item) { return item.getAttribute("data-letter"); }
    function position(item) { return items().indexOf(item) + 1; }
    // The page's translated sentences, with {letter}, {pos} and {count} filled in.
    function text(name, item) {
      var values = { letter: letter(item), pos: position(item), count: items().length };
      return messages[name].replace(/\{(\w+)\}/g, function (whole, key) {
        return key in values ? String(values[key]) : whole;
      });
    }

    function say(message) {
      // Clear first so the same words spoken twice are announced twice.
      live.textContent = "";
      window.setTimeout(function () { live.textContent = message; }, 50);
    }

    function refresh() {
      var all = items();
      all.forEach(function (item, index) {
        var number = item.querySelector("input[type=number]");
        item.querySelector("[data-rank-pos]").textContent = String(index + 1);
        item.setAttribute("aria-label", text("label", item) + (item === grabbed ? ", " + messages.pickedLabel : ""));
        if (number) number.value = String(index + 1);
        item.querySelector("[data-move='-1']").disabled = index === 0;
        item.querySelector("[data-move='1']").disabled = index === all.length - 1;
      });
      orderField.value = all.map(function (item) { return item.getAttribute("data-id"); }).join(",");
    }

    // Move an item by its neighbours rather than itself, so a focused item keeps the focus.
    function shift(item, delta) {
      var all = items();
      var index = all.indexOf(item);
      var target = index + delta;
      if (target < 0 || target >= all.length) return false;
      if (delta < 0) {
        list.insertBefore(all[target], item.nextSibling);
      } else {
        list.insertBefore(all[target], item);
      }
      return true;
    }
    function moveTo(item, index) {
      while (position(item) - 1 > index && shift(item, -1)) { /* up */ }
      while (position(item) - 1 < index && shift(item, 1)) { /* down */ }
    }

    function announceMove(item) {
      say(text("moved", item));
    }

    function pickUp(item) {
      grabbed = item;
      grabbedFrom = position(item) - 1;
      item.classList.add("is-grabbed");
      refresh();
      say(text("picked", item));
    }
    function drop() {
      var item = grabbed;
      grabbed = null;
      item.classList.remove("is-grabbed");
      refresh();
      say(text("dropped", item));
    }
    function cancel() {
      var item = grabbed;
      grabbed = null;
      moveTo(item, grabbedFrom);
      item.classList.remove("is-grabbed");
      refresh();
      item.focus();
      say(text("cancelled", item));
    }

    items().forEach(function (item) {
      item.tabIndex = 0;
      item.setAttribute("aria-roledescription", messages.roledescription);
      item.querySelector(".rank-moves").hidden = false;
    });
    form.querySelectorAll(".rank-number input").forEach(function (input) { input.disabled = true; });

    list.addEventListener("keydown", function (event) {
      var item = event.target;
      if (!item.classList || !item.classList.contains("rank-item")) return;
      if (event.ctrlKey || event.metaKey || event.altKey) {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          if (grabbed) drop();
          form.requestSubmit();
        }
        return;
      }
      if (event.key === " " || event.key === "Enter") {
        event.preventDefault();
        if (grabbed === item) drop();
        else {
          if (grabbed) drop();
          pickUp(item);
        }
      } else if (event.key === "ArrowUp" || event.key === "ArrowDown") {
        event.preventDefault();
        var delta = event.key === "ArrowUp" ? -1 : 1;
        if (grabbed === item) {
          if (shift(item, delta)) {
            refresh();
            announceMove(item);
          }
          item.scrollIntoView({ block: "nearest" });
        } else {
          var next = items()[position(item) - 1 + delta];
          if (next) next.focus();
        }
      } else if (event.key === "Escape" && grabbed === item) {
        event.preventDefault();
        event.stopPropagation();
        cancel();
      }
    });
    // Leaving a picked-up answer (Tab, a click elsewhere) drops it where it is.
    list.addEventListener("focusout", function (event) {
      if (grabbed && event.target === grabbed && !grabbed.contains(event.relatedTarget)) drop();
    });

    list.addEventListener("click", function (event) {
      var button = event.target.closest("[data-move]");
      if (!button) return;
      var item = button.closest(".rank-item");
      if (shift(item, parseInt(button.getAttribute("data-move"), 10))) {
        refresh();
        announceMove(item);
        // At the top or bottom this button turns off: keep the focus on its twin.
        if (button.disabled) item.querySelector("[data-move]:not([disabled])").focus();
        item.scrollIntoView({ block: "nearest" });
      }
    });

    if (window.Sortable) {
      window.Sortable.create(list, {
        handle: ".rank-handle",
        draggable: ".rank-item",
        // No sliding of the other answers where the system asks for less motion.
        animation: reducedMotion() ? 0 : 150,
        // The same pointer-driven drag for mouse, pen and touch (no native HTML5 drag image).
        forceFallback: true,
        fallbackTolerance: 3,
        scroll: true,
        bubbleScroll: true,
        ghostClass: "is-ghost",
        chosenClass: "is-chosen",
        dragClass: "is-dragging",
        onStart: function () {
          if (grabbed) drop();
        },
        onEnd: function (event) {
          refresh();
          if (event.oldIndex !== event.newIndex) announceMove(event.item);
        },
      });
    }

    if (unusable) {
      var sync = function () { list.classList.toggle("is-unusable", unusable.checked); };
      unusable.addEventListener("change", sync);
      sync();
    }

    // Long answers fold to a few lines, with a "Show more" button.
    items().forEach(function (item) {
      var body = item.querySelector(".rank-body");
      if (!body || body.scrollHeight < 260) return;
      body.classList.add("is-folded");
      var toggle = document.createElement("button");
      toggle.type = "button";
      toggle.className = "link show-more";
      toggle.setAttribute("aria-controls", body.id);
      toggle.setAttribute("aria-expanded", "false");
      toggle.textContent = messages.showMore;
      toggle.addEventListener("click", function () {
        var folded = body.classList.toggle("is-folded");
        toggle.setAttribute("aria-expanded", folded ? "false" : "true");
        toggle.textContent = folded ? messages.showMore : messages.showLess;
      });
      body.after(toggle);
    });

    refresh();
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes();
    countdown();
    singleKeysSwitch();
    shortcutsDialog();
    submitKey();
    var form = document.querySelector("[data-rank-form]");
    if (form) ranking(form);
    var review = document.querySelector("[data-review-form]");
    if (review) qualityKeys(review);
  });
})();
