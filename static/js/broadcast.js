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
// - Never takes the reader's place: live changes keep focus, typed text and
//   what is on screen where they are, and are announced to screen readers
//   once per burst ("2 new posts").
// - Sends posts, comments and likes with fetch(), CSRF token in X-CSRFToken,
//   and shows a failure next to what failed.
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
    <a href="${author.url}" tabindex="-1" aria-hidden="true"><img class="avatar" src="${author.avatar}" width="32" height="32" alt=""></a>
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
  const uid = post.uid;
  const liked = post.likers.includes(viewer);
  return html`<article class="card post mb-3" id="post-${uid}" data-post-uid="${uid}" tabindex="0"
      aria-labelledby="post-author-${uid}" aria-describedby="post-body-${uid}">
    <div class="card-body d-flex gap-3">
      <a href="${author.url}" tabindex="-1" aria-hidden="true"><img class="avatar" src="${author.avatar}" width="50" height="50" alt=""></a>
      <div class="flex-grow-1 post-main">
        <a class="post-author fw-semibold" id="post-author-${uid}" href="${author.url}">${author.username}</a>
        <p class="post-body mb-1" id="post-body-${uid}">${post.body}</p>
        <div class="post-meta small text-body-secondary">
          <time datetime="${post.created}" data-relative-time>${post.created}</time>
          <button type="button" class="btn btn-link btn-sm like-button" aria-pressed="${liked}" aria-describedby="post-body-${uid}">Like<span class="visually-hidden"> ${author.username}'s post</span></button>
          <button type="button" class="btn btn-link btn-sm comment-toggle" aria-expanded="false" aria-controls="comment-form-${uid}">Comment<span class="visually-hidden"> on ${author.username}'s post</span></button>
        </div>
        <div class="action-error small" role="alert"></div>
        ${renderLikes(post)}
        <div class="comments">${post.comments.map(renderComment)}</div>
        <form class="comment-form d-none mt-2" id="comment-form-${uid}">
          <div class="input-group input-group-sm">
            <input type="text" class="form-control" name="comment" data-max-length="${maxLength}" placeholder="Write a comment" aria-label="Comment on ${author.username}'s post" required>
            <button type="submit" class="btn btn-primary">Send</button>
          </div>
        </form>
      </div>
    </div>
  </article>`;
}

// ---- Relative times ("3 minutes ago") --------------------------------------

// plural(1, "minute") is "1 minute", plural(3, "minute") "3 minutes".
function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

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
    if (count >= 1) return `${plural(count, unit)} ago`;
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

// ---- Lengths ------------------------------------------------------------------

// QuartFeed's one rule for the length of a post or comment, the same as the
// server's (character_count in post/models.py): the Unicode code points of
// the text without the spaces around it. "😀" is one character, "é" typed as
// "e" and a combining accent is two. (String.length and the maxlength
// attribute count UTF-16 units instead: "😀" would be two.)
function characterCount(text) {
  return [...text.trim()].length;
}

// Checks a field with a data-max-length against the rule: the browser will
// not submit its form while it is too long. Returns the characters left.
function checkLength(field) {
  const maxLength = Number(field.dataset.maxLength);
  const left = maxLength - characterCount(field.value);
  field.setCustomValidity(left < 0 ? `Write at most ${maxLength} characters.` : "");
  return left;
}

// ---- Talking to the server ------------------------------------------------

class RequestFailed extends Error {
  constructor(response, body) {
    super(body.error || `The server answered ${response.status}.`);
    this.status = response.status;
    this.retryAfter = response.headers.get("Retry-After");
  }
}

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
  if (!response.ok) throw new RequestFailed(response, body);
  return body;
}

// What to tell the person when an action failed, and what they can do.
function failureNotice(failure) {
  if (!(failure instanceof RequestFailed)) {
    return html`QuartFeed could not be reached. Check your connection and try again.`;
  }
  if (failure.status === 401) {
    return html`Only people who are logged in can do that. <a href="${endpointURL("login")}">Log in</a>`;
  }
  if (failure.status === 429 && failure.retryAfter) {
    return html`Too many at once. Try again in ${failure.retryAfter} seconds.`;
  }
  return html`${failure.message}`;
}

// An empty `.action-error` region (role="alert") next to each form and post
// shows, and reads out, why its action failed; `null` empties it.
function showFailure(region, failure) {
  region.innerHTML = failure ? failureNotice(failure).text : "";
}

// ---- The page --------------------------------------------------------------

const viewer = () => document.body.dataset.viewer || "";
// What url_for() rendered into <body data-NAME-url>: endpointURL("like").
const endpointURL = (name) => document.body.dataset[`${name}Url`];
const postList = () => document.getElementById("posts");
const postElement = (uid) => document.getElementById(`post-${uid}`);
const isLive = (list) => list?.hasAttribute("data-live");

