// The raters' page: one picture at a time in the order the server draws for this rater.
// State is in <body data-state>: starting | name | loading | rating | saving | done | error.
"use strict";

const $ = (id) => document.getElementById(id);
let rater = null;
let current = null;

function setState(state) {
  document.body.dataset.state = state;
  $("name-view").hidden = state !== "name";
  $("rate-view").hidden = !["loading", "rating", "saving"].includes(state);
  $("done-view").hidden = state !== "done";
  if (state === "name") $("name").focus();
  for (const button of document.querySelectorAll(".score")) button.disabled = state !== "rating";
}

function say(text) {
  $("message").textContent = text || "";
  $("message").hidden = !text;
}

async function api(path, options) {
  let response;
  try {
    response = await fetch(path, Object.assign({cache: "no-store"}, options));
  } catch (err) {
    throw new Error("the study server cannot be reached; check the connection and press a score again");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `the server answered ${response.status}`);
  return body;
}

function showInstructions(text) {
  const box = $("instructions");
  box.replaceChildren();
  for (const paragraph of text.split(/\n\s*\n/)) {
    const p = document.createElement("p");
    p.textContent = paragraph.trim();
    box.appendChild(p);
  }
}

async function loadNext() {
  setState("loading");
  const next = await api(`/api/next?rater=${encodeURIComponent(rater)}`);
  if (next.item === null) {
    $("done-text").textContent = `${rater}, you have scored all ${next.total} pictures. You can close this page.`;
    setState("done");
    return;
  }
  current = next.item;
  $("progress-text").textContent = `Picture ${next.done + 1} of ${next.total}`;
  $("progress-bar").style.width = `${(100 * next.done) / next.total}%`;
  const picture = $("picture");
  picture.dataset.item = next.item;
  picture.onload = () => { if (picture.dataset.item === current) setState("rating"); };
  picture.onerror = () => { say("The picture could not be loaded; reload the page."); setState("error"); };
  picture.src = next.image;
}

async function rate(score) {
  if (document.body.dataset.state !== "rating") return;
  setState("saving");
  try {
    await api("/api/ratings", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({rater: rater, item: current, score: score}),
    });
  } catch (err) {
    say(`Not saved: ${err.message}`);
    setState("rating");
    return;
  }
  say("");
  try {
    await loadNext();
  } catch (err) {
    say(`Your score was saved, but the next picture could not be fetched (${err.message}); reload the page.`);
    setState("error");
  }
}

async function start(name) {
  rater = name;
  $("rater-name").textContent = name;
  $("who").hidden = false;
  try { localStorage.setItem("hmh-study-rater", name); } catch (err) { /* private mode */ }
  try {
    await loadNext();
  } catch (err) {
    say(err.message);
    setState("name");
  }
}

async function init() {
  for (const button of document.querySelectorAll(".score")) {
    // the second click of a double click (detail 2) would score the next picture, unseen
    button.addEventListener("click", (event) => { if (event.detail <= 1) rate(Number(button.dataset.score)); });
  }
  document.addEventListener("keydown", (event) => {
    // only while a picture is shown (the name field is hidden then, wherever the focus is)
    // a key held down repeats: only its first press counts, or it would score pictures unseen
    if (document.body.dataset.state !== "rating" || event.repeat || event.ctrlKey || event.metaKey || event.altKey) return;
    if (["1", "2", "3", "4", "5"].includes(event.key)) {
      event.preventDefault();
      rate(Number(event.key));
    }
  });
  $("name-view").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("name").value.trim();
    if (!name) return;
    $("name").blur();  // the keys 1–5 must reach the page, not the (now hidden) field
    history.replaceState(null, "", `?rater=${encodeURIComponent(name)}`);
    start(name);
  });
  try {
    showInstructions((await api("/api/study")).instructions);
  } catch (err) {
    say(err.message);
  }
  const fromUrl = new URLSearchParams(location.search).get("rater");
  if (fromUrl && fromUrl.trim()) {
    start(fromUrl.trim());
  } else {
    try { $("name").value = localStorage.getItem("hmh-study-rater") || ""; } catch (err) { /* ignore */ }
    setState("name");
  }
}

init();
