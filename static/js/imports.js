// The import page: refuse a file over the site's limit before uploading it (the server would
// answer 413 without a page), and say that the file is being sent. The import itself runs on
// a worker; its own page follows it (htmx).
(function () {
  "use strict";

  function tooLarge(form, input) {
    var limit = Number(form.getAttribute("data-max-bytes"));
    var file = input.files && input.files[0];
    return Boolean(file && limit && file.size > limit);
  }

  function showError(form, input, message) {
    var field = input.closest(".field");
    var list = document.getElementById("id_file_error");
    if (!message) {
      if (list && list.hasAttribute("data-client")) {
        list.remove();
        input.removeAttribute("aria-invalid");
        field.classList.remove("has-error");
      }
      return;
    }
    if (!list) {
      list = document.createElement("ul");
      list.id = "id_file_error";
      list.className = "errorlist";
      field.insertBefore(list, input);
    }
    list.setAttribute("data-client", "1");
    list.innerHTML = "";
    var item = document.createElement("li");
    item.textContent = message;
    list.appendChild(item);
    field.classList.add("has-error");
    input.setAttribute("aria-invalid", "true");
    var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    if (described.indexOf(list.id) === -1) {
      described.unshift(list.id);
      input.setAttribute("aria-describedby", described.join(" "));
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("import-form");
    if (!form) return;
    var input = form.querySelector("input[type=file]");
    var busy = document.getElementById("import-busy");
    input.addEventListener("change", function () {
      showError(form, input, tooLarge(form, input) ? form.getAttribute("data-too-large") : "");
    });
    form.addEventListener("submit", function (event) {
      if (tooLarge(form, input)) {
        event.preventDefault();
        showError(form, input, form.getAttribute("data-too-large"));
        input.focus();
        return;
      }
      if (busy) busy.textContent = form.getAttribute("data-busy");
    });
    // Back to the page from the browser's cache: the upload is no longer under way.
    window.addEventListener("pageshow", function () {
      if (busy) busy.textContent = "";
    });
  });
})();
