// QuartFeed in the browser.
//
// - Renders posts, comments and their likes with template literals passed
//   through the `html` tag, which escapes every value: what people write is
//   always shown as text, never run as markup. The markup is the same as the
//   Jinja partials in templates/post/ (tests/test_templates.py compares them).
// - Keeps home, profile and group pages live: the events of the channels
//   a page shows come on one EventSource that all the tabs of the browser
//   share. After a dropped connection the browser reconnects by itself and
//   sends Last-Event-ID, so the server replays exactly what was missed. A
//   reset reloads the page, keeping what is being typed; a logout says so.
// - Never takes the reader's place: live changes keep focus, typed text and
//   what is on screen where they are; new posts that arrive while the
//   reader is at the top wait behind an "N new posts" button. What arrives
//   is announced to screen readers once per burst ("2 new posts from alice").
// - Sends posts, comments, likes and deletions with fetch(), CSRF token in
//   X-CSRFToken, and shows a failure next to what failed.
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

// ---- Links in what people write ---------------------------------------------

// The rules of utilities/richtext.py, character for character (ASCII classes
// only: Python and JavaScript disagree about letters and spaces beyond it).
const ADDRESS = String.raw`https?://[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]+`;
const NAME = String.raw`(?<![A-Za-z0-9_])@([A-Za-z0-9_]{1,15})(?![A-Za-z0-9_])`;
const LINKABLE = new RegExp(`(${ADDRESS})|${NAME}`, "g");
const TRAILING_PUNCTUATION = /[.,!?;:)\]]+$/;
const SHOWN_ADDRESS_LENGTH = 40;
const LINK_REL = "nofollow ugc noopener noreferrer";

function shownAddress(address) {
  const shown = address.slice(address.indexOf("://") + 3);
  if (shown.length <= SHOWN_ADDRESS_LENGTH) return shown;
  return `${shown.slice(0, SHOWN_ADDRESS_LENGTH - 1)}…`;
}

// `text` as markup: its http(s) addresses, and its @names of `mentions` (the
// people it mentions: username and url), as links; the rest escaped.
function richText(text, mentions) {
  const people = new Map(mentions.map((person) => [person.username.toLowerCase(), person]));
  const parts = [];
  let shownUpTo = 0;
  for (const match of text.matchAll(LINKABLE)) {
    let [whole, address, name] = match;
    let link;
    if (address) {
      address = address.replace(TRAILING_PUNCTUATION, "");
      if (address.endsWith("://")) continue; // nothing was left after the scheme
      link = html`<a href="${address}" rel="${LINK_REL}">${shownAddress(address)}</a>`;
      whole = address;
    } else if (people.has(name.toLowerCase())) {
      link = html`<a class="mention" href="${people.get(name.toLowerCase()).url}">@${name}</a>`;
    } else {
      continue;
    }
    parts.push(text.slice(shownUpTo, match.index), link);
    shownUpTo = match.index + whole.length;
  }
  parts.push(text.slice(shownUpTo));
  return html`${parts}`;
}

// ---- The same markup as templates/post/ -----------------------------------

// Under a post or a comment (`item`).
function renderLikes(item) {
  const count = item.likes;
  const summary = count
    ? html`${count} ${count === 1 ? "like" : "likes"} · Liked by ${item.likers.join(", ")}`
    : "";
  return html`<div class="likes small text-body-secondary">${summary}</div>`;
}

// A post's or a comment's (`kind`) buttons, as in templates/post/_items.html.
function renderLikeButton(item, kind, viewer) {
  const liked = item.likers.includes(viewer);
  return html`<button type="button" class="btn btn-link btn-sm like-button" aria-pressed="${liked}" aria-describedby="${kind}-body-${item.uid}">Like<span class="visually-hidden"> ${item.author.username}'s ${kind}</span></button>`;
}

function renderEditButton(item, kind) {
  return html`<button type="button" class="btn btn-link btn-sm edit-button" aria-describedby="${kind}-body-${item.uid}">Edit<span class="visually-hidden"> ${item.author.username}'s ${kind}</span></button>`;
}

// "· edited", after the time it was written; when, on hover (refreshTimes).
function renderEdited(item) {
  if (!item.edited) return "";
  return html`<span class="edited" id="edited-${item.uid}">· <time datetime="${item.edited}" title="${item.edited}" data-edited-time>edited</time></span>`;
}

function renderDeleteButton(item, kind) {
  return html`<button type="button" class="btn btn-link btn-sm delete-button" aria-describedby="${kind}-body-${item.uid}">Delete<span class="visually-hidden"> ${item.author.username}'s ${kind}</span></button>`;
}

// The name an author chose to show beside their @name, if any, as in
// templates/user/_display_name.html.
function renderDisplayName(author) {
  return author.display_name
    ? html` <span class="display-name text-body-secondary">${author.display_name}</span>`
    : "";
}

// `postAuthor`: the username of the post it answers, who may delete it too.
function renderComment(comment, viewer, postAuthor) {
  const author = comment.author;
  const uid = comment.uid;
  const mayEdit = author.username === viewer;
  const mayDelete = [author.username, postAuthor].includes(viewer);
  return html`<div class="comment d-flex gap-2 mt-2" id="comment-${uid}" data-uid="${uid}" data-author="${author.username}">
    <a href="${author.url}" tabindex="-1" aria-hidden="true"><img class="avatar" src="${author.avatar}" width="32" height="32" alt=""></a>
    <div class="flex-grow-1">
      <a class="fw-semibold" href="${author.url}">${author.username}</a>${renderDisplayName(author)}
      <span class="comment-body" id="comment-body-${uid}">${richText(comment.body, comment.mentions)}</span>
      <div class="small text-body-secondary">
        <time datetime="${comment.created}" data-relative-time>${comment.created}</time>
        ${renderEdited(comment)}
        ${renderLikeButton(comment, "comment", viewer)}
        ${mayEdit ? renderEditButton(comment, "comment") : ""}
        ${mayDelete ? renderDeleteButton(comment, "comment") : ""}
      </div>
      <div class="action-error small" role="alert"></div>
      ${renderLikes(comment)}
    </div>
  </div>`;
}