function insertHTML(container, position, markup) {
  container.insertAdjacentHTML(position, markup.text);
  refreshTimes(container);
}

// The feed pattern: each post says where it stands in the list. How many
// there are is unknown (aria-setsize -1): older ones load as you scroll.
function numberPosts(list) {
  [...list.children].forEach((article, index) => {
    article.setAttribute("aria-posinset", index + 1);
    article.setAttribute("aria-setsize", -1);
  });
}

// Returns whether the post was new to the page.
function showPost(post, position = "afterbegin") {
  const list = postList();
  if (!list || postElement(post.uid)) return false;
  insertHTML(list, position, renderPost(post, viewer(), list.dataset.maxLength));
  numberPosts(list);
  document.getElementById("feed-empty")?.remove();
  return true;
}

function isOnScreen(element) {
  const box = element.getBoundingClientRect();
  return box.bottom > 0 && box.top < window.innerHeight;
}

// FriendFeed's way: a post that gets a comment or a like rises to the top of
// the live feed. Not while someone reads it or works in it, though: a post
// on screen, or holding the focus, stays where it is.
function raise(element) {
  const list = postList();
  if (!isLive(list) || element.parentElement !== list) return;
  if (isOnScreen(element) || element.contains(document.activeElement)) return;
  list.prepend(element);
  numberPosts(list);
}

// Returns whether the comment was new to the page.
function showComment(postUid, comment) {
  const element = postElement(postUid);
  if (!element || document.getElementById(`comment-${comment.uid}`)) return false;
  insertHTML(element.querySelector(".comments"), "beforeend", renderComment(comment));
  raise(element);
  return true;
}

function showLikes(postUid, likers, rise) {
  const element = postElement(postUid);
  if (!element) return;
  element.querySelector(".like-button").setAttribute("aria-pressed", likers.includes(viewer()));
  element.querySelector(".likes").outerHTML = renderLikes({ likes: likers.length, likers }).text;
  if (rise) raise(element);
}

// ---- Keeping the reader's place ----------------------------------------------

// What the person is on: the element with the focus if it is in view, else
// the first post in view.
function readingAnchor() {
  const focused = document.activeElement;
  if (focused && focused !== document.body && isOnScreen(focused)) return focused;
  return [...(postList()?.children ?? [])].find(isOnScreen) ?? null;
}

// Runs `change` (a live update) and scrolls by as much as it moved the
// anchor: whatever grew, arrived or rose above it, the anchor stays put.
// At once, not smoothly: the page must not be seen to move.
function keepingPlace(change) {
  const anchor = readingAnchor();
  const topBefore = anchor?.getBoundingClientRect().top;
  change();
  if (!anchor?.isConnected) return;
  const moved = anchor.getBoundingClientRect().top - topBefore;
  window.scrollBy({ top: moved, behavior: "instant" });
}

// ---- Telling screen readers what arrived --------------------------------------

// Arrivals are counted for this long, then announced in one message.
const ANNOUNCE_AFTER_MS = 1000;
const arrivals = { post: 0, comment: 0 };
let announcement = null;

function noteArrival(kind) {
  arrivals[kind] += 1;
  if (announcement) return;
  document.getElementById("live-status").textContent = "";
  announcement = setTimeout(announceArrivals, ANNOUNCE_AFTER_MS);
}

function announceArrivals() {
  const parts = Object.entries(arrivals)
    .filter(([, count]) => count > 0)
    .map(([kind, count]) => plural(count, `new ${kind}`));
  document.getElementById("live-status").textContent = parts.join(", ");
  arrivals.post = 0;
  arrivals.comment = 0;
  announcement = null;
}

// ---- Live events ---------------------------------------------------------------

// What people do themselves comes back to them as events too: not news.
const isNews = (author) => author.username !== viewer();

// Each handler updates the page and returns what arrived that is news to
// the person ("post" or "comment"), if anything.
const EVENT_HANDLERS = {
  post: (data) => (showPost(data.post) && isNews(data.post.author) ? "post" : null),
  comment: (data) =>
    showComment(data.post_uid, data.comment) && isNews(data.comment.author) ? "comment" : null,
  like: (data) => showLikes(data.post_uid, data.likers, true),
  unlike: (data) => showLikes(data.post_uid, data.likers, false),
};

function showStreamStatus(message) {
  document.getElementById("stream-status").textContent = message;
}

