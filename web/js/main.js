// The enhancer page: wires the pieces to the page's elements. No build step, no inline script or style.

import * as account from "./account.js";
import { ApiError, call, describeError } from "./api.js";
import { setupCompare } from "./compare.js";
import { FINAL, STATUS_TEXT, cancelJob, deleteJob, renderJobs, updateJobItem, watchJob } from "./jobs.js";
import { applyGating, chosenOptions, markInvalid, renderOptions } from "./options.js";
import { NO_FILE, checkFile, describeFile, watchFileSources } from "./upload.js";

// Lambda takes at most 6 MB per request (about 4.5 MB of image once encoded): larger files go straight to S3
// through a presigned form, then the route receives the upload key.
const DIRECT_UPLOAD_LIMIT = 4 * 1024 * 1024;

const $ = (id) => document.getElementById(id);
const state = {
  models: [], flags: {}, entitlements: null, exhausted: false,
  file: null, fileType: null, busy: false, job: null, watch: null, countdown: null,
};
const compare = setupCompare({ frame: $("compare"), before: $("compare-before"), handle: $("compare-handle"),
                               range: $("compare-range") });

function selectedModel() {
  return state.models.find((m) => m.slug === $("model-select").value);
}

function modelLabel(slug) {
  return state.models.find((m) => m.slug === slug)?.label ?? slug;
}

// --- messages ---------------------------------------------------------------------------------------------

function setStatus(text) {
  $("enhance-status").textContent = text;
}

function clearError() {
  clearInterval(state.countdown);
  state.countdown = null;
  $("enhance-error").hidden = true;
  $("enhance-error-action").hidden = true;
  markInvalid($("enhance-form"), null);
  updateButton();
}

function showError(error) {
  if (!(error instanceof ApiError)) error = new ApiError(0, { type: "server_error", message: String(error.message ?? error) });
  const described = describeError(error);
  setStatus("");
  $("enhance-error").hidden = false;
  $("enhance-error-text").textContent = described.text;
  if (described.field) markInvalid($("enhance-form"), described.field === "image" ? "image" : described.field);
  if (described.quota) {
    $("enhance-error-action").hidden = false;
    $("enhance-error-action").textContent = state.flags.creditsCta
      ? "Upgrade your plan or buy credits below to carry on now."
      : "Upgrade your plan below to carry on now.";
  }
  if (described.retryAfter) startCountdown(described.retryAfter);
}

// A rate limit: the button waits, and the message counts down to when a retry can pass.
function startCountdown(seconds) {
  let left = Math.ceil(seconds);
  const text = $("enhance-error-text");
  const tick = () => {
    if (left <= 0) {
      clearInterval(state.countdown);
      state.countdown = null;
      text.textContent = "You can try again now.";
      updateButton();
      return;
    }
    text.textContent = `Too many requests: try again in ${left} s.`;
    left -= 1;
  };
  clearInterval(state.countdown);
  state.countdown = setInterval(tick, 1000);
  tick();
  updateButton();
}

function updateButton() {
  const model = selectedModel();
  const button = $("enhance-button");
  button.disabled = state.busy || state.countdown !== null || !model?.available;
  button.textContent = state.busy ? "Working…" : ($("enhance-form").elements.mode.value === "job" ? "Start the job" : "Enhance");
}

// --- the photo --------------------------------------------------------------------------------------------

// A data: URL, not a blob: one: nothing then needs to fetch the preview (a blob: URL is fetched under connect-src).
function dataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function choose(file) {
  clearError();
  const message = $("file-message");
  const checked = await checkFile(file);
  if (checked.error) {
    state.file = null;
    state.fileType = null;
    message.textContent = checked.error;
    $("source").hidden = true;
    return;
  }
  message.textContent = "";
  state.file = file;
  state.fileType = checked.type; // read from its first bytes once, when chosen
  $("source-preview").src = await dataUrl(file);
  $("source-caption").textContent = describeFile(file);
  $("source").hidden = false;
  setStatus(`${describeFile(file)} is ready.`);
}

// --- models and options -----------------------------------------------------------------------------------

function showModel() {
  const model = selectedModel();
  renderOptions($("model-options"), model);
  applyGating($("model-options"), state.entitlements, state.flags.planGating);
  $("model-help").textContent = model
    ? `${model.description}${model.available ? "" : " Not available on this server (it needs the Replicate provider)."}`
    : "";
  updateButton();
}

