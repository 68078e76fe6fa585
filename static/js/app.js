// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // On a wide screen the navigation menu is always open.
  const menu = document.querySelector(".nav-menu");
  if (menu && window.matchMedia("(min-width: 992px)").matches) menu.open = true;
});
