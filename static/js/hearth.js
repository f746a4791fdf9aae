// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // Confirm destructive actions (withdraw, revoke, hide, ban): the question is the clicked
  // button's data-confirm, else the form's, so one form's actions can ask or not.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    var question =
      (button && button.getAttribute("data-confirm")) ||
      (form.getAttribute && form.getAttribute("data-confirm"));
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // A refused moderation action comes back at the action's address: the address bar shows the
  // page's own (data-address) instead, so a reload or a copied link opens the page, not the action.
  function showPageAddress() {
    var marked = document.querySelector("[data-address]");
    if (marked && window.history.replaceState) {
      window.history.replaceState(window.history.state, "", marked.getAttribute("data-address"));
    }
  }

  // Ctrl/Cmd+Enter submits the form the focus is in, as Enter would: not a form whose default
  // button is disabled (the moderation queue's, where each action needs its own click).
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      var form = event.target.form;
      if (form) {
        event.preventDefault();
        var first = form.querySelector("button:not([type]), [type=submit], [type=image]");
        if (!(first && first.disabled)) form.requestSubmit();
      }
    }
  });

  // The header's drop-down menus (Manage, the account): one open at a time, closed by a click
  // or the focus elsewhere, or by Escape, which gives the focus back to the menu's button.
  function openNavMenus() {
    return Array.prototype.slice.call(document.querySelectorAll("details[data-nav-menu][open]"));
  }
  document.addEventListener("toggle", function (event) {
    var menu = event.target;
    if (!menu.matches || !menu.matches("details[data-nav-menu]") || !menu.open) return;
    openNavMenus().forEach(function (other) {
      if (other !== menu) other.open = false;
    });
  }, true);
  document.addEventListener("click", function (event) {
    openNavMenus().forEach(function (menu) {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });
  // Tabbing out of an open menu closes it: left open, it would cover what has the focus.
  document.addEventListener("focusin", function (event) {
    openNavMenus().forEach(function (menu) {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });

  // Escape closes an open drop-down menu, else the phone menu, and gives the focus back to
  // what opened it.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var menus = openNavMenus();
    if (menus.length) {
      menus.forEach(function (menu) { menu.open = false; });
      menus[0].querySelector("summary").focus();
      return;
    }
    var toggle = document.getElementById("nav-toggle");
    if (toggle && toggle.checked) {
      toggle.checked = false;
      toggle.focus();
    }
  });

  // On the Write page, mark the context as required for the categories that need it.
  function syncContextRequirement() {
    var checked = document.querySelector("input[name=category]:checked");
    var wrapper = document.querySelector("[data-context-field]");
    if (!wrapper) return;
    var required = checked && checked.getAttribute("data-context-required") === "1";
    var note = wrapper.querySelector(".context-required-note");
    var textarea = wrapper.querySelector("textarea");
    if (note) note.hidden = !required;
    if (textarea) textarea.setAttribute("aria-required", required ? "true" : "false");
    wrapper.classList.toggle("required", !!required);
  }
  document.addEventListener("change", function (event) {
    if (event.target.name === "category") syncContextRequirement();
  });

  // After a refused submit, take the focus to the first field that needs fixing, so a
  // keyboard or screen-reader user lands on it (its error is tied to it by aria-describedby).
  // A form refused as a whole (a wrong password, a duplicate) marks no field: the focus goes
  // to its error instead, which is read out, and the next Tab reaches the form's first field.
  // An alert present when the page loads is not announced by itself, and the focus would
  // otherwise be left at the top of the page.
  function focusFirstError() {
    var field = document.querySelector(".has-error input:not([type=hidden]), .has-error textarea, .has-error select");
    if (field) {
      field.focus();
      return;
    }
    var refusal = document.querySelector("#main form [role=alert]");
    if (refusal && document.activeElement === document.body) {
      refusal.setAttribute("tabindex", "-1");
      refusal.focus();
    }
  }

  // A page that opens with a message, the outcome of what was just sent ("Thank you! …",
  // "Saved.", a new token), says it in a status that was there when the page loaded, which
  // a screen reader does not read out by itself. The focus goes to the heading the message
  // is under, described by it: the page's h1 for the messages above it, else the last
  // heading before the message. The next Tab then reaches what follows the heading, not the
  // site's menu. Not where the focus is already placed: a field to fix or an alert
  // (focusFirstError), an autofocus field, or the target of the address's #fragment.
  function focusMessage() {
    if (document.activeElement && document.activeElement !== document.body) return;
    if (document.querySelector(".has-error, [aria-invalid=true]")) return;
    var autofocus = Array.prototype.some.call(document.querySelectorAll("[autofocus]"), function (field) {
      return !field.closest("dialog:not([open])"); // a dialog's own, for when it opens
    });
    if (autofocus) return;
    if (window.location.hash && document.getElementById(decodeURIComponent(window.location.hash.slice(1)))) return;
    var list = document.querySelector("#main > [role=status] > .messages");
    var message = list ? list.parentElement : document.querySelector("#main .message.success[role=status]");
    if (!message) return;
    var headings = Array.prototype.slice.call(document.querySelectorAll("#main h1, #main h2, #main h3"));
    var before = headings.filter(function (heading) {
      return heading.compareDocumentPosition(message) & Node.DOCUMENT_POSITION_FOLLOWING;
    });
    var heading = before.length ? before[before.length - 1] : document.querySelector("#main h1");
    if (!heading) return;
    if (!message.id) message.id = list ? "page-messages" : "page-message";
    heading.setAttribute("tabindex", "-1");
    heading.setAttribute("aria-describedby", message.id);
    heading.focus();
  }

  // A status that htmx polls (an import's) is not a live region itself: replaced at every
  // poll, it would be read out again each time, unchanged. It names a live region in
  // data-announce-into, and carries a short sentence in an element marked data-announce (its
  // state; its progress in steps of 10%): the sentence is written into the live region when
  // it changes, and only then. The sentence the page opens with is on the page already.
  function announceChanges() {
    var said = {};
    function sentence(box) {
      var marked = box.hasAttribute("data-announce") ? box : box.querySelector("[data-announce]");
      return marked ? marked.textContent.replace(/\s+/g, " ").trim() : "";
    }
    document.querySelectorAll("[data-announce-into]").forEach(function (box) {
      said[box.id] = sentence(box);
    });
    document.addEventListener("htmx:afterSettle", function () {
      document.querySelectorAll("[data-announce-into]").forEach(function (box) {
        var now = sentence(box);
        if (now === said[box.id]) return;
        said[box.id] = now;
        var region = document.getElementById(box.getAttribute("data-announce-into"));
        if (region && now) region.textContent = now;
      });
    });
  }

  // "Copy" buttons (the new API token): shown only where the clipboard can be written.
  function enableCopyButtons() {
    if (!navigator.clipboard) return;
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var source = document.querySelector(button.getAttribute("data-copy"));
        if (!source) return;
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          button.textContent = button.getAttribute("data-copied") || button.textContent;
        });
      });
    });
  }

  // Drafts: the text of a form marked data-draft (Write, Answer, the edit pages, a task's
  // answer) is kept in this browser as it is typed, so a crash, a closed tab or a session
  // that expired before the submit loses nothing. The key holds the user's id and the page,
  // so two people on one browser never see each other's drafts. A draft is dropped only when
  // the page after its form's submit shows a success message, i.e. the server saved the
  // work, or when the volunteer signs out; a submit that ends anywhere else (a login page,
  // an error) keeps it.
  var DRAFT_PREFIX = "hearth:draft:";
  var DRAFT_PENDING = "hearth:draft-pending";
  var DRAFT_MAX_AGE_MS = 30 * 24 * 3600 * 1000;
  var DRAFT_SAVE_DELAY_MS = 400;
  // Set once the volunteer signs out: nothing more is kept in this browser for them.
  var draftsCleared = false;

  function draftStorage(name) {
    // Storage can be missing or refuse access (private modes, blocked cookies).
    try {
      var storage = window[name];
      var probe = DRAFT_PREFIX + "probe";
      storage.setItem(probe, "1");
      storage.removeItem(probe);
      return storage;
    } catch (error) {
      return null;
    }
  }

  function draftKey(form) {
    var user = form.getAttribute("data-draft-user");
    if (!user) return null;
    var path = form.getAttribute("data-draft-path") || window.location.pathname;
    return DRAFT_PREFIX + user + ":" + form.getAttribute("data-draft") + ":" + path;
  }

  // The fields a draft keeps: text the volunteer types, and the choice of radio buttons
  // (the Write page's category) and of a list (a report's reason); never the hidden one-time
  // keys or the CSRF token. Only typed text makes a draft worth keeping.
  function draftFields(form) {
    return Array.prototype.filter.call(form.elements, function (field) {
      if (!field.name || field.disabled || field.readOnly) return false;
      if (field.tagName === "TEXTAREA" || field.type === "select-one") return true;
      if (field.tagName !== "INPUT") return false;
      return ["text", "search", "radio", "email", "url"].indexOf(field.type) !== -1;
    });
  }

  function isText(field) {
    return field.type !== "radio";
  }

  function draftValues(form) {
    var values = {};
    draftFields(form).forEach(function (field) {
      if (isText(field)) values[field.name] = field.value;
      else if (field.checked) values[field.name] = field.value;
      else if (!(field.name in values)) values[field.name] = "";
    });
    return values;
  }

  function hasText(form) {
    return draftFields(form).some(function (field) {
      return isText(field) && field.tagName !== "SELECT" && field.value.trim() !== "";
    });
  }

  // Whether the form still shows what the server sent (the volunteer has not typed yet).
  function untouched(form) {
    return draftFields(form).every(function (field) {
      if (field.tagName === "SELECT") return field.selectedIndex === defaultIndex(field);
      return isText(field) ? field.value === field.defaultValue : field.checked === field.defaultChecked;
    });
  }

  function readDraft(storage, key) {
    try {
      var draft = JSON.parse(storage.getItem(key) || "null");
      return draft && typeof draft.values === "object" ? draft : null;
    } catch (error) {
      return null;
    }
  }

  function writeDraft(storage, form) {
    var key = draftKey(form);
    if (draftsCleared || !key || !hasText(form)) return;
    try {
      storage.setItem(key, JSON.stringify({ saved: Date.now(), values: draftValues(form) }));
    } catch (error) {
      // Storage full: the form still works, it just keeps no draft.
    }
  }

  function applyValues(form, values) {
    draftFields(form).forEach(function (field) {
      if (!(field.name in values)) return;
      if (isText(field)) field.value = values[field.name];
      else field.checked = field.value === values[field.name];
    });
    form.querySelectorAll("input[type=radio]:checked").forEach(function (radio) {
      radio.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }

  // The option a list shows as the server sent it: the one marked selected, else the first.
  function defaultIndex(select) {
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].defaultSelected) return i;
    }
    return 0;
  }

  function resetToServer(form) {
    draftFields(form).forEach(function (field) {
      if (field.tagName === "SELECT") field.selectedIndex = defaultIndex(field);
      else if (isText(field)) field.value = field.defaultValue;
      else field.checked = field.defaultChecked;
    });
    form.querySelectorAll("input[type=radio]:checked").forEach(function (radio) {
      radio.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }

  function showRestoredNotice(form, storage, key) {
    var notice = document.createElement("div");
    notice.className = "message draft-notice";
    notice.setAttribute("role", "status");
    var text = document.createElement("span");
    text.id = "draft-notice-" + Math.random().toString(36).slice(2);
    text.textContent = form.getAttribute("data-draft-restored");
    var discard = document.createElement("button");
    discard.type = "button";
    discard.className = "link";
    discard.textContent = form.getAttribute("data-draft-discard");
    discard.setAttribute("aria-describedby", text.id);
    discard.addEventListener("click", function () {
      storage.removeItem(key);
      resetToServer(form);
      text.textContent = form.getAttribute("data-draft-discarded");
      discard.remove();
      var first = draftFields(form).filter(isText)[0];
      if (first) first.focus();
    });
    notice.appendChild(text);
    notice.appendChild(document.createTextNode(" "));
    notice.appendChild(discard);
    form.insertBefore(notice, form.firstChild);
  }

  function restoreDraft(form, storage) {
    var key = draftKey(form);
    var draft = key && readDraft(storage, key);
    if (!draft || !untouched(form)) return;
    var current = draftValues(form);
    var differs = Object.keys(draft.values).some(function (name) {
      return name in current && current[name] !== draft.values[name];
    });
    if (!differs) return;
    applyValues(form, draft.values);
    showRestoredNotice(form, storage, key);
    // A form folded away (a report's) opens, so the restored text is seen.
    var folded = form.closest("details");
    if (folded) folded.open = true;
  }

  // A form that takes over work typed on another page (data-draft-replaces, "kind:path": a
  // task opened after it was gone) fills itself from that draft, its fields renamed as
  // data-draft-renames says ("old:new"), and keeps it under its own key from then on.
  function adoptDraft(form, storage) {
    var replaces = form.getAttribute("data-draft-replaces");
    var user = form.getAttribute("data-draft-user");
    var from = replaces && user && DRAFT_PREFIX + user + ":" + replaces;
    var draft = from && readDraft(storage, from);
    if (!draft) return false;
    var renames = {};
    (form.getAttribute("data-draft-renames") || "").split(" ").forEach(function (pair) {
      var names = pair.split(":");
      if (names.length === 2) renames[names[0]] = names[1];
    });
    var values = {};
    Object.keys(draft.values).forEach(function (name) {
      values[renames[name] || name] = draft.values[name];
    });
    applyValues(form, values);
    writeDraft(storage, form);
    var key = draftKey(form);
    if (storage.getItem(key)) storage.removeItem(from);
    showRestoredNotice(form, storage, key);
    return true;
  }

  // Signing out forgets every draft in this browser, whoever typed it, so the next person on
  // a shared computer finds none. The menu's Log out form is marked data-draft-clear; the
  // sign-out page's own form posts to the same address.
  function clearDraftsOnSignOut() {
    var signOut = document.querySelector("form[data-draft-clear]");
    if (!signOut) return;
    document.addEventListener("submit", function (event) {
      if (event.defaultPrevented || event.target.action !== signOut.action) return;
      draftsCleared = true;
      var storage = draftStorage("localStorage");
      if (storage) {
        Object.keys(storage).forEach(function (key) {
          if (key.indexOf(DRAFT_PREFIX) === 0) storage.removeItem(key);
        });
      }
      var session = draftStorage("sessionStorage");
      if (session) session.removeItem(DRAFT_PENDING);
    });
  }

  function keepDrafts() {
    var storage = draftStorage("localStorage");
    if (!storage) return;
    var now = Date.now();
    Object.keys(storage).forEach(function (key) {
      if (key.indexOf(DRAFT_PREFIX) !== 0) return;
      var draft = readDraft(storage, key);
      if (!draft || !(now - draft.saved < DRAFT_MAX_AGE_MS)) storage.removeItem(key);
    });
    // The page after a draft form's submit: a success message means the work was saved.
    var session = draftStorage("sessionStorage");
    if (session) {
      var pending = session.getItem(DRAFT_PENDING);
      session.removeItem(DRAFT_PENDING);
      if (pending && document.querySelector(".messages .message.success")) {
        storage.removeItem(pending);
      }
    }
    document.querySelectorAll("form[data-draft]").forEach(function (form) {
      var timer = null;
      function saveNow() {
        window.clearTimeout(timer);
        timer = null;
        writeDraft(storage, form);
      }
      if (form.hasAttribute("data-draft-unsent")) {
        // The server sent back work it could not take: keep it before anything else happens,
        // under this form's key instead of the one it was typed under.
        saveNow();
        var replaces = form.getAttribute("data-draft-replaces");
        var user = form.getAttribute("data-draft-user");
        if (replaces && user && storage.getItem(draftKey(form))) {
          storage.removeItem(DRAFT_PREFIX + user + ":" + replaces);
        }
      } else if (!adoptDraft(form, storage) && !form.hasAttribute("data-draft-sent")) {
        // A form sent back with what was sent (errors to fix) shows that already: the draft,
        // kept at the submit, would put back text the page has (or, where the server's copy
        // differs, text the page does not say anything about).
        restoreDraft(form, storage);
      }
      form.addEventListener("input", function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(saveNow, DRAFT_SAVE_DELAY_MS);
      });
      form.addEventListener("change", saveNow);
      form.addEventListener("submit", function (event) {
        if (event.defaultPrevented) return;
        saveNow();
        var key = draftKey(form);
        if (session && key) session.setItem(DRAFT_PENDING, key);
      });
      window.addEventListener("pagehide", function () {
        if (timer !== null) saveNow();
      });
    });
  }

  // A Markdown preview follows the text once shown: typing re-renders it after a pause, so a
  // preview never shows words that are no longer there. Only a preview asked for with the
  // button is read out (its region is polite); one that follows the typing is not.
  function keepPreviewsCurrent() {
    var timers = {};
    function previewOf(button) {
      return button && document.querySelector(button.getAttribute("hx-target"));
    }
    document.addEventListener("input", function (event) {
      var field = event.target;
      if (!field.name || !field.form || !window.htmx) return;
      var button = field.form.querySelector('[hx-include="[name=' + field.name + ']"][hx-target]');
      var target = previewOf(button);
      if (!target || !target.hasChildNodes()) return;
      clearTimeout(timers[field.name]);
      timers[field.name] = setTimeout(function () {
        target.setAttribute("aria-live", "off");
        window.htmx.trigger(button, "click");
      }, 600);
    });
    document.addEventListener("click", function (event) {
      var button = event.isTrusted && event.target.closest && event.target.closest("[hx-include][hx-target]");
      var target = previewOf(button);
      if (target) target.setAttribute("aria-live", "polite");
    }, true);
  }

  document.addEventListener("DOMContentLoaded", function () {
    keepPreviewsCurrent();
    keepDrafts();
    clearDraftsOnSignOut();
    syncContextRequirement();
    focusFirstError();
    focusMessage();
    announceChanges();
    enableCopyButtons();
    showPageAddress();
  });
})();