// `viewer`: the username of who looks at the page, "" for a visitor.
// `maxLength`: the longest comment the server accepts, from the page.
// `shownInGroup`: the URL of the group whose page lists the post, if any.
// A post made in a group, shown outside it, names the group (as the
// server's pages do: post.present).
function renderGroupLabel(group, shownInGroup) {
  if (!group || group.url === shownInGroup) return "";
  return html` <span class="post-group small text-body-secondary">in <a href="${group.url}">${group.name}</a></span>`;
}

function renderPost(post, viewer, maxLength, shownInGroup = null) {
  const author = post.author;
  const uid = post.uid;
  const comments = post.comments.map((comment) => renderComment(comment, viewer, author.username));
  return html`<article class="card post mb-3" id="post-${uid}" data-uid="${uid}" data-author="${author.username}" tabindex="0"
      aria-labelledby="post-author-${uid}" aria-describedby="post-body-${uid}">
    <div class="card-body d-flex gap-3">
      <a href="${author.url}" tabindex="-1" aria-hidden="true"><img class="avatar" src="${author.avatar}" width="50" height="50" alt=""></a>
      <div class="flex-grow-1 post-main">
        <a class="post-author fw-semibold" id="post-author-${uid}" href="${author.url}">${author.username}</a>${renderDisplayName(author)}${renderGroupLabel(post.group, shownInGroup)}
        <p class="post-body mb-1" id="post-body-${uid}">${richText(post.body, post.mentions)}</p>
        <div class="post-meta small text-body-secondary">
          <time datetime="${post.created}" data-relative-time>${post.created}</time>
          ${renderEdited(post)}
          ${renderLikeButton(post, "post", viewer)}
          <button type="button" class="btn btn-link btn-sm comment-toggle" aria-expanded="false" aria-controls="comment-form-${uid}">Comment<span class="visually-hidden"> on ${author.username}'s post</span></button>
          ${viewer === author.username ? html`${renderEditButton(post, "post")} ${renderDeleteButton(post, "post")}` : ""}
        </div>
        <div class="action-error small" role="alert"></div>
        ${renderLikes(post)}
        <div class="comments">${comments}</div>
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

// ---- Two Tab stops per post ----------------------------------------------------
//
// A post holds many controls (its author, Like, Comment, Edit, Delete, and
// those of each comment): with a Tab stop each, the way down the feed takes
// dozens of presses. So each post is two stops: the post itself (the feed's
// article), then one of its controls, at first the first. The arrow keys
// move among the others, and the one last used keeps the stop (a roving
// tabindex). A comment or an edit being written keeps its box and buttons
// in the Tab order. Without script every control is a stop, as the markup
// has it.

const ARROW_STEPS = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };

// The controls of a post that take turns at its Tab stop (avatar links are
// out of the Tab order already: their name beside them is the same link).
const rovingControls = (article) =>
  [...article.querySelectorAll('a[href]:not([aria-hidden]), button:not([hidden])')].filter(
    (control) => !control.closest(".comment-form, .edit-form"),
  );

// `current` (else the one that has the stop, else the first) keeps it.
function rove(article, current = null) {
  const controls = rovingControls(article);
  const keeper = current ?? controls.find((control) => control.tabIndex === 0) ?? controls[0];
  for (const control of controls) control.tabIndex = control === keeper ? 0 : -1;
}

// After markup was added to `container`: a post, a list of posts, or a part of a post.
function roveIn(container) {
  const article = container.closest("article.post");
  const articles = article ? [article] : container.querySelectorAll("article.post");
  for (const each of articles) rove(each);
}

function setUpRovingControls() {
  roveIn(document.body);
  // A control clicked or reached otherwise keeps the stop.
  document.addEventListener("focusin", (event) => {
    const article = event.target.closest?.("article.post");
    if (article && rovingControls(article).includes(event.target)) rove(article, event.target);
  });
  document.addEventListener("keydown", (event) => {
    const article = event.target.closest?.("article.post");
    const step = ARROW_STEPS[event.key];
    if (!article || !step) return;
    const controls = rovingControls(article);
    const index = controls.indexOf(event.target);
    if (index < 0) return; // the post itself, or a comment's box: arrows do what they do
    event.preventDefault();
    controls[(index + step + controls.length) % controls.length].focus();
  });
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
  for (const time of root.querySelectorAll("time[data-edited-time]")) {
    time.title = `Edited ${new Date(time.getAttribute("datetime")).toLocaleString()}`;
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
const commentElement = (uid) => document.getElementById(`comment-${uid}`);
// The home feed (data-live): new posts arrive in it, and posts rise to its
// top. A profile's list listens too, but only for changes to what it shows.
const isLive = (list) => list?.hasAttribute("data-live");
// A post or a comment is the element with its uid; a button acts on its own.
const itemOf = (element) => element.closest("[data-uid]");
// Where a failed action on a post or comment says why: a post's own message,
// like its own like button and likes, comes before those of its comments, so
// querySelector finds it first.
const failureRegionOf = (item) => item.querySelector(".action-error");

function insertHTML(container, position, markup) {
  container.insertAdjacentHTML(position, markup.text);
  refreshTimes(container);
  roveIn(container);
}

// The feed pattern: each post says where it stands in the list. How many
// there are is unknown (aria-setsize -1): older ones load as you scroll.
// The list is a feed (role="feed"), named by its heading, once it has a
// post: a feed must hold articles, so an empty one is a plain container.
function numberPosts(list) {
  if (list.children.length === 0) {
    list.removeAttribute("role");
    list.removeAttribute("aria-labelledby");
    return;
  }
  list.setAttribute("role", "feed");
  list.setAttribute("aria-labelledby", list.dataset.feedLabelledby);
  [...list.children].forEach((article, index) => {
    article.setAttribute("aria-posinset", index + 1);
    article.setAttribute("aria-setsize", -1);
  });
}

// A post as `list` shows it: the page's viewer, comment limit and group.
const renderPostIn = (list, post) =>
  renderPost(post, viewer(), list.dataset.maxLength, list.dataset.groupUrl);

// Returns whether the post was new to the page.
function showPost(post, position = "afterbegin") {
  const list = postList();
  if (postElement(post.uid)) return false;
  insertHTML(list, position, renderPostIn(list, post));
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
// on screen, or holding the focus, stays where it is. At the top of the
// list, a risen post would push down what is read: it waits with the new
// posts, behind their button, instead.
function raise(element) {
  const list = postList();
  if (!isLive(list) || element.parentElement !== list) return;
  if (isOnScreen(element) || element.contains(document.activeElement)) return;
  if (readerIsAtTop()) {
    waitingPosts().prepend(element);
    updateNewPostsButton();
  } else {
    list.prepend(element);
  }
  numberPosts(list);
}

// Returns whether the comment was new to the page.
function showComment(postUid, comment) {
  const element = postElement(postUid);
  if (!element || commentElement(comment.uid)) return false;
  const markup = renderComment(comment, viewer(), element.dataset.author);
  insertHTML(element.querySelector(".comments"), "beforeend", markup);
  raise(element);
  return true;
}

// The likes of a post or a comment (`item`: null when it is not on the page).
function showLikes(item, likers, rise) {
  if (!item) return;
  item.querySelector(".like-button").setAttribute("aria-pressed", likers.includes(viewer()));
  item.querySelector(".likes").outerHTML = renderLikes({ likes: likers.length, likers }).text;
  if (rise) raise(item);
}

// The element that shows the text of a post or a comment (`item`).
const bodyOf = (item) =>
  document.getElementById(`${item.matches(".comment") ? "comment" : "post"}-body-${item.dataset.uid}`);

// An edited post or comment (`item`: null when it is not on the page) shows
// its new text in place, marked edited; it neither moves nor rises.
function showEdit(item, edit) {
  if (!item) return;
  bodyOf(item).innerHTML = richText(edit.body, edit.mentions).text;
  document.getElementById(`edited-${item.dataset.uid}`)?.remove();
  // Its own time comes first: a post's is before its comments' times.
  const written = item.querySelector("time[data-relative-time]");
  written.insertAdjacentHTML("afterend", renderEdited({ ...edit, uid: item.dataset.uid }).text);
  refreshTimes(written.parentElement);
}

// Where the focus goes when what holds it is deleted, rather than back to
// the top of the page: from a comment to its post; from a post to the next
// one, else the one before, else the list.
function focusAfterRemoving(item) {
  if (item.matches(".comment")) return item.closest("article.post");
  return item.nextElementSibling ?? item.previousElementSibling ?? item.parentElement;
}

// preventScroll: the page stays where the reader has it. The list, which Tab
// does not stop on, takes the focus from script (tabindex -1).
function focusInPlace(element) {
  if (!element.hasAttribute("tabindex")) element.tabIndex = -1;
  element.focus({ preventScroll: true });
}

// Takes a deleted post or comment off the page (`item`: null, or already
// gone, when it is not on it).
function removeItem(item) {
  if (!item?.isConnected) return;
  const hadFocus = item.contains(document.activeElement);
  const successor = focusAfterRemoving(item);
  item.remove();
  numberPosts(postList());
  updateNewPostsButton();
  if (hadFocus) focusInPlace(successor);
}

// Takes every post and comment by `username` off the page, those waiting
// behind the "N new posts" button too.
function removeEverythingBy(username) {
  const author = CSS.escape(username);
  document.querySelectorAll(`.post[data-author="${author}"], .comment[data-author="${author}"]`).forEach(removeItem);
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

// ---- New posts wait their turn at the top ----------------------------------------

// A post from someone else that arrives while the reader is at the top of
// the list would push what they read down: it waits, out of sight, behind
// the "N new posts" button (templates/feed/_new_posts.html) until they press
// it. Further down, it goes in above them, out of sight, and keepingPlace
// holds the view still. Either way nothing on screen moves by itself.

const waitingPosts = () => document.getElementById("waiting-posts");

// The top of the list, where new posts appear, is in view (or below it).
const readerIsAtTop = () => postList().getBoundingClientRect().top >= 0;

// Returns whether the post was new to the page.
function receivePost(post) {
  const list = postList();
  if (!isLive(list) || postElement(post.uid)) return false;
  if (!isNews(post.author) || !readerIsAtTop()) {
    showWaitingPosts(); // they came first: they go below it
    return showPost(post);
  }
  insertHTML(waitingPosts(), "afterbegin", renderPostIn(list, post));
  updateNewPostsButton();
  return true;
}

// Called too when a waiting post is deleted: the count follows.
function updateNewPostsButton() {
  const waiting = waitingPosts();
  if (!waiting) return; // a page that is not live
  const count = waiting.children.length;
  document.getElementById("new-posts").hidden = count === 0;
  document.getElementById("show-new-posts").textContent = `Show ${plural(count, "new post")}`;
}

// Puts the waiting posts at the top of the list, newest first; returns the
// first of them (null when none were waiting).
function showWaitingPosts() {
  const waiting = [...(waitingPosts()?.children ?? [])];
  if (waiting.length === 0) return null;
  const list = postList();
  list.prepend(...waiting);
  numberPosts(list);
  document.getElementById("feed-empty")?.remove();
  updateNewPostsButton();
  return waiting[0];
}

// Pressing the button shows the posts and takes the reader to the first
// (the button itself goes, and the focus must not go with it).
function setUpNewPostsButton() {
  document.getElementById("show-new-posts")?.addEventListener("click", () => {
    showWaitingPosts()?.focus();
  });
}

// ---- Telling screen readers what arrived --------------------------------------

// Arrivals are gathered for this long, then announced in one message that
// says who wrote them: "2 new posts from alice and bob, 1 new comment from carol".
const ANNOUNCE_AFTER_MS = 1000;
const arrivals = { post: [], comment: [] }; // kind -> the author of each arrival
let announcement = null;

function noteArrival(kind, author) {
  arrivals[kind].push(author);
  if (announcement) return;
  document.getElementById("live-status").textContent = "";
  announcement = setTimeout(announceArrivals, ANNOUNCE_AFTER_MS);
}

// "alice", "alice and bob", "alice, bob and carol": each name once.
function listNames(names) {
  const unique = [...new Set(names)];
  const last = unique.pop();
  return unique.length ? `${unique.join(", ")} and ${last}` : last;
}

function announceArrivals() {
  const parts = Object.entries(arrivals)
    .filter(([, authors]) => authors.length > 0)
    .map(([kind, authors]) => `${plural(authors.length, `new ${kind}`)} from ${listNames(authors)}`);
  document.getElementById("live-status").textContent = parts.join(", ");
  arrivals.post = [];
  arrivals.comment = [];
  announcement = null;
}

// ---- Live events -----------------------------------------------------------------

// What people do themselves comes back to them as events too: not news.
const isNews = (author) => author.username !== viewer();

// What a like, an unlike or a deletion is about: one of the post's comments
// (comment_uid), or the post itself (comment_uid null).
const eventItem = (data) =>
  data.comment_uid ? commentElement(data.comment_uid) : postElement(data.post_uid);

// Each handler updates the page and returns what arrived that is news to
// the person ([kind, author's username]), if anything.
const EVENT_HANDLERS = {
  post: (data) =>
    receivePost(data.post) && isNews(data.post.author) ? ["post", data.post.author.username] : null,
  comment: (data) =>
    showComment(data.post_uid, data.comment) && isNews(data.comment.author)
      ? ["comment", data.comment.author.username]
      : null,
  // A like raises the post it is for, not the post of a comment it is for.
  like: (data) => showLikes(eventItem(data), data.likers, data.comment_uid === null),
  unlike: (data) => showLikes(eventItem(data), data.likers, false),
  // With `author`, someone deleted their account: everything of theirs goes.
  delete: (data) => (data.author ? removeEverythingBy(data.author) : removeItem(eventItem(data))),
  edit: (data) => showEdit(eventItem(data), data),
};

// ---- The bell and the notifications page ---------------------------------------
//
// Every page of a logged-in person shows their notices channel: what they
// are notified of. The bell counts what is unread. `counted-through` is
// the event of the channel its count holds as of: later events change it.
// The server renders both from one statement; then a notification adds
// one, a read says how many are left (it is the person's own event), and
// one taken back (an unlike, a deletion, an unfollow: whether it was read
// is the person's own, which a shared event cannot say) makes the bell ask.

const unreadBadge = () => document.getElementById("notification-count");
const countedThrough = () => Number(unreadBadge().dataset.countedThrough);

function showUnread(count, through) {
  const badge = unreadBadge();
  badge.dataset.unread = count;
  badge.dataset.countedThrough = through;
  badge.hidden = count === 0;
  document.getElementById("notification-count-number").textContent = count;
}

// The count from the server, if it holds as of every event counted here;
// else (events came meanwhile that it did not count) ask again.
async function recountUnread() {
  const asking = fetch(endpointURL("unread"), { headers: { Accept: "application/json" } });
  const answer = await asking.then((response) => response.json()).catch(() => null);
  if (!answer) return;
  if (answer.seq >= countedThrough()) showUnread(answer.unread, answer.seq);
  else await recountUnread();
}

// What each kind of notification says after who did it, and what it links
// to: the words of notification/present.py.
const NOTICE_WORDS = {
  follow: ["followed", "you"],
  like: ["liked", "your {subject}"],
  comment: ["commented on", "your post"],
  reply: ["also commented on", "{post_author}'s post"],
  mention: ["mentioned you in", "a {subject}"],
};

// Who did what, about which post or comment, from each event that notifies.
const NOTICES = {
  follow: (data) => ({ kind: "follow", actor: data.user }),
  like: (data) => ({ kind: "like", actor: data.by, post: data.post_uid, comment: data.comment_uid }),
  post: (data) => ({ kind: "mention", actor: data.post.author, post: data.post.uid }),
  // An edit notifies only the people it mentions who were not mentioned before.
  edit: (data) => ({ kind: "mention", actor: data.author, post: data.post_uid, comment: data.comment_uid }),
  // One comment notifies the post's author, the people it mentions and the
  // others who commented, each once, in that order (feed.models).
  comment: (data) => {
    const mentioned = data.comment.mentions.some((person) => person.username === viewer());
    const kind = data.post_author === viewer() ? "comment" : mentioned ? "mention" : "reply";
    const notice = { kind, actor: data.comment.author, post: data.post_uid };
    return { ...notice, comment: data.comment.uid, postAuthor: data.post_author };
  },
};

function postURL(postUid, commentUid) {
  const url = endpointURL("post").replace("UID", encodeURIComponent(postUid));
  return commentUid ? `${url}#comment-${commentUid}` : url;
}

