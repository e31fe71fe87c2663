"use strict";

// Double-submit CSRF token: created here, sent as cookie and header on every unsafe request.
function csrfToken() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("csrf_token="));
  if (found) return found.split("=")[1];
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  const token = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const secure = location.protocol === "https:" ? "; Secure" : "";
  document.cookie = `csrf_token=${token}; Path=/; SameSite=Lax${secure}`;
  return token;
}

function show(field, text) {
  document.querySelector(`[data-field="${field}"]`).textContent = text;
}

async function loadUsage() {
  const error = document.getElementById("usage-error");
  try {
    const response = await fetch("/api/ai-image/usage", { credentials: "same-origin" });
    const body = await response.json();
    if (!body.success) throw new Error(body.error.message);
    const data = body.data;
    show("owner", data.ownerType === "user" ? `signed in, ${data.plan} plan` : "guest");
    document.getElementById("signed-in-actions").hidden = data.ownerType !== "user";
    document.getElementById("signed-out-actions").hidden = data.ownerType === "user";
    show("daily", `${data.usage.used} of ${data.usage.limit} images`);
    show("monthly", `${data.monthlyUsage.used} of ${data.monthlyUsage.limit} credits`);
    show("maxUpscale", `×${data.entitlements.maxUpscale}`);
    show("credits", data.ownerType === "user" ? `${(data.creditsBalanceTenths ?? 0) / 10}` : "sign in to buy credits");
    entitlements = data.entitlements;
    showOptions();
    error.hidden = true;
  } catch (e) {
    error.textContent = `Could not load usage: ${e.message}`;
    error.hidden = false;
  }
}

async function signIn(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const result = document.getElementById("signin-result");
  const response = await fetch("/api/dev/login", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify({ email: form.get("email"), plan: form.get("plan") }),
  });
  const body = await response.json();
  result.textContent = body.success ? `Signed in as ${body.data.user.email}` : body.error.message;
  await loadUsage();
}

// Lambda takes at most 6 MB per request (about 4.5 MB of image once base64-encoded): larger files go
// straight to S3 through a presigned form, then generate receives the upload key.
const DIRECT_UPLOAD_LIMIT = 4 * 1024 * 1024;
let models = [];
let planGating = false;
let entitlements = null; // from the usage route: what the caller's plan allows

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const body = await response.json();
  if (!body.success) throw new Error(body.error.message);
  return body.data;
}

function unsafeHeaders(extra = {}) {
  return { "X-CSRF-Token": csrfToken(), ...extra };
}

async function loadModels() {
  const data = await api("/api/ai-image/models");
  models = data.models;
  planGating = data.flags.planGating;
  const select = document.getElementById("model-select");
  select.replaceChildren(...models.map((m) => new Option(m.label, m.slug)));
  select.addEventListener("change", showOptions);
  showOptions();
}

// With plan gating on, what the plan does not allow is shown but cannot be chosen (the server refuses it too).
function showOptions() {
  const model = models.find((m) => m.slug === document.getElementById("model-select").value);
  document.getElementById("scale-field").hidden = !model || !model.supportsScale;
  document.getElementById("face-field").hidden = !model || !model.supportsFaceEnhance;
  const gated = planGating && entitlements !== null;
  const scale = document.querySelector('#scale-field select');
  for (const option of scale.options) {
    option.disabled = gated && Number(option.value) > entitlements.maxUpscale;
    option.textContent = `×${option.value}${option.disabled ? " (needs a higher plan)" : ""}`;
  }
  if (scale.selectedOptions[0]?.disabled) scale.value = "2";
  const face = document.querySelector('#face-field input');
  face.disabled = gated && !entitlements.faceEnhance;
  if (face.disabled) face.checked = false;
  face.parentElement.title = face.disabled ? "Face restoration needs a higher plan" : "";
}

async function uploadFirst(file) {
  const ticket = await api("/api/ai-image/uploads", {
    method: "POST",
    headers: unsafeHeaders({ "Content-Type": "application/json" }),
    body: JSON.stringify({ contentType: file.type, size: file.size }),
  });
  const form = new FormData();
  Object.entries(ticket.fields).forEach(([name, value]) => form.append(name, value));
  form.append("file", file);
  const stored = await fetch(ticket.url, { method: "POST", body: form });
  if (!stored.ok) throw new Error("The upload was refused");
  return ticket.uploadKey;
}

