// Jobs: watching one until it ends, cancelling it, and the list of the caller's recent jobs.

import { ApiError, call, formatTime } from "./api.js";

export const FINAL = new Set(["succeeded", "failed", "canceled"]);
const POLL_MS = 1000; // the job route's limiter allows a page polling every second
const LIST_SIZE = 10;

export const STATUS_TEXT = {
  queued: "Queued: waiting to start…",
  processing: "Processing…",
  succeeded: "Done.",
  failed: "Failed.",
  canceled: "Canceled: the charge was given back.",
};

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(timer); reject(new DOMException("stopped", "AbortError")); },
                          { once: true });
});

// Polls the job until it ends (or `signal` aborts); `onUpdate(job)` on every answer. A rate limit or a lost
// connection waits and goes on: the job runs on the server whatever the page does.
export async function watchJob(id, { onUpdate, signal }) {
  let failures = 0;
  for (;;) {
    try {
      const { data: job } = await call(`/api/ai-image/jobs/${encodeURIComponent(id)}`, { signal });
      failures = 0;
      onUpdate(job);
      if (FINAL.has(job.status)) return job;
      await sleep(POLL_MS, signal);
    } catch (error) {
      if (error.name === "AbortError") throw error;
      if (!(error instanceof ApiError) || !["rate_limit", "network_error", "server_error"].includes(error.type)) {
        throw error;
      }
      failures += 1;
      if (failures > 30) throw error;
      await sleep(1000 * (error.retryAfter ?? Math.min(10, failures)), signal);
    }
  }
}

export async function cancelJob(id) {
  return (await call(`/api/ai-image/jobs/${encodeURIComponent(id)}/cancel`, { method: "POST" })).data;
}

export async function deleteJob(id) {
  return (await call(`/api/ai-image/jobs/${encodeURIComponent(id)}`, { method: "DELETE" })).data;
}

function button(text, label, onClick, className = "secondary") {
  const element = document.createElement("button");
  element.type = "button";
  element.className = className;
  element.textContent = text;
  element.setAttribute("aria-label", label);
  element.addEventListener("click", onClick);
  return element;
}

function jobItem(job, { modelLabel, onShow, onDelete }) {
  const item = document.createElement("li");
  item.dataset.jobId = job.id;
  item.dataset.status = job.status;
  const text = document.createElement("span");
  const when = formatTime(job.createdAt);
  text.textContent = `${modelLabel(job.model)} · ${job.status}${when ? ` · ${when}` : ""}`;
  item.append(text);
  const name = `the ${modelLabel(job.model)} job from ${when || "earlier"}`;
  if (job.status === "succeeded" && job.output) item.append(button("Show", `Show ${name}`, () => onShow(job)));
  if (!FINAL.has(job.status)) item.append(button("Watch", `Watch ${name}`, () => onShow(job)));
  item.append(button("Delete", `Delete ${name}`, () => onDelete(job), "danger"));
  return item;
}

// Renders the caller's latest jobs, newest first, with Show (a finished one), Watch (a running one) and Delete.
export async function renderJobs(list, empty, handlers) {
  const { data } = await call(`/api/ai-image/jobs?limit=${LIST_SIZE}`);
  list.replaceChildren(...data.jobs.map((job) => jobItem(job, handlers)));
  empty.hidden = data.jobs.length > 0;
}

// A watched job's new status, in its row of the list (if it has one), without asking for the list again.
export function updateJobItem(list, job, handlers) {
  const item = Array.from(list.children).find((li) => li.dataset.jobId === job.id);
  if (item && item.dataset.status !== job.status) item.replaceWith(jobItem(job, handlers));
}
