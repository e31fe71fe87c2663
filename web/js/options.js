// The model's options, built from what GET /api/ai-image/models says each model takes, gated by the caller's
// entitlements with the reason shown (the server refuses the same choices).

const LABELS = { scale: "Upscale", face_enhance: "Restore faces", fidelity: "Fidelity (higher keeps more of the original)",
                 prompt: "Prompt", negative_prompt: "Avoid", strength: "Strength", guidance: "Guidance", steps: "Steps" };

function labelOf(name) {
  return LABELS[name] ?? name.replaceAll("_", " ");
}

function reasonFor(name, value, entitlements, gated) {
  if (!gated || !entitlements) return "";
  if (name === "scale" && Number(value) > entitlements.maxUpscale) {
    return `×${value} needs a plan with a larger upscale (yours allows ×${entitlements.maxUpscale}).`;
  }
  if (name === "face_enhance" && !entitlements.faceEnhance) return "Face restoration needs the Pro plan or higher.";
  return "";
}

function control(name, spec) {
  const id = `option-${name}`;
  const wrapper = document.createElement("div");
  wrapper.className = "option";
  wrapper.dataset.option = name;
  const label = document.createElement("label");
  label.htmlFor = id;
  label.textContent = labelOf(name);
  let input;
  if (spec.choices) {
    input = document.createElement("select");
    for (const choice of spec.choices) {
      const option = new Option(name === "scale" ? `×${choice}` : String(choice), String(choice));
      option.dataset.label = option.textContent;
      option.selected = choice === spec.default;
      input.append(option);
    }
  } else if (spec.type === "bool") {
    input = document.createElement("input");
    input.type = "checkbox";
    input.checked = Boolean(spec.default);
    input.value = "true";
    wrapper.classList.add("option-check");
  } else if (spec.type === "text") {
    input = document.createElement("textarea");
    input.rows = 2;
    input.maxLength = spec.maxLength ?? 500;
    input.value = spec.default ?? "";
  } else {
    input = document.createElement("input");
    input.type = "number";
    if (spec.min !== undefined) input.min = String(spec.min);
    if (spec.max !== undefined) input.max = String(spec.max);
    input.step = spec.type === "int" ? "1" : "0.05";
    input.value = String(spec.default ?? spec.min ?? 0);
  }
  input.id = id;
  input.name = name;
  const reason = document.createElement("p");
  reason.className = "hint reason";
  reason.id = `${id}-reason`;
  input.setAttribute("aria-describedby", reason.id);
  if (spec.type === "bool") wrapper.append(input, label, reason);
  else wrapper.append(label, input, reason);
  return wrapper;
}

export function renderOptions(container, model) {
  container.replaceChildren(...Object.entries(model?.options ?? {}).map(([name, spec]) => control(name, spec)));
}

// Disables what the plan does not allow and says why; a choice the plan lost falls back to one it allows.
export function applyGating(container, entitlements, gated) {
  for (const wrapper of container.querySelectorAll(".option")) {
    const name = wrapper.dataset.option;
    const input = wrapper.querySelector("select, input, textarea");
    const reason = wrapper.querySelector(".reason");
    const reasons = [];
    if (input.tagName === "SELECT") {
      for (const option of input.options) {
        const why = reasonFor(name, option.value, entitlements, gated);
        option.disabled = Boolean(why);
        option.textContent = `${option.dataset.label}${why ? " (needs a higher plan)" : ""}`;
        if (why) reasons.push(why);
      }
      if (input.selectedOptions[0]?.disabled) {
        const allowed = Array.from(input.options).find((o) => !o.disabled);
        if (allowed) input.value = allowed.value;
      }
    } else if (input.type === "checkbox") {
      const why = reasonFor(name, "true", entitlements, gated);
      input.disabled = Boolean(why);
      if (why) { input.checked = false; reasons.push(why); }
    }
    reason.textContent = reasons[0] ?? "";
  }
}

// The chosen options as form fields (strings), leaving out what is disabled or unchecked.
export function chosenOptions(container) {
  const fields = {};
  for (const input of container.querySelectorAll("select, input, textarea")) {
    if (input.disabled) continue;
    if (input.type === "checkbox") {
      if (input.checked) fields[input.name] = "true";
    } else {
      fields[input.name] = input.value;
    }
  }
  return fields;
}

export function markInvalid(container, field) {
  for (const input of container.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  const input = field && container.querySelector(`[name="${CSS.escape(field)}"]`);
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }
}