async function enhance(event) {
  event.preventDefault();
  const status = document.getElementById("enhance-status");
  const form = new FormData(event.target);
  const file = form.get("image");
  const model = models.find((m) => m.slug === form.get("model"));
  status.textContent = "Enhancing…";
  try {
    const fields = { model: model.slug };
    if (model.supportsScale) fields.scale = form.get("scale");
    if (model.supportsFaceEnhance && form.get("face_enhance")) fields.face_enhance = "true";
    let request;
    if (file.size > DIRECT_UPLOAD_LIMIT) {
      const uploadKey = await uploadFirst(file);
      request = { headers: unsafeHeaders({ "Content-Type": "application/json" }),
                  body: JSON.stringify({ ...fields, uploadKey }) };
    } else {
      const body = new FormData();
      Object.entries(fields).forEach(([name, value]) => body.append(name, value));
      body.append("image", file);
      request = { headers: unsafeHeaders(), body };
    }
    const data = await api("/api/ai-image/generate", { method: "POST", ...request });
    document.getElementById("original-image").src = data.originalUrl;
    document.getElementById("result-image").src = data.imageUrl;
    document.getElementById("result-link").href = data.imageUrl;
    document.getElementById("enhance-result").hidden = false;
    status.textContent = `Done: ${data.charge.total} credit(s) charged.`;
  } catch (e) {
    status.textContent = e.message;
  }
  await loadUsage();
}

// Checkout answers the URL of Stripe's page (in development without a key, the local checkout page).
async function checkout(path, payload, event) {
  event.preventDefault();
  const status = document.getElementById("billing-status");
  try {
    const data = await api(path, {
      method: "POST",
      headers: unsafeHeaders({ "Content-Type": "application/json" }),
      body: JSON.stringify({ ...payload, returnTo: "/" }),
    });
    location.assign(data.url);
  } catch (e) {
    status.textContent = e.message;
  }
}

const BILLING_MESSAGES = {
  success: "Payment received: your plan is updated.",
  canceled: "Checkout canceled: nothing was charged.",
  no_customer: "There is no billing account yet: choose a plan first.",
};

function showBillingOutcome() {
  const query = new URLSearchParams(location.search);
  const outcome = query.get("billing") ?? (query.get("credits") === "1" ? "success" : query.get("credits"));
  const message = BILLING_MESSAGES[outcome];
  if (message) document.getElementById("billing-status").textContent = message;
}

document.getElementById("plan-form").addEventListener("submit", (event) => {
  const form = new FormData(event.target);
  checkout("/api/billing/session", { plan: form.get("plan"), interval: form.get("interval") }, event);
});
document.getElementById("credits-form").addEventListener("submit", (event) => {
  checkout("/api/billing/credits", { pack: Number(new FormData(event.target).get("pack")) }, event);
});
const AUTH_MESSAGES = {
  unavailable: "Sign-in is not available right now.",
  expired: "The sign-in took too long or was started elsewhere: please try again.",
  state_mismatch: "The sign-in could not be confirmed: please try again.",
  denied: "Sign-in was canceled.",
  code_rejected: "The sign-in could not be completed: please try again.",
  token_invalid: "The sign-in could not be verified: please try again.",
  email_unverified: "Please verify your email address, then sign in again.",
  email_in_use: "This email belongs to another account.",
};

async function signOut() {
  const data = await api("/api/auth/logout", { method: "POST", headers: unsafeHeaders() });
  if (data.logoutUrl) location.assign(data.logoutUrl);
  else await loadUsage();
}

async function deleteAccount() {
  if (!confirm("Delete your account, images and credits? This cannot be undone.")) return;
  const status = document.getElementById("account-status");
  try {
    await api("/api/auth/account", { method: "DELETE", headers: unsafeHeaders() });
    status.textContent = "Your account was deleted.";
  } catch (e) {
    status.textContent = e.message;
  }
  await loadUsage();
}

const authOutcome = new URLSearchParams(location.search).get("auth");
if (AUTH_MESSAGES[authOutcome]) document.getElementById("account-status").textContent = AUTH_MESSAGES[authOutcome];
document.getElementById("signout-button").addEventListener("click", signOut);
document.getElementById("delete-account-button").addEventListener("click", deleteAccount);
showBillingOutcome();
document.getElementById("signin-form").addEventListener("submit", signIn);
document.getElementById("enhance-form").addEventListener("submit", enhance);
loadModels();
loadUsage();