async function loadModels() {
  const { data } = await call("/api/ai-image/models");
  state.models = data.models;
  state.flags = data.flags;
  const select = $("model-select");
  select.replaceChildren(...data.models.map((m) => {
    const option = new Option(m.available ? m.label : `${m.label} (not available here)`, m.slug);
    option.disabled = !m.available;
    return option;
  }));
  const first = data.models.find((m) => m.available);
  if (first) select.value = first.slug;
  if (!data.enhancementAvailable) setStatus("Enhancement is not available on this server right now.");
  showModel();
}

async function refreshUsage() {
  try {
    const usage = await account.loadUsage();
    state.entitlements = usage.entitlements;
    state.exhausted = account.renderUsage(usage, state.flags);
    applyGating($("model-options"), state.entitlements, state.flags.planGating);
    $("usage-error").hidden = true;
  } catch (error) {
    $("usage-error").textContent = `Could not load your usage: ${describeError(error).text}`;
    $("usage-error").hidden = false;
  }
}

const jobHandlers = { modelLabel, onShow: (job) => showJob(job), onDelete: (job) => removeJob(job) };

async function refreshJobs() {
  try {
    await renderJobs($("jobs-list"), $("jobs-empty"), jobHandlers);
    $("jobs-status").textContent = "";
  } catch (error) {
    $("jobs-status").textContent = `Could not load your jobs: ${describeError(error).text}`;
  }
}

// --- running ----------------------------------------------------------------------------------------------

async function uploadFirst(file, type) {
  const { data: ticket } = await call("/api/ai-image/uploads", { method: "POST", json: { contentType: type, size: file.size } });
  const form = new FormData();
  Object.entries(ticket.fields).forEach(([name, value]) => form.append(name, value));
  form.append("file", file);
  const stored = await fetch(ticket.url, { method: "POST", body: form });
  if (!stored.ok) throw new ApiError(stored.status, { type: "validation_error", message: "The storage refused the upload." });
  return ticket.uploadKey;
}

async function request(path, file, type, fields) {
  if (file.size > DIRECT_UPLOAD_LIMIT) {
    setStatus("Uploading…");
    const uploadKey = await uploadFirst(file, type);
    setStatus("Enhancing…");
    return call(path, { method: "POST", json: { ...fields, uploadKey } });
  }
  const form = new FormData();
  Object.entries(fields).forEach(([name, value]) => form.append(name, value));
  form.append("image", file, file.name || "pasted.png");
  return call(path, { method: "POST", form });
}

function showResult(originalUrl, imageUrl) {
  const result = $("result-image");
  const original = $("original-image");
  result.src = imageUrl;
  original.src = originalUrl;
  const link = $("result-link");
  link.href = imageUrl;
  // The result's key ends in its format's extension (the input's kind by default: a JPEG stays a JPEG).
  const extension = /\.(png|jpg|webp)$/.exec(new URL(imageUrl, location.href).pathname)?.[1] ?? "png";
  link.download = `enhanced-${(state.file?.name || "photo").replace(/\.[^.]+$/, "")}.${extension}`;
  $("result-size").textContent = "";
  compare.reset();
  $("result").hidden = false;
  result.decode().then(() => original.decode()).then(() => {
    $("result-size").textContent = `Original ${original.naturalWidth}×${original.naturalHeight} px → enhanced `
      + `${result.naturalWidth}×${result.naturalHeight} px.`;
  }).catch(() => {
    $("result-size").textContent = "The result could not be shown: download it instead.";
  });
}

async function enhance(event) {
  event.preventDefault();
  if (state.busy) return;
  clearError();
  if (!state.file) {
    $("file-message").textContent = NO_FILE;
    $("file-input").focus();
    return;
  }
  const model = selectedModel();
  const fields = { model: model.slug, ...chosenOptions($("model-options")) };
  const asJob = $("enhance-form").elements.mode.value === "job";
  state.busy = true;
  updateButton();
  setStatus(asJob ? "Starting the job…" : "Enhancing…");
  try {
    const path = asJob ? "/api/ai-image/jobs" : "/api/ai-image/generate";
    const answer = await request(path, state.file, state.fileType, fields);
    if (answer.status === 202) {
      // A job, asked for or handed over by generate when the model took longer than the request may wait.
      setStatus(asJob ? "Job started." : "This takes longer than a request may wait: it carries on as a job.");
      state.busy = false;
      updateButton();
      await refreshUsage();
      follow(answer.data);
      return;
    }
    showResult(answer.data.originalUrl, answer.data.imageUrl);
    setStatus(`Done: ${answer.data.charge.total} credit(s) charged.`);
  } catch (error) {
    showError(error);
  } finally {
    state.busy = false;
    updateButton();
  }
  await refreshUsage();
}

// --- the current job --------------------------------------------------------------------------------------

