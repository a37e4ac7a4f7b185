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

// List bulk actions (templates/pages/list_bulk.html): select all, a live count, the value control of the chosen action.
function bulkRefresh() {
  const form = document.getElementById("bulk-form");
  if (!form) return;
  const chosen = document.querySelectorAll("input[name=ids][form=bulk-form]:checked").length;
  const count = document.getElementById("bulk-count");
  if (count && chosen) count.textContent = count.dataset.template.replace("{n}", chosen);
  const action = document.getElementById("bulk-action");
  form.querySelectorAll(".scrm-bulk-value").forEach((el) => {
    const shown = action && el.dataset.for.split(" ").includes(action.value);
    el.hidden = !shown;
    el.disabled = !shown;
  });
  const apply = document.getElementById("bulk-apply");
  if (apply) apply.disabled = chosen === 0;
}

document.addEventListener("change", (event) => {
  if (event.target.id === "select-all") {
    document.querySelectorAll("input[name=ids][form=bulk-form]").forEach((box) => { box.checked = event.target.checked; });
  }
  if (event.target.matches("input[name=ids], #bulk-action, #select-all")) bulkRefresh();
});
document.addEventListener("DOMContentLoaded", bulkRefresh);
document.addEventListener("htmx:afterSettle", bulkRefresh);

// Quick edit of a list cell (web/list_edits.py): double-click it, or Enter / F2 on a focused one; Escape cancels.
function quickEdit(cell) {
  const row = cell.closest("tr[data-id]");
  const table = cell.closest("table[data-cell-url]");
  if (!row || !table || !window.htmx) return;
  const url = `${table.dataset.cellUrl}/${row.dataset.id}/cell/${cell.dataset.f}`;
  window.htmx.ajax("GET", url, { target: cell, swap: "outerHTML" });
}

document.addEventListener("dblclick", (event) => {
  const cell = event.target.closest("td.scrm-qe");
  if (cell && !event.target.closest("a, button, input")) { event.preventDefault(); quickEdit(cell); }
});

document.addEventListener("keydown", (event) => {
  const cell = event.target.matches && event.target.matches("td.scrm-qe") && event.target;
  if (cell && (event.key === "Enter" || event.key === "F2")) { event.preventDefault(); quickEdit(cell); return; }
  const editing = event.target.closest && event.target.closest("td.scrm-qe-editing");
  if (editing && event.key === "Escape") {
    event.preventDefault();
    editing.querySelector(".scrm-qe-cancel").click();
  }
});
