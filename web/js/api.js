// The API's one envelope, CSRF double-submit and readable errors (docs/architecture.md, "Errors").

// Created here, sent as cookie and header on every unsafe request; the API compares the two.
export function csrfToken() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("csrf_token="));
  if (found) return found.split("=")[1];
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  const token = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const secure = location.protocol === "https:" ? "; Secure" : "";
  document.cookie = `csrf_token=${token}; Path=/; SameSite=Lax${secure}`;
  return token;
}

// An answer that was not a success: the envelope's type, message and details, the status and Retry-After.
export class ApiError extends Error {
  constructor(status, error, retryAfter) {
    super(error.message || `The server answered ${status}`);
    this.status = status;
    this.type = error.type || "server_error";
    this.details = error.details || {};
    this.retryAfter = retryAfter;
  }
}

function retryAfterOf(response, error) {
  const header = Number(response.headers.get("Retry-After"));
  if (Number.isFinite(header) && header > 0) return header;
  const inBody = Number(error.retryAfter ?? error.details?.retryAfter);
  return Number.isFinite(inBody) && inBody > 0 ? inBody : null;
}

// `{status, data}` of a success; an ApiError otherwise (a network failure or a non-JSON answer included).
export async function call(path, { method = "GET", json, form, headers = {}, signal } = {}) {
  const options = { method, credentials: "same-origin", headers: { ...headers }, signal };
  if (method !== "GET" && method !== "HEAD") options.headers["X-CSRF-Token"] = csrfToken();
  if (json !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(json);
  } else if (form !== undefined) {
    options.body = form;
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, { type: "network_error", message: "The server could not be reached: check your connection and try again." });
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (body && body.success === true) return { status: response.status, data: body.data, response };
  const error = body?.error ?? { type: response.status === 429 ? "rate_limit" : "server_error",
                                 message: `The server answered ${response.status}.` };
  throw new ApiError(response.status, error, retryAfterOf(response, body?.error ?? body ?? {}));
}

const FIELD_NAMES = { image: "photo", model: "model", scale: "upscale", face_enhance: "face restoration",
                      uploadKey: "upload", fidelity: "fidelity", prompt: "prompt" };

export function fieldName(field) {
  return FIELD_NAMES[field] ?? String(field).replaceAll("_", " ");
}

export function formatTime(iso) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return "";
  const sameDay = when.toDateString() === new Date().toDateString();
  const time = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return sameDay ? `today at ${time}` : `${when.toLocaleDateString([], { month: "short", day: "numeric" })} at ${time}`;
}

// What to tell the user, for each error type the API answers. `rate_limit` is counted down by the caller.
export function describeError(error) {
  const details = error.details || {};
  switch (error.type) {
    case "forbidden":
      if (details.scope === "daily" || details.scope === "monthly") {
        const reset = details.resetAt ? ` It resets ${formatTime(details.resetAt)}.` : "";
        return { text: `${error.message}.${reset}`, quota: true };
      }
      return { text: error.message };
    case "validation_error": {
      const field = details.field ?? details.issues?.[0]?.path?.at(-1);
      return { text: field ? `Check the ${fieldName(field)}: ${error.message}` : error.message, field };
    }
    case "payload_too_large":
      return { text: `${error.message} Try a smaller photo, or run it as a job.` };
    case "provider_error":
      return { text: `The model failed: ${error.message} Nothing was charged; you can try again.` };
    case "service_unavailable":
      return { text: `The service is unavailable right now: ${error.message}` };
    case "auth_error":
      return { text: `${error.message} Please sign in.` };
    case "rate_limit":
      return { text: "Too many requests.", retryAfter: error.retryAfter ?? 5 };
    case "not_found":
      return { text: error.message };
    case "conflict":
      return { text: error.message };
    case "network_error":
      return { text: error.message };
    default:
      return { text: `Something went wrong on our side (${error.message}). Please try again.` };
  }
}
