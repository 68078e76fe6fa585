// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // On a wide screen the navigation menu is always open.
  const menu = document.querySelector(".nav-menu");
  if (menu && window.matchMedia("(min-width: 992px)").matches) menu.open = true;
});

// Check-in form: show the crisis guidance the moment "yes" is chosen on the safety
// question, and hide the questions when the check-in was not held.
document.addEventListener("change", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement)) return;
  if (input.name === "safety_concern") {
    const box = document.getElementById("crisis-guidance");
    if (box) box.hidden = input.value !== "yes";
  }
  if (input.name === "outcome") {
    document.querySelectorAll("[data-show-when]").forEach((el) => {
      el.hidden = input.value !== el.getAttribute("data-show-when");
    });
  }
});

// The conversation on a request: a message that was not sent (empty, too long, the
// request closed) comes back as 422 or 409 with the reason next to the field; show it
// in place, as the page without JavaScript does.
document.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  if ((status === 422 || status === 409) && event.detail.target && event.detail.target.id === "conversation") {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
