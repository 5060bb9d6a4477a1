// QuartFeed in the browser.
//
// - Renders posts, comments and likes with template literals passed through
//   the `html` tag, which escapes every value: what people write is always
//   shown as text, never run as markup. The markup is the same as the Jinja
//   partials in templates/post/ (tests/test_templates.py compares them).
// - Keeps the home page live: an EventSource on the event stream receives
//   each new post, comment and like. After a dropped connection the browser
//   reconnects by itself and sends Last-Event-ID, so the server replays
//   exactly what was missed.
// - Sends posts, comments and likes with fetch(), CSRF token in X-CSRFToken.
// - Writes no URL and no limit of its own: the templates put them in the page
//   (data- attributes, the post form's action and maxlength), so each is
//   defined once, for the server and the script alike.
"use strict";

// ---- Escaping template literals ------------------------------------------

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;" };

class SafeHTML {
  constructor(text) {
    this.text = text;
  }
  toString() {
    return this.text;
  }
}

function escapeHTML(value) {
  return String(value).replace(/[&<>"']/g, (character) => ESCAPES[character]);
}

function interpolate(value) {
  if (value instanceof SafeHTML) return value.text;
  if (Array.isArray(value)) return value.map(interpolate).join("");
  return escapeHTML(value);
}

// Tag function: html`<p>${text}</p>` escapes `text`; nested html`` stays as is.
function html(strings, ...values) {
  let result = strings[0];
  values.forEach((value, index) => {
    result += interpolate(value) + strings[index + 1];
  });
  return new SafeHTML(result);
}

// ---- The same markup as templates/post/ -----------------------------------

function renderLikes(post) {
  const count = post.likes;
  const summary = count
    ? html`${count} ${count === 1 ? "like" : "likes"} · Liked by ${post.likers.join(", ")}`
    : "";
  return html`<div class="likes small text-body-secondary">${summary}</div>`;
}

function renderComment(comment) {
  const author = comment.author;
  return html`<div class="comment d-flex gap-2 mt-2" id="comment-${comment.uid}">
    <a href="${author.url}"><img class="avatar" src="${author.avatar}" width="32" height="32" alt="${author.username}"></a>
    <div>
      <a class="fw-semibold" href="${author.url}">${author.username}</a>
      <span class="comment-body">${comment.body}</span>
      <time class="small text-body-secondary" datetime="${comment.created}" data-relative-time>${comment.created}</time>
    </div>
  </div>`;
}

// `maxLength`: the longest comment the server accepts, from the page.
function renderPost(post, viewer, maxLength) {
  const author = post.author;
  const liked = post.likers.includes(viewer);
  return html`<article class="card post mb-3" id="post-${post.uid}" data-post-uid="${post.uid}">
    <div class="card-body d-flex gap-3">
      <a href="${author.url}"><img class="avatar" src="${author.avatar}" width="50" height="50" alt="${author.username}"></a>
      <div class="flex-grow-1 post-main">
        <a class="post-author fw-semibold" href="${author.url}">${author.username}</a>
        <p class="post-body mb-1">${post.body}</p>
        <div class="post-meta small text-body-secondary">
          <time datetime="${post.created}" data-relative-time>${post.created}</time>
          <button type="button" class="btn btn-link btn-sm like-button" data-liked="${liked}">${liked ? "Unlike" : "Like"}</button>
          <button type="button" class="btn btn-link btn-sm comment-toggle">Comment</button>
        </div>
        ${renderLikes(post)}
        <div class="comments">${post.comments.map(renderComment)}</div>
        <form class="comment-form d-none mt-2">
          <input type="text" class="form-control form-control-sm" name="comment" maxlength="${maxLength}" placeholder="Write a comment" aria-label="Comment" required>
        </form>
      </div>
    </div>
  </article>`;
}

// ---- Relative times ("3 minutes ago") --------------------------------------

const TIME_UNITS = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
];

function timeAgo(date, now = new Date()) {
  const seconds = Math.max(0, (now - date) / 1000);
  for (const [unit, size] of TIME_UNITS) {
    const count = Math.floor(seconds / size);
    if (count >= 1) return `${count} ${unit}${count === 1 ? "" : "s"} ago`;
  }
  return "just now";
}

function refreshTimes(root = document) {
  for (const time of root.querySelectorAll("time[data-relative-time]")) {
    const date = new Date(time.getAttribute("datetime"));
    time.textContent = timeAgo(date);
    time.title = date.toLocaleString();
  }
}

// ---- Talking to the server ------------------------------------------------

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]').content;
}

async function sendJSON(url, payload) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(payload),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `The server answered ${response.status}.`);
  return body;
}

// ---- The page --------------------------------------------------------------

const viewer = () => document.body.dataset.viewer || "";
// What url_for() rendered into <body data-NAME-url>: endpointURL("like").
const endpointURL = (name) => document.body.dataset[`${name}Url`];
const postList = () => document.getElementById("posts");
const postElement = (uid) => document.getElementById(`post-${uid}`);

function insertHTML(container, position, markup) {
  container.insertAdjacentHTML(position, markup.text);
  refreshTimes(container);
}

function showPost(post, position = "afterbegin") {
  const list = postList();
  if (!list || postElement(post.uid)) return;
  insertHTML(list, position, renderPost(post, viewer(), list.dataset.maxLength));
  document.getElementById("feed-empty")?.remove();
}

// FriendFeed's way: a post that gets a comment or a like rises to the top.
function raise(element) {
  const list = postList();
  if (list?.hasAttribute("data-live") && element.parentElement === list) list.prepend(element);
}