// A notification that arrived live, described as notification/present.py
// describes one: `seq`, its event in the notices channel.
function notificationOf(name, data, seq) {
  const notice = NOTICES[name](data);
  const [verb, thing] = NOTICE_WORDS[notice.kind];
  return {
    seq,
    kind: notice.kind,
    unread: true,
    created: new Date().toISOString(),
    actor: notice.actor,
    others: 0,
    verb,
    thing: thing
      .replace("{subject}", notice.comment ? "comment" : "post")
      .replace("{post_author}", notice.postAuthor),
    url: notice.post ? postURL(notice.post, notice.comment) : notice.actor.url,
  };
}

// The markup of templates/notification/_notification.html.
function renderNotification(notice) {
  const others = notice.others
    ? html` and ${notice.others} ${notice.others === 1 ? "other" : "others"}`
    : "";
  const fresh = notice.unread ? html` <span class="badge text-bg-primary">new</span>` : "";
  return html`<li class="list-group-item notification${notice.unread ? " unread" : ""}" data-seq="${notice.seq}">
    <a class="fw-semibold" href="${notice.actor.url}">${notice.actor.username}</a>${renderDisplayName(notice.actor)}${others}
    ${notice.verb} <a href="${notice.url}">${notice.thing}</a>${fresh}
    <time class="small text-body-secondary" datetime="${notice.created}" data-relative-time>${notice.created}</time>
  </li>`;
}

