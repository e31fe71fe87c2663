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
    show("daily", `${data.usage.used} of ${data.usage.limit} images`);
    show("monthly", `${data.monthlyUsage.used} of ${data.monthlyUsage.limit} credits`);
    show("maxUpscale", `×${data.entitlements.maxUpscale}`);
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

document.getElementById("signin-form").addEventListener("submit", signIn);
loadUsage();
