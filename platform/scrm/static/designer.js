// The designer's small enhancements; every designer page works without this file.

// Forms with data-confirm ask first (discard a draft, roll back).
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

// The add-field form shows only the options that fit the chosen type.
function showTypeOptions(select) {
  const form = select.closest("form");
  form.querySelectorAll("[data-for-types]").forEach((el) => {
    el.hidden = !el.dataset.forTypes.split(" ").includes(select.value);
  });
}
document.addEventListener("change", (event) => {
  if (event.target.matches("[data-type-options]")) showTypeOptions(event.target);
});
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-type-options]").forEach(showTypeOptions);
});