const notificationList = () => document.getElementById("notification-list");

// On the notifications page: what arrives goes on top.
function showNotification(name, data, seq) {
  const list = notificationList();
  if (!list) return;
  insertHTML(list, "afterbegin", renderNotification(notificationOf(name, data, seq)));
  document.getElementById("notifications-empty")?.remove();
  document.getElementById("live-status").textContent = "1 new notification";
}

// On the notifications page: the list as the server has it now, after one
// was taken back (a group of them may have lost one of its people).
async function refreshNotifications() {
  const list = notificationList();
  if (!list) return;
  const page = await fetch(window.location.href).then((response) => response.text());
  const fresh = new DOMParser().parseFromString(page, "text/html").getElementById(list.id);
  if (fresh) list.innerHTML = fresh.innerHTML;
  refreshTimes(list);
}

// Those read (up to `through`) lose their mark, on every open page.
function showRead(through) {
  for (const item of notificationList()?.querySelectorAll(".notification.unread") ?? []) {
    if (Number(item.dataset.seq) > through) continue;
    item.classList.remove("unread");
    item.querySelector(".badge")?.remove();
  }
}

// What each event of the notices channel does to the bell and the list.
function showNotice(name, data, seq) {
  if (seq <= countedThrough()) return; // counted already by the page
  if (name === "read") {
    showUnread(data.unread, seq);
    showRead(data.through);
  } else if (name in NOTICES) {
    showUnread(Number(unreadBadge().dataset.unread) + 1, seq);
    showNotification(name, data, seq);
  } else {
    recountUnread();
    refreshNotifications();
  }
}