function renderJob(job) {
  state.job = job;
  updateJobItem($("jobs-list"), job, jobHandlers);
  $("job").hidden = false;
  $("job-status").textContent = `${modelLabel(job.model)}: ${STATUS_TEXT[job.status] ?? job.status}`;
  const detail = job.status === "failed" && job.error ? describeError(new ApiError(0, job.error)).text : "";
  $("job-detail").textContent = detail;
  $("job-cancel").hidden = FINAL.has(job.status);
}

async function follow(job) {
  state.watch?.abort();
  const watch = new AbortController();
  state.watch = watch;
  renderJob(job);
  $("result").hidden = true;
  refreshJobs();
  try {
    const ended = await watchJob(job.id, { onUpdate: renderJob, signal: watch.signal });
    if (ended.status === "succeeded") {
      showResult(ended.input.url, ended.output.url);
      setStatus(`Done: ${ended.charge.total} credit(s) charged.`);
    } else {
      setStatus(STATUS_TEXT[ended.status]);
    }
    await Promise.all([refreshUsage(), refreshJobs()]);
  } catch (error) {
    if (error.name !== "AbortError") $("job-detail").textContent = describeError(error).text;
  } finally {
    if (state.watch === watch) state.watch = null;
  }
}

function showJob(job) {
  if (FINAL.has(job.status)) {
    state.watch?.abort();
    renderJob(job);
    if (job.output) showResult(job.input.url, job.output.url);
  } else {
    follow(job);
  }
}

async function cancelCurrent() {
  if (!state.job) return;
  const button = $("job-cancel");
  button.disabled = true;
  try {
    renderJob(await cancelJob(state.job.id));
    await Promise.all([refreshUsage(), refreshJobs()]);
  } catch (error) {
    $("job-detail").textContent = describeError(error).text;
  } finally {
    button.disabled = false;
  }
}

async function removeJob(job) {
  try {
    await deleteJob(job.id);
    if (state.job?.id === job.id) {
      state.watch?.abort();
      state.job = null;
      $("job").hidden = true;
      $("result").hidden = true;
    }
    $("jobs-status").textContent = "The job and its images were deleted.";
    await refreshJobs();
    $("jobs-title").focus();
  } catch (error) {
    $("jobs-status").textContent = describeError(error).text;
  }
}

// --- the account ------------------------------------------------------------------------------------------

async function afterAccountChange() {
  state.watch?.abort();
  $("job").hidden = true;
  await Promise.all([refreshUsage(), refreshJobs()]);
}

function guarded(statusId, action) {
  return async (event) => {
    event?.preventDefault();
    $(statusId).textContent = "";
    try {
      await action(event);
    } catch (error) {
      $(statusId).textContent = describeError(error).text;
    }
  };
}

function wire() {
  watchFileSources({ input: $("file-input"), zone: $("drop-zone"), choose });
  $("model-select").addEventListener("change", showModel);
  for (const radio of $("enhance-form").elements.mode) radio.addEventListener("change", updateButton);
  $("enhance-form").addEventListener("submit", enhance);
  $("job-cancel").addEventListener("click", cancelCurrent);
  $("signin-form").addEventListener("submit", guarded("signin-result", async (event) => {
    const form = new FormData(event.target);
    const data = await account.developmentSignIn(form.get("email"), form.get("plan"));
    $("signin-result").textContent = `Signed in as ${data.user.email}.`;
    await afterAccountChange();
  }));
  $("signout-button").addEventListener("click", guarded("account-status", async () => {
    await account.signOut();
    $("account-status").textContent = "You are signed out.";
    await afterAccountChange();
  }));
  $("delete-account-button").addEventListener("click", guarded("account-status", async () => {
    if (!confirm("Delete your account, images and credits? This cannot be undone.")) return;
    await account.deleteAccount();
    $("account-status").textContent = "Your account was deleted.";
    await afterAccountChange();
  }));
  $("plan-form").addEventListener("submit", guarded("billing-status", (event) => {
    const form = new FormData(event.target);
    return account.checkout("/api/billing/session", { plan: form.get("plan"), interval: form.get("interval") });
  }));
  $("credits-form").addEventListener("submit", guarded("billing-status", (event) =>
    account.checkout("/api/billing/credits", { pack: Number(new FormData(event.target).get("pack")) })));
}

async function start() {
  wire();
  account.showReturnOutcome();
  try {
    await loadModels();
  } catch (error) {
    setStatus(`Could not load the models: ${describeError(error).text}`);
  }
  await Promise.all([refreshUsage(), refreshJobs()]);
  document.body.dataset.ready = "true";
}

start();
