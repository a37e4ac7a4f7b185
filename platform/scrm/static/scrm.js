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

// Reference type-ahead (templates/macros/fields.html): a combobox over a listbox the server fills.
function comboParts(el) {
  const box = el.closest("[data-combobox]");
  return box && {
    box,
    input: box.querySelector("input[role=combobox]"),
    value: box.querySelector("input[type=hidden]"),
    list: box.querySelector("[role=listbox]"),
  };
}

function comboClose(parts) {
  parts.list.classList.remove("show");
  parts.input.setAttribute("aria-expanded", "false");
  parts.input.removeAttribute("aria-activedescendant");
}

function comboChoose(parts, option) {
  parts.input.value = option.dataset.label;
  parts.value.value = option.dataset.value;
  comboClose(parts);
  parts.value.dispatchEvent(new Event("change", { bubbles: true }));  // inline validation and form rules
}

function comboHighlight(parts, options, index) {
  options.forEach((o, j) => {
    o.setAttribute("aria-selected", j === index ? "true" : "false");
    o.classList.toggle("active", j === index);
  });
  parts.input.setAttribute("aria-activedescendant", options[index].id);
  options[index].scrollIntoView({ block: "nearest" });
}

document.addEventListener("keydown", (event) => {
  const parts = event.target.matches && event.target.matches("[data-combobox] input[role=combobox]") && comboParts(event.target);
  if (!parts) return;
  const options = [...parts.list.querySelectorAll("[role=option]")];
  const current = options.findIndex((o) => o.getAttribute("aria-selected") === "true");
  const open = parts.list.classList.contains("show");
  if ((event.key === "ArrowDown" || event.key === "ArrowUp") && options.length) {
    event.preventDefault();
    if (!open) { parts.list.classList.add("show"); parts.input.setAttribute("aria-expanded", "true"); }
    const next = event.key === "ArrowDown" ? Math.min(current + 1, options.length - 1) : Math.max(current - 1, 0);
    comboHighlight(parts, options, next);
  } else if (event.key === "Enter" && open && current >= 0) {
    event.preventDefault();  // take the choice, do not submit the form
    comboChoose(parts, options[current]);
  } else if (event.key === "Escape" && open) {
    event.preventDefault();
    comboClose(parts);
  }
});

document.addEventListener("mousedown", (event) => {
  const option = event.target.closest("[data-combobox] [role=option]");
  if (option) {
    event.preventDefault();  // keep the focus in the input
    comboChoose(comboParts(option), option);
    return;
  }
  document.querySelectorAll("[data-combobox] [role=listbox].show").forEach((list) => {
    if (!list.closest("[data-combobox]").contains(event.target)) comboClose(comboParts(list));
  });
});

document.addEventListener("input", (event) => {
  const parts = event.target.matches && event.target.matches("[data-combobox] input[role=combobox]") && comboParts(event.target);
  if (parts && event.target.value.trim() === "" && parts.value.value !== "") {
    parts.value.value = "";  // emptied: no reference
    parts.value.dispatchEvent(new Event("change", { bubbles: true }));
  }
});

document.addEventListener("htmx:afterSwap", (event) => {
  const list = event.detail.target;
  if (!list.matches || !list.matches("[data-combobox] [role=listbox]")) return;
  const parts = comboParts(list);
  const open = list.children.length > 0 && document.activeElement === parts.input;
  list.classList.toggle("show", open);
  parts.input.setAttribute("aria-expanded", open ? "true" : "false");
});