// The notifications page, once open, marks what it shows read.
async function markShownRead() {
  const newest = notificationList()?.dataset.newest;
  if (!newest) return;
  const form = new FormData();
  form.append("through", newest);
  await fetch(endpointURL("read"), {
    method: "POST",
    headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: form,
  }).catch(() => {}); // unread it stays, and says so: nothing else to do
}

// Besides those, the stream says when a page must start over (reset) and
// when the session has ended (logout).
const STREAM_EVENTS = [
  ...new Set([...Object.keys(EVENT_HANDLERS), "follow", "unfollow", "read"]),
  "reset",
  "logout",
];

// ---- Cursors: how far a reader has got in each channel --------------------------

// A channel is one page's source of events: "home", "group:5", "profile:7".
// Each numbers its events 1, 2, 3, ... A cursor names the database's epoch,
// then where a reader stands in each channel: "k3f9x2/home=12/group:5=3".
// The page gets its own in <body data-stream-cursor>, and the server sends
// the stream's whole cursor as the id of every event.
function parseCursor(text) {
  const [epoch, ...parts] = text.split(/\//);
  const seqs = {};
  for (const part of parts) {
    const equals = part.lastIndexOf("=");
    seqs[part.slice(0, equals)] = Number(part.slice(equals + 1));
  }
  return { epoch, seqs };
}

function formatCursor(cursor) {
  const seqs = Object.entries(cursor.seqs);
  return seqs.reduce((text, [channel, seq]) => `${text}/${channel}=${seq}`, cursor.epoch);
}

// ---- What this page does with an event ------------------------------------------

// The channels this page shows, each with the seq of the last event it
// shows (at first, where the server rendered it). Another tab's stream may
// send an event again (it replays for a tab that is further behind):
// events at or below it were shown already.
let pageCursor = null;

const showsChannel = (channel) => channel in pageCursor.seqs;

// Every tab is told of every event of the shared stream, with the stream's
// whole cursor before and after it; it shows those of its own channels that
// come next for it. Not those it has (seq at or below its own), nor those
// after a gap (the stream was further on than this page when the page
// joined): the holder opens the stream again from this page's seq, and
// the events of the gap come first.
function showStreamEvent(name, data, cursor, previous) {
  if (name === "reset") return startOverIfShown(data.channels);
  const seq = cursor.seqs[data.channel];
  const shown = pageCursor.seqs[data.channel];
  if (!showsChannel(data.channel) || seq <= shown || previous.seqs[data.channel] > shown) return;
  pageCursor.seqs[data.channel] = seq;
  let arrived;
  keepingPlace(() => {
    if (data.channel === "notices") showNotice(name, data, seq);
    else arrived = EVENT_HANDLERS[name](data);
  });
  if (arrived) noteArrival(...arrived);
  // Other scripts (the browser tests among them) can follow what the page shows.
  const detail = { name, channel: data.channel, seq };
  document.dispatchEvent(new CustomEvent("quartfeed:live-event", { detail }));
}

// The server could not replay a channel from where the page stood (its
// cursor was ahead, from another epoch, or too far behind): the page is
// read again, without losing what the person was typing.
function startOverIfShown(channels) {
  if (!channels.some(showsChannel)) return;
  saveTypedText();
  window.location.reload();
}

// ---- Keeping what is being typed across a reload ---------------------------------

// sessionStorage belongs to the tab and outlives a reload; the key names the
// page, so the text comes back to this page only.
const typedTextKey = () =>
  `quartfeed typed text ${window.location.pathname}${window.location.search}`;

// The boxes people write in (a post's, a comment's) say their longest text.
const writingFields = () =>
  document.querySelectorAll("textarea[data-max-length], input[data-max-length]");

// A field is known by its id, else by its form's: a comment box by its
// post's comment form, "comment-form-<uid>".
const fieldKey = (field) => field.id || field.form?.id;

function saveTypedText() {
  const texts = {};
  for (const field of writingFields()) {
    if (field.value && fieldKey(field)) texts[fieldKey(field)] = field.value;
  }
  const focused = [...writingFields()].find((field) => field === document.activeElement);
  const saved = { texts, focused: focused ? fieldKey(focused) : null };
  sessionStorage.setItem(typedTextKey(), JSON.stringify(saved));
}

// The field saved under `key`, if the reloaded page still has it.
function fieldByKey(key) {
  const element = document.getElementById(key);
  if (element?.matches("[data-max-length]")) return element;
  return element?.querySelector("[data-max-length]");
}

// An edit that was open comes back open (without taking the focus), if
// its post or comment is still there: its form is "edit-form-<uid>".
function reopenEditForm(key) {
  const uid = key.match(/^edit-form-(.+)$/)?.[1];
  const item = uid && (postElement(uid) ?? commentElement(uid));
  const button = item && editButtonOf(item);
  return button ? openEditForm(button, false) : null;
}

// A comment box that was open comes back open (without taking the focus).
function openCommentForm(form) {
  form.classList.remove("d-none");
  form.closest("article.post").querySelector(".comment-toggle").setAttribute("aria-expanded", true);
}

function restoreTypedText() {
  const saved = JSON.parse(sessionStorage.getItem(typedTextKey()) ?? "null");
  sessionStorage.removeItem(typedTextKey());
  if (!saved) return;
  for (const [key, text] of Object.entries(saved.texts)) {
    const field = fieldByKey(key) ?? reopenEditForm(key);
    if (!field) continue; // its post was deleted meanwhile
    field.value = text;
    const commentForm = field.closest(".comment-form");
    if (commentForm) openCommentForm(commentForm);
    field.dispatchEvent(new Event("input", { bubbles: true })); // the counters count it
  }
  if (saved.focused) fieldByKey(saved.focused)?.focus();
}

// ---- The stream's state, shown in every tab ------------------------------------

function showStreamStatus(message) {
  const status = document.getElementById("stream-status");
  if (status) status.innerHTML = message.text;
}

const STREAM_STATES = {
  connected: () => showStreamStatus(html``),
  reconnecting: () => showStreamStatus(html`Reconnecting…`),
  "logged-out": () => {
    const login = endpointURL("login");
    showStreamStatus(html`You are logged out. <a href="${login}">Log in</a> to see what is new.`);
    stopSharing();
  },
};

// ---- One stream for all the tabs of a browser ----------------------------------
//
// A browser opens at most six HTTP/1.1 connections to a site: with a stream
// per tab, six tabs would leave none for anything else. So the tabs of one
// person share one stream:
// - One tab holds it. The tabs take turns through the Web Locks API: each
//   asks for the lock named after the viewer; the browser grants it to one
//   tab at a time and, when that tab closes, to the next one waiting.
// - A BroadcastChannel, named after the viewer too, links the tabs. Each tab
//   says which channels it shows and how far it got ("join"); the holder's
//   stream carries the channels of every tab, and the holder passes every
//   event on to every tab, itself included.
// - Every tab keeps the stream's cursor from the last event: the next
//   holder carries on from there, and nothing is lost in between.
// - Where a browser lacks either API, each tab holds a stream of its own,
//   through the same code: its link to other tabs reaches no one.

const tabId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
const sharedName = () => `quartfeed stream of ${viewer()}`;
let tabLink = null; // the BroadcastChannel, or null where each tab streams alone
let stopAsking = null; // withdraws this tab's request for the lock
let stopped = false; // after a logout: no more streaming here

// Every tab knows which channels every other tab shows (tab id -> cursor),
// to open a stream for all of them should it become the holder.
const tabCursors = new Map();
// The stream's cursor after the last event any tab was told of.
let streamCursor = null;

function tellOtherTabs(message) {
  tabLink?.postMessage(message);
}

function tellEveryTab(message) {
  tellOtherTabs(message);
  hear(message);
}

const join = () => ({ type: "join", tab: tabId, cursor: formatCursor(pageCursor) });

// What a tab does with each kind of message from the others (the holder
// hears its own "event" and "state" messages too).
const TAB_MESSAGES = {
  // A tab opened, or answers a roll call: the channels it shows, how far it got.
  join: (message) => {
    const cursor = parseCursor(message.cursor);
    tabCursors.set(message.tab, cursor);
    if (holding) wantChannels(cursor);
  },
  // A tab closed, or was logged out.
  leave: (message) => tabCursors.delete(message.tab),
  // A new holder asks which tabs are open.
  "roll-call": () => tellOtherTabs(join()),
  // An event of the stream, with the stream's cursor before and after it.
  event: (message) => {
    streamCursor = parseCursor(message.id);
    const previous = parseCursor(message.previous);
    showStreamEvent(message.name, JSON.parse(message.data), streamCursor, previous);
  },
  // The stream is connected or reconnecting, or the person is logged out.
  state: (message) => STREAM_STATES[message.state](),
};

function hear(message) {
  if (!stopped) TAB_MESSAGES[message.type](message);
}

function canShareStream() {
  return "locks" in navigator && "BroadcastChannel" in window;
}

function startSharing() {
  pageCursor = parseCursor(document.body.dataset.streamCursor);
  tabCursors.set(tabId, pageCursor);
  if (!canShareStream()) {
    holdStream();
    return;
  }
  tabLink = new BroadcastChannel(sharedName());
  tabLink.addEventListener("message", (event) => hear(event.data));
  tellOtherTabs(join());
  const asking = new AbortController();
  stopAsking = () => asking.abort();
  // Granted when no other tab holds the stream; held until holdStream's
  // promise settles, which is when this tab closes (or is logged out).
  navigator.locks
    .request(sharedName(), { signal: asking.signal }, holdStream)
    .catch(() => {}); // withdrawn after a logout: nothing to do
  // A tab going away takes its channels with it; one coming back from the
  // browser's back/forward cache has missed what happened meanwhile.
  window.addEventListener("pagehide", () => tellOtherTabs({ type: "leave", tab: tabId }));
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) window.location.reload();
  });
}

