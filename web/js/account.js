// The caller: usage and plan, development sign-in, sign-out, account deletion, checkout for plans and credits.

import { call } from "./api.js";

const $ = (id) => document.getElementById(id);

function show(field, text) {
  document.querySelector(`[data-field="${field}"]`).textContent = text;
}

function capitalized(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export async function loadUsage() {
  const { data } = await call("/api/ai-image/usage");
  return data;
}

// Shows the usage; returns whether the daily or monthly allowance is used up.
export function renderUsage(usage, flags) {
  const signedIn = usage.ownerType === "user";
  const summary = signedIn ? `Signed in · ${capitalized(usage.plan)} plan` : "Guest";
  show("owner", summary);
  show("plan", signedIn ? `${capitalized(usage.plan)} plan` : "Guest (free allowance)");
  show("daily", `${usage.usage.used} of ${usage.usage.limit} images`);
  show("monthly", `${usage.monthlyUsage.used} of ${usage.monthlyUsage.limit} credits`);
  show("maxUpscale", `×${usage.entitlements.maxUpscale}`);
  show("faceEnhance", usage.entitlements.faceEnhance ? "included" : "not in this plan");
  show("credits", signedIn ? `${(usage.creditsBalanceTenths ?? 0) / 10}` : "sign in to buy credits");
  $("signout-button").hidden = !signedIn;
  $("signin-link").hidden = signedIn || flags.developmentSignIn;
  $("dev-signin").hidden = signedIn || !flags.developmentSignIn;
  $("portal").hidden = !signedIn;
  $("delete-account").hidden = !signedIn;
  $("credits-form").hidden = !flags.creditsCta;
  const exhausted = usage.usage.remaining <= 0 || usage.monthlyUsage.remaining <= 0;
  const prompt = $("upgrade-prompt");
  if (!signedIn) {
    prompt.textContent = exhausted
      ? "You have used the free allowance. Sign in and choose a plan for more images and ×4 upscales."
      : "Guests get a small free allowance. Sign in for more images a day, ×4 upscales and face restoration.";
  } else if (exhausted) {
    prompt.textContent = flags.creditsCta
      ? "Your allowance is used up: upgrade your plan or buy credits to carry on."
      : "Your allowance is used up: upgrade your plan to carry on.";
  }
  prompt.hidden = signedIn && !exhausted;
  return exhausted;
}

export async function developmentSignIn(email, plan) {
  return (await call("/api/dev/login", { method: "POST", json: { email, plan } })).data;
}

export async function signOut() {
  const { data } = await call("/api/auth/logout", { method: "POST" });
  if (data.logoutUrl) location.assign(data.logoutUrl);
}

export async function deleteAccount() {
  await call("/api/auth/account", { method: "DELETE" });
}

// Checkout answers the URL of Stripe's page (in development without a key, the local checkout page).
export async function checkout(path, payload) {
  const { data } = await call(path, { method: "POST", json: { ...payload, returnTo: "/" } });
  location.assign(data.url);
}

const BILLING_MESSAGES = {
  success: "Payment received: your plan is updated.",
  credits: "Payment received: your credits are added.",
  canceled: "Checkout canceled: nothing was charged.",
  no_customer: "There is no billing account yet: choose a plan first.",
};

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

// What the URL says came back from checkout or sign-in.
export function showReturnOutcome() {
  const query = new URLSearchParams(location.search);
  const billing = query.get("billing") ?? (query.get("credits") === "1" ? "credits" : query.get("credits"));
  if (BILLING_MESSAGES[billing]) $("billing-status").textContent = BILLING_MESSAGES[billing];
  const auth = query.get("auth");
  if (AUTH_MESSAGES[auth]) $("account-status").textContent = AUTH_MESSAGES[auth];
}
