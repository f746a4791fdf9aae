// The Contribute page: local expiry times, the keyboard-shortcuts dialog, and the ranking
// list (drag and drop by mouse or touch through SortableJS, keyboard moves, Move up / Move
// down buttons, spoken announcements). Without this script the page still works: the ranking
// is then given with one number per answer.
(function () {
  "use strict";

  function isTyping(element) {
    if (!element || !element.tagName) return false;
    var tag = element.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || element.isContentEditable;
  }

  // "Held until 14:32 UTC" in the volunteer's own clock.
  function localTimes() {
    document.querySelectorAll("time[data-local-time]").forEach(function (node) {
      var when = new Date(node.getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        node.textContent = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
        node.title = when.toLocaleString();
      }
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
      button.addEventListener("click", open);
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "?" && !event.ctrlKey && !event.metaKey && !event.altKey && !isTyping(event.target)) {
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
        animation: 150,
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
    shortcutsDialog();
    var form = document.querySelector("[data-rank-form]");
    if (form) ranking(form);
  });
})();
