// The board (templates/pages/board.html): drag a card onto another column. A drop chooses the
// column in the card's own "Move to…" form and submits it, so dragging, the keyboard and a
// browser without JavaScript all move cards through the same request.
(() => {
  let dragged = null;
  let focusAfterMove = null;

  const cardOf = (el) => el && el.closest && el.closest(".scrm-board-card");
  const columnOf = (el) => el && el.closest && el.closest(".scrm-board-column");

  function targets(card) {
    const select = card.querySelector(".scrm-board-move-form select[name=value]");
    return select ? [...select.options].map((o) => o.value) : [];
  }

  function accepts(column, card) {
    return !!(column && card && column.hasAttribute("data-droppable") && targets(card).includes(column.dataset.value));
  }

  function clear() {
    document.querySelectorAll(".scrm-board-column.can-drop, .scrm-board-column.is-drop-target")
      .forEach((c) => c.classList.remove("can-drop", "is-drop-target"));
    if (dragged) dragged.classList.remove("is-dragging");
    dragged = null;
  }

  function move(card, value) {
    const form = card.querySelector(".scrm-board-move-form");
    form.querySelector("select[name=value]").value = value;
    card.classList.add("is-moving");
    form.requestSubmit();
  }

  document.addEventListener("dragstart", (event) => {
    const card = cardOf(event.target);
    if (!card || card.getAttribute("draggable") !== "true") return;
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.id);
    card.classList.add("is-dragging");
    document.querySelectorAll(".scrm-board-column").forEach((c) => {
      if (accepts(c, card)) c.classList.add("can-drop");
    });
  });

  document.addEventListener("dragend", clear);

  document.addEventListener("dragover", (event) => {
    const column = columnOf(event.target);
    if (!accepts(column, dragged)) return;
    event.preventDefault();  // this column takes the card
    event.dataTransfer.dropEffect = "move";
    document.querySelectorAll(".scrm-board-column.is-drop-target").forEach((c) => {
      if (c !== column) c.classList.remove("is-drop-target");
    });
    column.classList.add("is-drop-target");
  });

  document.addEventListener("dragleave", (event) => {
    const column = columnOf(event.target);
    if (column && !column.contains(event.relatedTarget)) column.classList.remove("is-drop-target");
  });

  document.addEventListener("drop", (event) => {
    const column = columnOf(event.target);
    if (!accepts(column, dragged)) return;
    event.preventDefault();
    const card = dragged;
    clear();
    move(card, column.dataset.value);
  });

  // Moves chosen in the menu keep the keyboard on the card, wherever it lands.
  document.addEventListener("htmx:beforeRequest", (event) => {
    const form = event.target.closest && event.target.closest(".scrm-board-move-form");  // fired on the form
    if (form) focusAfterMove = form.contains(document.activeElement) ? cardOf(form).dataset.id : null;
  });

  // A refused move (409 someone else changed it, 422 the record cannot take the value) still
  // swaps: the card comes back with the reason on it.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    const form = elt && elt.closest && elt.closest(".scrm-board-move-form");
    if (form && (event.detail.xhr.status === 409 || event.detail.xhr.status === 422)) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Cards htmx brings in (a move's answer, a column's "more") are in the page now.
  document.addEventListener("htmx:load", (event) => {
    const card = event.target;
    if (!card.matches || !card.matches(".scrm-board-card")) return;
    // a card moved into a column and then loaded again by the column's "more": keep the first
    const same = card.parentElement.querySelectorAll(`.scrm-board-card[data-id="${card.dataset.id}"]`);
    if (same.length > 1 && same[0] !== card) {
      card.remove();
      return;
    }
    if (focusAfterMove === card.dataset.id) {
      focusAfterMove = null;
      const link = card.querySelector("h3 a");
      if (link) link.focus();
    }
  });
})();