function listen(list) {
  let lastEventId = list.dataset.lastEventId || "0";
  const open = () => {
    const url = `${list.dataset.sseUrl}?last_event_id=${encodeURIComponent(lastEventId)}`;
    const source = new EventSource(url);
    for (const [name, handle] of Object.entries(EVENT_HANDLERS)) {
      source.addEventListener(name, (event) => {
        lastEventId = event.lastEventId;
        let arrived;
        keepingPlace(() => {
          arrived = handle(JSON.parse(event.data));
        });
        if (arrived) noteArrival(arrived);
      });
    }
    source.addEventListener("open", () => showStreamStatus(""));
    source.addEventListener("error", () => {
      // The browser retries by itself after a network error, but gives up
      // when the server answered with an error status (a 503 while the
      // database restarts, say): then try again ourselves, a little later.
      showStreamStatus("Reconnecting…");
      if (source.readyState === EventSource.CLOSED) setTimeout(open, 5000);
    });
  };
  open();
}

// ---- Forms and buttons ---------------------------------------------------------

// Near the limit, the counter also speaks (its status region stays quiet
// before, not to read out every keystroke).
const NEAR_THE_LIMIT = 20;

function setUpPostForm() {
  const form = document.getElementById("post-form");
  if (!form) return;
  const text = form.querySelector("textarea");
  const counter = document.getElementById("post-chars");
  const spokenCounter = document.getElementById("post-chars-status");
  const error = document.getElementById("post-error");
  const showCharactersLeft = () => {
    const left = checkLength(text);
    counter.textContent =
      left >= 0 ? `${plural(left, "character")} left` : `${plural(-left, "character")} too many`;
    spokenCounter.textContent = left <= NEAR_THE_LIMIT ? counter.textContent : "";
  };
  text.addEventListener("input", showCharactersLeft);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      // The same URL the form posts to without JavaScript.
      showPost(await sendJSON(form.action, { post: text.value }));
      text.value = "";
      showCharactersLeft();
      showFailure(error, null);
    } catch (failure) {
      showFailure(error, failure); // the text stays in the box
    }
  });
}

async function toggleLike(button) {
  const article = button.closest("article.post");
  const liked = button.getAttribute("aria-pressed") === "true";
  const error = article.querySelector(".action-error");
  try {
    const state = await sendJSON(endpointURL(liked ? "unlike" : "like"), {
      post_uid: article.dataset.postUid,
    });
    showLikes(article.dataset.postUid, state.likers, false);
    showFailure(error, null);
  } catch (failure) {
    showFailure(error, failure);
  }
}

function toggleCommentForm(button) {
  const form = button.closest("article.post").querySelector(".comment-form");
  const opening = form.classList.contains("d-none");
  form.classList.toggle("d-none", !opening);
  button.setAttribute("aria-expanded", opening);
  if (opening) form.querySelector("input").focus();
}

async function sendComment(form) {
  const article = form.closest("article.post");
  const input = form.querySelector("input");
  const error = article.querySelector(".action-error");
  try {
    const comment = await sendJSON(endpointURL("comment"), {
      post_uid: article.dataset.postUid,
      comment: input.value,
    });
    showComment(article.dataset.postUid, comment);
    input.value = "";
    showFailure(error, null);
    // The form closes; the focus, which would be lost with it, goes back to
    // the button that opened it.
    const toggle = article.querySelector(".comment-toggle");
    toggleCommentForm(toggle);
    toggle.focus();
  } catch (failure) {
    showFailure(error, failure); // the comment stays in the box
  }
}

function setUpPostActions() {
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (button?.classList.contains("like-button")) toggleLike(button);
    if (button?.classList.contains("comment-toggle")) toggleCommentForm(button);
  });
  document.addEventListener("submit", (event) => {
    if (!event.target.classList.contains("comment-form")) return;
    event.preventDefault();
    sendComment(event.target);
  });
  document.addEventListener("input", (event) => {
    if (event.target.dataset.maxLength) checkLength(event.target);
  });
}

// The feed pattern's keys: on a post, Page Down and Page Up go to the next
// and the previous one.
function setUpFeedKeys() {
  document.addEventListener("keydown", (event) => {
    const article = event.target;
    if (!article.matches?.('[role="feed"] > article')) return;
    const next = { PageDown: article.nextElementSibling, PageUp: article.previousElementSibling };
    if (!next[event.key]) return;
    event.preventDefault();
    next[event.key].focus();
  });
}

// Infinite scroll: load the next page when the bottom of the list shows.
function setUpOlderPosts() {
  const more = document.getElementById("feed-more");
  const list = postList();
  if (!more || !isLive(list)) return;
  let loading = false;
  const loadMore = async () => {
    const before = more.dataset.nextBefore;
    if (loading || !before) return;
    loading = true;
    list.setAttribute("aria-busy", "true");
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
      list.setAttribute("aria-busy", "false");
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
  setUpFeedKeys();
  setUpOlderPosts();
  const list = postList();
  if (list) numberPosts(list);
  if (isLive(list)) listen(list);
}

if (typeof module !== "undefined") {
  module.exports = {
    html,
    escapeHTML,
    renderPost,
    renderComment,
    renderLikes,
    timeAgo,
    characterCount,
  };
} else {
  start();
}
