// Light or dark, as the system is set: Bootstrap's color modes switch on the
// data-bs-theme attribute of <html>. Follows the setting when it changes.
"use strict";

const darkScheme = window.matchMedia("(prefers-color-scheme: dark)");

function applyColorScheme() {
  document.documentElement.dataset.bsTheme = darkScheme.matches ? "dark" : "light";
}

applyColorScheme();
darkScheme.addEventListener("change", applyColorScheme);