// After a logout: this tab stops streaming, stops waiting for its turn, and
// leaves the others.
function stopSharing() {
  if (stopped) return;
  stopped = true;
  closeStream();
  releaseStream?.();
  stopAsking?.();
  tellOtherTabs({ type: "leave", tab: tabId });
  tabLink?.close();
  tabLink = null;
}

// ---- Holding the stream ------------------------------------------------------------

// How long the holder gathers tabs that join (several open at once, or
// answer a new holder's roll call) before it opens a stream for them all.
const GATHER_TABS_MS = 50;
// When the server refused the stream (and the person is still logged in).
const RETRY_AFTER_MS = 5000;

let holding = false;
let releaseStream = null; // gives the lock up
let source = null; // the holder's EventSource
let sourceChannels = new Set(); // the channels it carries
let wanted = {}; // channel -> the seq a tab needs it from, not yet in the stream
let reopening = null; // the timer that will open the stream again

// This tab's turn: it opens the stream, for its own channels and, once they
// answer its roll call, the other tabs'. The promise keeps the lock until a logout.
function holdStream() {
  if (stopped) return null;
  holding = true;
  wantChannels(pageCursor);
  tellOtherTabs({ type: "roll-call" });
  return new Promise((resolve) => {
    releaseStream = resolve;
  });
}

