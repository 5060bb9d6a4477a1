// Bootstrap's CSS trimmed to the rules QuartFeed's pages use (`make` runs
// it): PurgeCSS keeps a rule only if its classes, ids and elements appear
// in the templates or in the scripts that build markup.
module.exports = {
  css: ["node_modules/bootstrap/dist/css/bootstrap.min.css"],
  content: ["templates/**/*.html", "static/js/*.js"],
  output: "static/vendor/bootstrap/",
  // Their custom properties are set on :root and used everywhere.
  variables: false,
  safelist: {
    // Classes that Bootstrap's own script adds (a collapsing navbar, a
    // dismissed alert), and a flash message's category, which the template
    // builds as "alert-" + category.
    standard: ["show", "showing", "collapsing", "fade", /^alert-/],
    // Light and dark: data-bs-theme is set by theme.js.
    greedy: [/data-bs-theme/],
  },
};
