// The API docs follow the reader's colour scheme, as the rest of the site does: Swagger UI
// has a dark theme, switched on by a "dark-mode" class on <html> (its standalone page sets it
// the same way; the page drf-spectacular builds does not).
(function () {
  var dark = window.matchMedia("(prefers-color-scheme: dark)");
  function follow() {
    document.documentElement.classList.toggle("dark-mode", dark.matches);
  }
  follow();
  dark.addEventListener("change", follow);
})();
