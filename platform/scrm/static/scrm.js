// Small progressive enhancements; every page works without this file.
document.documentElement.classList.add("js");

document.addEventListener("keydown", (event) => {
  // "/" focuses the list search, as in most web apps.
  if (event.key === "/" && !event.target.closest("input, textarea, select, [contenteditable]")) {
    const search = document.getElementById("list-q");
    if (search) { event.preventDefault(); search.focus(); search.select(); }
  }
});

document.addEventListener("DOMContentLoaded", () => {
  const errors = document.getElementById("form-errors");
  if (errors) errors.focus();
  // open the tab that holds the first invalid field
  const invalid = document.querySelector(".tab-pane .is-invalid");
  if (invalid && window.bootstrap) {
    const pane = invalid.closest(".tab-pane");
    const trigger = document.querySelector(`[data-bs-target="#${pane.id}"]`);
    if (trigger) window.bootstrap.Tab.getOrCreateInstance(trigger).show();
  }
});