function showComment(postUid, comment) {
  const element = postElement(postUid);
  if (!element || document.getElementById(`comment-${comment.uid}`)) return;
  insertHTML(element.querySelector(".comments"), "beforeend", renderComment(comment));
  raise(element);
}

function showLikes(postUid, likers, rise) {
  const element = postElement(postUid);
  if (!element) return;
  const liked = likers.includes(viewer());
  const button = element.querySelector(".like-button");
  button.dataset.liked = String(liked);
  button.textContent = liked ? "Unlike" : "Like";
  element.querySelector(".likes").outerHTML = renderLikes({ likes: likers.length, likers }).text;
  if (rise) raise(element);
}

const EVENT_HANDLERS = {
  post: (data) => showPost(data.post),
  comment: (data) => showComment(data.post_uid, data.comment),
  like: (data) => showLikes(data.post_uid, data.likers, true),
  unlike: (data) => showLikes(data.post_uid, data.likers, false),
};

function listen(list) {
  let lastEventId = list.dataset.lastEventId || "0";
  const open = () => {
    const url = `${list.dataset.sseUrl}?last_event_id=${encodeURIComponent(lastEventId)}`;
    const source = new EventSource(url);
    for (const [name, handle] of Object.entries(EVENT_HANDLERS)) {
      source.addEventListener(name, (event) => {
        lastEventId = event.lastEventId;
        handle(JSON.parse(event.data));
      });
    }
    source.addEventListener("open", () => document.body.classList.remove("stream-lost"));
    source.addEventListener("error", () => {
      // The browser retries by itself after a network error, but gives up
      // when the server answered with an error status (a 503 while the
      // database restarts, say): then try again ourselves, a little later.
      document.body.classList.add("stream-lost");
      if (source.readyState === EventSource.CLOSED) setTimeout(open, 5000);
    });
  };
  open();
}

function showError(element, message) {
  element.textContent = message;
  element.classList.toggle("d-none", !message);
}

function setUpPostForm() {
  const form = document.getElementById("post-form");
  if (!form) return;
  const text = form.querySelector("textarea");
  const counter = document.getElementById("post-chars");
  const error = document.getElementById("post-error");
  const showCharactersLeft = () => {
    counter.textContent = `${text.maxLength - text.value.length} characters left`;
  };
  text.addEventListener("input", showCharactersLeft);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      // The same URL the form posts to without JavaScript.
      showPost(await sendJSON(form.action, { post: text.value }));
      text.value = "";
      showCharactersLeft();
      showError(error, "");
    } catch (failure) {
      showError(error, failure.message); // the text stays in the box
    }
  });
}

async function toggleLike(button) {
  const article = button.closest("article.post");
  const url = button.dataset.liked === "true" ? endpointURL("unlike") : endpointURL("like");
  const state = await sendJSON(url, { post_uid: article.dataset.postUid });
  showLikes(article.dataset.postUid, state.likers, false);
}

function toggleCommentForm(button) {
  const form = button.closest("article.post").querySelector(".comment-form");
  form.classList.toggle("d-none");
  if (!form.classList.contains("d-none")) form.querySelector("input").focus();
}

async function sendComment(form) {
  const article = form.closest("article.post");
  const input = form.querySelector("input");
  try {
    const comment = await sendJSON(endpointURL("comment"), {
      post_uid: article.dataset.postUid,
      comment: input.value,
    });
    showComment(article.dataset.postUid, comment);
    input.value = "";
    form.classList.add("d-none");
  } catch (failure) {
    input.setCustomValidity(failure.message);
    input.reportValidity();
    input.addEventListener("input", () => input.setCustomValidity(""), { once: true });
  }
}

function setUpPostActions() {
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (button?.classList.contains("like-button")) toggleLike(button).catch(console.warn);
    if (button?.classList.contains("comment-toggle")) toggleCommentForm(button);
  });
  document.addEventListener("submit", (event) => {
    if (!event.target.classList.contains("comment-form")) return;
    event.preventDefault();
    sendComment(event.target);
  });
}

// Infinite scroll: load the next page when the bottom of the list shows.
function setUpOlderPosts() {
  const more = document.getElementById("feed-more");
  if (!more || !postList()?.hasAttribute("data-live")) return;
  let loading = false;
  const loadMore = async () => {
    const before = more.dataset.nextBefore;
    if (loading || !before) return;
    loading = true;
    try {
      const url = `${more.dataset.olderUrl}?before=${encodeURIComponent(before)}`;
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      const page = await response.json();
      for (const post of page.posts) showPost(post, "beforeend");
      more.dataset.nextBefore = page.next_before ?? "";
      if (!page.next_before) {
        more.innerHTML = html`<p class="text-body-secondary" id="no-more">No more posts</p>`.text;
      }
    } finally {
      loading = false;
    }
  };
  more.addEventListener("click", (event) => {
    if (event.target.id !== "older-link") return;
    event.preventDefault();
    loadMore();
  });
  new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) loadMore();
  }).observe(more);
}

function start() {
  refreshTimes();
  setInterval(refreshTimes, 30000);
  setUpPostForm();
  setUpPostActions();
  setUpOlderPosts();
  const list = postList();
  if (list?.hasAttribute("data-live")) listen(list);
}

if (typeof module !== "undefined") {
  module.exports = { html, escapeHTML, renderPost, renderComment, renderLikes, timeAgo };
} else {
  start();
}
