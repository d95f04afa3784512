// The swimlane page: pointing at a box, an arrow or a table row highlights every box, arrow and
// row of the same event (as the stand-alone `tongban case show --html` page does).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const items = document.querySelectorAll(".swimlane-page [data-event]");
  const mark = (id, on) => {
    for (const el of items) {
      if (el.getAttribute("data-event") === id) el.classList.toggle("hi", on);
    }
  };
  for (const el of items) {
    const id = el.getAttribute("data-event");
    el.addEventListener("mouseenter", () => mark(id, true));
    el.addEventListener("mouseleave", () => mark(id, false));
  }
  const page = document.querySelector(".swimlane-page");
  if (page) page.setAttribute("data-rendered", "ok");
});