// Where the stream stands in `channel`: Infinity when it does not carry it.
const streamSeq = (channel) =>
  sourceChannels.has(channel) ? (streamCursor.seqs[channel] ?? Infinity) : Infinity;

// A tab shows `cursor`'s channels from its seqs: a channel the stream lacks,
// or one the tab needs from further back than the stream stands, means
// opening the stream again (events the other tabs had are ignored by them).
function wantChannels(cursor) {
  let more = false;
  for (const [channel, seq] of Object.entries(cursor.seqs)) {
    if (seq < streamSeq(channel) && seq < (wanted[channel] ?? Infinity)) {
      wanted[channel] = seq;
      more = true;
    }
  }
  if (more && !reopening) reopening = setTimeout(openStream, GATHER_TABS_MS);
}

// Where the stream starts: each channel some tab shows, from the lowest seq
// any tab needs (what the stream had reached, unless a tab needs less).
function startCursor() {
  const cursors = [...tabCursors.values()];
  const channels = new Set(cursors.flatMap((cursor) => Object.keys(cursor.seqs)));
  const seqs = {};
  for (const channel of channels) {
    let seq = Math.min(wanted[channel] ?? Infinity, streamCursor?.seqs[channel] ?? Infinity);
    // None known: a tab's own seq when it joined (it has not answered the roll call yet).
    if (seq === Infinity) seq = Math.min(...cursors.map((cursor) => cursor.seqs[channel] ?? seq));
    seqs[channel] = seq;
  }
  return { epoch: streamCursor?.epoch ?? pageCursor.epoch, seqs };
}

function streamURL(cursor) {
  const channels = Object.keys(cursor.seqs).map(encodeURIComponent).join(",");
  const start = encodeURIComponent(formatCursor(cursor));
  return `${document.body.dataset.sseUrl}?channels=${channels}&cursor=${start}`;
}

function closeStream() {
  clearTimeout(reopening);
  reopening = null;
  source?.close();
  source = null;
}

function openStream() {
  closeStream();
  if (stopped) return;
  streamCursor = startCursor();
  sourceChannels = new Set(Object.keys(streamCursor.seqs));
  wanted = {};
  const url = streamURL(streamCursor);
  const opened = new EventSource(url);
  source = opened;
  // Events of a stream closed since (the holder opened another) are left out.
  const isCurrent = () => source === opened;
  // Where this stream stands before each event: its start, then each event's id.
  let previous = formatCursor(streamCursor);
  for (const name of STREAM_EVENTS) {
    opened.addEventListener(name, (event) => {
      if (!isCurrent()) return;
      passOn(name, event, previous);
      previous = event.lastEventId;
    });
  }
  opened.addEventListener("open", () => {
    if (isCurrent()) tellEveryTab({ type: "state", state: "connected" });
  });
  opened.addEventListener("error", () => {
    if (isCurrent()) streamFailed(opened, url);
  });
}

function passOn(name, event, previous) {
  if (name === "logout") {
    tellEveryTab({ type: "state", state: "logged-out" });
  } else {
    tellEveryTab({ type: "event", name, data: event.data, id: event.lastEventId, previous });
  }
}

// The browser retries by itself after a network error, but gives up when
// the server answered with an error status. A 401 then means the session
// has ended; anything else (a 503 while the database restarts, say) is
// worth trying again ourselves, a little later. HEAD asks the stream's URL
// for its status alone, accepting what the EventSource accepts (a page
// request would be sent to the login page instead).
async function streamFailed(failed, url) {
  tellEveryTab({ type: "state", state: "reconnecting" });
  if (failed.readyState !== EventSource.CLOSED) return;
  const asking = { method: "HEAD", headers: { Accept: "text/event-stream" } };
  const answer = await fetch(url, asking).catch(() => null);
  if (source !== failed) return; // opened again meanwhile
  if (answer?.status === 401) {
    closeStream();
    tellEveryTab({ type: "state", state: "logged-out" });
  } else {
    clearTimeout(reopening);
    reopening = setTimeout(openStream, RETRY_AFTER_MS);
  }
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
      // The same URL and fields as the form without JavaScript: the
      // group's slug too on a group's page (JSON leaves it out elsewhere).
      const group = form.elements.group?.value;
      const post = await sendJSON(form.action, { post: text.value, group });
      showWaitingPosts(); // they came before it: they go below it
      showPost(post);
      text.value = "";
      showCharactersLeft();
      showFailure(error, null);
    } catch (failure) {
      showFailure(error, failure); // the text stays in the box
    }
  });
}

// The like button of a post or of a comment.
async function toggleLike(button) {
  const item = itemOf(button);
  const liked = button.getAttribute("aria-pressed") === "true";
  const error = failureRegionOf(item);
  try {
    const state = await sendJSON(endpointURL(liked ? "unlike" : "like"), {
      post_uid: item.dataset.uid,
    });
    showLikes(item, state.likers, false);
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
      post_uid: article.dataset.uid,
      comment: input.value,
    });
    showComment(article.dataset.uid, comment);
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

// Delete asks first, in place of the button: "Delete? Yes No" (a dialog
// would cover the page). The question is named after what it would delete,
// and the focus goes to No: deleting takes a second, deliberate choice.
function askToDelete(button) {
  button.hidden = true;
  const question = html`<span class="delete-question" role="group" aria-label="${button.textContent}?">
    Delete?
    <button type="button" class="btn btn-link btn-sm delete-yes">Yes</button>
    <button type="button" class="btn btn-link btn-sm delete-no">No</button>
  </span>`;
  button.insertAdjacentHTML("afterend", question.text);
  button.nextElementSibling.querySelector(".delete-no").focus();
}

// The question goes; the Delete button, and the focus, come back.
function closeDeleteQuestion(question) {
  const button = question.previousElementSibling;
  question.remove();
  button.hidden = false;
  button.focus();
}

async function deleteItem(question) {
  const item = itemOf(question);
  try {
    await sendJSON(endpointURL("delete"), { post_uid: item.dataset.uid });
    keepingPlace(() => removeItem(item));
  } catch (failure) {
    closeDeleteQuestion(question);
    showFailure(failureRegionOf(item), failure);
  }
}

// ---- Editing ----------------------------------------------------------------

// The text of a post or a comment as its author wrote it, from its markup:
// the link of an address shows it cut short, and holds it whole.
function writtenText(body) {
  const copy = body.cloneNode(true);
  for (const link of copy.querySelectorAll("a:not(.mention)")) {
    link.replaceWith(link.getAttribute("href"));
  }
  return copy.textContent;
}

const editButtonOf = (item) =>
  item.querySelector(`.edit-button[aria-describedby="${bodyOf(item).id}"]`);

// Edit puts a form in place of the text, holding it as written, named after
// what it edits, with the focus in it (unless `focus` is false). The limit
// is the comment box's, which every post has.
function openEditForm(button, focus = true) {
  const item = itemOf(button);
  const body = bodyOf(item);
  const commentBox = button.closest("article.post").querySelector("[data-max-length]");
  const maxLength = commentBox.dataset.maxLength;
  const form = html`<form class="edit-form mt-1" id="edit-form-${item.dataset.uid}">
    <textarea class="form-control form-control-sm" name="text" rows="3" data-max-length="${maxLength}" aria-label="${button.textContent}" required>${writtenText(body)}</textarea>
    <button type="submit" class="btn btn-primary btn-sm mt-1">Save</button>
    <button type="button" class="btn btn-link btn-sm mt-1 edit-cancel">Cancel</button>
  </form>`;
  body.hidden = true;
  button.hidden = true;
  body.insertAdjacentHTML("afterend", form.text);
  const field = body.nextElementSibling.querySelector("textarea");
  if (focus) field.focus();
  return field;
}

// The form goes, the text (new or not) shows again, and the focus goes back
// to Edit.
function closeEditForm(form) {
  const item = itemOf(form);
  const button = editButtonOf(item);
  form.remove();
  bodyOf(item).hidden = false;
  button.hidden = false;
  button.focus();
}

async function saveEdit(form) {
  const item = itemOf(form);
  const error = failureRegionOf(item);
  try {
    const edit = await sendJSON(endpointURL("edit"), {
      post_uid: item.dataset.uid,
      post: form.elements.text.value,
    });
    showEdit(item, edit);
    closeEditForm(form);
    showFailure(error, null);
  } catch (failure) {
    showFailure(error, failure); // the new text stays in the box
  }
}

// What a click on each kind of button (by its class) does.
const BUTTON_ACTIONS = {
  "like-button": toggleLike,
  "comment-toggle": toggleCommentForm,
  "edit-button": openEditForm,
  "edit-cancel": (button) => closeEditForm(button.closest(".edit-form")),
  "delete-button": askToDelete,
  "delete-yes": (button) => deleteItem(button.closest(".delete-question")),
  "delete-no": (button) => closeDeleteQuestion(button.closest(".delete-question")),
};

// What submitting each kind of form in a post (by its class) does.
const FORM_ACTIONS = { "comment-form": sendComment, "edit-form": saveEdit };

function setUpPostActions() {
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    const action = Object.keys(BUTTON_ACTIONS).find((name) => button?.classList.contains(name));
    if (action) BUTTON_ACTIONS[action](button);
  });
  document.addEventListener("submit", (event) => {
    const form = event.target;
    const action = Object.keys(FORM_ACTIONS).find((name) => form.classList.contains(name));
    if (!action) return;
    event.preventDefault();
    FORM_ACTIONS[action](form);
  });
  // Escape leaves an edit as it was.
  document.addEventListener("keydown", (event) => {
    const form = event.target.closest?.(".edit-form");
    if (event.key === "Escape" && form) closeEditForm(form);
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

// Infinite scroll: load the next page when the bottom of the list shows
// (on home, profile and group pages, live or not).
function setUpOlderPosts() {
  const more = document.getElementById("feed-more");
  const list = postList();
  if (!more || !list) return;
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
  setUpNewPostsButton();
  setUpRovingControls();
  restoreTypedText();
  const list = postList();
  if (list) numberPosts(list);
  // A page that shows channels (and a person logged in) gets their events.
  if (document.body.dataset.sseUrl && document.body.dataset.streamCursor) startSharing();
  markShownRead();
}

if (typeof module !== "undefined") {
  module.exports = {
    html,
    escapeHTML,
    renderPost,
    renderComment,
    renderLikes,
    renderNotification,
    richText,
    timeAgo,
    characterCount,
    parseCursor,
    formatCursor,
  };
} else {
  start();
}
